"""The NeuRep tab of the 3D viewport's sidebar, and the Object menu entry (which F3 search finds)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import bpy

from . import hole_list, priors, run, scene_io
from .labels import wrapped_label
from .prefs import draw_dependency_status
from ..core.config import DEFAULT_PRIOR_PATH
from ..jobs import wording
from ..jobs.kinds import Mode


class NEUREP_PT_complete(bpy.types.Panel):
    bl_label = "Complete Scan"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "NeuRep"

    def draw(self, context):
        layout = self.layout
        draw_dependency_status(layout, context)
        draw_selection(layout, context.selected_objects)

        settings = context.scene.neurep_settings
        filling = settings.chosen_mode is Mode.FILL_HOLES
        layout.row().prop(settings, "mode", expand=True)
        column = layout.column(align=True)
        column.use_property_split = True
        column.prop(settings, "preset")
        column.prop(settings, "prior")
        if settings.prior == "FILE":
            column.prop(settings, "prior_path", text="File")
        elif settings.prior == "DEFAULT" and not DEFAULT_PRIOR_PATH.is_file():
            column.label(text="This build has no default prior: choose None", icon="ERROR")
        elif settings.prior == "":
            column.label(text="The chosen prior was removed: choose another", icon="ERROR")
        for name in ("encoding", "steps", "resolution", "device", "seed", "symmetry"):
            column.prop(settings, name)
        if filling:
            for name in ("keep_open", "max_hole_size", "max_hole_percent", "only_selected_holes"):
                column.prop(settings, name)
        else:
            column.prop(settings, "merge_selected")
        column.prop(settings, "mark_invented")
        if settings.mark_invented and not filling:
            column.prop(settings, "invented_spacing")

        if filling:
            draw_found_holes(layout, context, settings)

        live = run.active_completion()
        if live is None:
            count = len(scene_io.summarize_selection(context.selected_objects).objects)
            layout.operator("neurep.complete", text=run_button_text(settings, count),
                            icon="MOD_TRIANGULATE" if filling else "MESH_ICOSPHERE")
            layout.operator("neurep.complete_files", icon="FILE_FOLDER")
            return
        job = context.window_manager.neurep_job
        layout.progress(factor=job.progress, type="BAR", text=job.status.removeprefix("NeuRep: "))
        layout.operator("neurep.cancel", icon="CANCEL")


def run_button_text(settings, count: int) -> str:
    if settings.chosen_mode is Mode.FILL_HOLES:
        return f"Fill Holes in {count} Objects" if count > 1 else "Fill Holes"
    return f"Complete {count} Objects" if count > 1 and not settings.merge_selected else "Complete Scan"


def draw_selection(layout, objects) -> None:
    box = layout.box()
    summary = scene_io.summarize_selection(objects)
    if not summary.objects:
        box.label(text="Select a mesh or point cloud (the scan)", icon="INFO")
    else:
        box.label(text=", ".join(summary.objects), icon="OBJECT_DATA")
        box.label(text=f"{summary.points:,} points, {summary.faces:,} faces")
        box.label(text="Normals: from faces" if summary.has_face_normals else "Normals: none (estimated)")
    if summary.ignored:
        box.label(text=f"Ignored (not mesh/point cloud): {', '.join(summary.ignored)}", icon="INFO")


LISTED_OBJECTS = 3
"""Selected meshes whose holes the panel lists before a run (the others are counted)."""


def draw_found_holes(layout, context, settings) -> None:
    """Before a run: each selected mesh's holes, their sizes and what Fill Holes will do with each."""
    meshes = sorted((ob for ob in context.selected_objects if ob.type == "MESH"), key=lambda ob: ob.name)
    if not meshes:
        return
    box = layout.box()
    depsgraph = context.evaluated_depsgraph_get()
    for ob in meshes[:LISTED_OBJECTS]:
        if not hole_list.listable(ob):
            box.label(text=f"{ob.name}: holes are listed in Object Mode", icon="INFO")
            continue
        holes = hole_list.holes_of(ob, depsgraph, settings,
                                   read=len(ob.data.polygons) <= hole_list.AUTO_LIST_FACES)
        if holes is None:
            box.operator("neurep.list_holes", text=f"List the Holes of {ob.name}", icon="VIEWZOOM")
            continue
        box.label(text=found_line(ob.name, holes), icon="MOD_TRIANGULATE" if holes else "CHECKMARK")
        column = box.column(align=True)
        for line in wording.hole_lines(holes, planned=True):
            column.label(text=line)
    if len(meshes) > LISTED_OBJECTS:
        box.label(text=f"and {len(meshes) - LISTED_OBJECTS} more meshes")


def found_line(name: str, holes: list[dict]) -> str:
    if not holes:
        return f"{name}: no holes (closed)"
    staying = sum(bool(hole["reason"]) for hole in holes)
    return f"{name}: {len(holes)} hole(s), {len(holes) - staying} to fill, {staying} staying open"


class NEUREP_PT_train_prior(bpy.types.Panel):
    """A prior learned from a collection of complete models of one kind; it joins the Prior menu."""

    bl_label = "Train Prior"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "NeuRep"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.neurep_training
        state = context.window_manager.neurep_training_job
        column = layout.column(align=True)
        column.use_property_split = True
        column.prop(settings, "collection")
        collection = settings.chosen_collection(context)
        if settings.collection is None and collection is not None:
            column.label(text=f"Active collection: {collection.name}", icon="OUTLINER_COLLECTION")
        column.prop(settings, "prior_name", placeholder=collection.name if collection is not None else "")
        column.prop(settings, "minutes")
        if priors.active_training() is not None:
            layout.progress(factor=state.progress, type="BAR", text=state.status)
            layout.operator("neurep.cancel_training", icon="CANCEL")
            return
        layout.operator("neurep.train_prior", icon="OUTLINER_OB_LIGHTPROBE")
        if state.status:
            wrapped_label(layout, state.status, context, icon="INFO")


class NEUREP_PT_last_result(bpy.types.Panel):
    bl_label = "Last Result"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "NeuRep"
    bl_parent_id = "NEUREP_PT_complete"

    @classmethod
    def poll(cls, context):
        return bool(context.window_manager.neurep_job.last_result)

    def draw(self, context):
        shown = last_result(context.window_manager.neurep_job.last_result)
        for lines in shown.summaries:
            column = self.layout.column(align=True)
            for text, icon in lines:
                column.label(text=text, icon=icon)
        for failure in shown.failures:
            wrapped_label(self.layout, failure, context, icon="ERROR")
        for line in NO_REDO:
            self.layout.label(text=line, icon="INFO" if line is NO_REDO[0] else "NONE")


NO_REDO = ("No Adjust Last Operation (F9) for a fit:", "a redo would re-run it and block Blender until it ends;",
           "change the settings above and run again (Ctrl+Z removes this result)")
"""Why the redo panel is not offered (``operators``), said where an artist looks for it after a run."""


@dataclass(frozen=True)
class ShownResult:
    """The last result as the panel draws it: each result's lines (text, icon), then the failures."""

    summaries: tuple[tuple[tuple[str, str], ...], ...]
    failures: tuple[str, ...]


_shown: tuple[str, ShownResult] = ("", ShownResult((), ()))
"""The last result's JSON (``NEUREP_PG_job.last_result``) and what it reads as, so that a redraw of the panel
decodes and words nothing."""


def last_result(recorded: str) -> ShownResult:
    """The panel's reading of ``recorded`` (a result's JSON), worded once per new result."""
    global _shown
    if recorded != _shown[0]:
        last = json.loads(recorded)
        _shown = recorded, ShownResult(tuple(summary_lines(summary) for summary in last["results"]),
                                       tuple(last["failures"]))
    return _shown[1]


def summary_lines(summary: dict) -> tuple[tuple[str, str], ...]:
    """One result's lines in the panel (text, icon), from its figures."""
    lines = [(summary["object"] or summary["output"], "MESH_DATA")]
    lines += [(text, "NONE") for text in (wording.size(summary), wording.closure(summary),
                                          wording.observed(summary), wording.fit(summary), wording.phases(summary))]
    plane = wording.PlaneUsed.of(summary)
    if plane is not None:
        lines.append((wording.symmetry(plane).capitalize(), "MOD_MIRROR"))
    if "holes_closed" in summary:
        lines.append((wording.holes(summary).capitalize(), "MOD_TRIANGULATE"))
        lines += [(line.capitalize(), "NONE") for line in wording.hole_lines(summary.get("holes", ()))]
    if "invented_faces" in summary:
        lines.append((f"{wording.invented(summary['invented_faces'])} (material 'NeuRep: invented')", "NONE"))
    return tuple(lines) + tuple((note, "INFO") for note in summary["notes"])


def draw_object_menu_entry(self, context):
    self.layout.separator()
    self.layout.operator("neurep.complete", text="Complete Scan (NeuRep)")
    self.layout.operator("neurep.complete_files", text="Complete Files (NeuRep)…")


def register_menus() -> None:
    bpy.types.VIEW3D_MT_object.append(draw_object_menu_entry)


def unregister_menus() -> None:
    bpy.types.VIEW3D_MT_object.remove(draw_object_menu_entry)


CLASSES = (NEUREP_PT_complete, NEUREP_PT_last_result, NEUREP_PT_train_prior)

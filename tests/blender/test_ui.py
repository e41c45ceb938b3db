"""Panels cannot be drawn headless (no window region), so their ``draw`` runs against a recording layout
that checks every property and operator it is given against Blender's real RNA and operator registry."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import bpy
import pytest

from .conftest import PACKAGE, addon_module, holed_sphere, select_only


class RecordingLayout:
    """Stands in for ``bpy.types.UILayout``: records labels, validates ``prop`` and ``operator`` targets."""

    def __init__(self, log):
        self.log = log
        self.alert = self.enabled = self.use_property_split = False

    def _child(self, *args, **kwargs):
        return RecordingLayout(self.log)

    box = row = column = _child

    def label(self, text="", icon="NONE"):
        self.log.append(("label", text))
        if icon != "NONE":
            self.log.append(("icon", icon))  # the label's icon, right after it

    def separator(self):
        pass

    def prop(self, data, name, text=None, expand=False, placeholder=""):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def operator(self, idname, text=None, icon="NONE"):
        module, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, module), name), idname
        self.log.append(("operator", idname))
        return SimpleNamespace()  # the caller may set operator properties on it

    def progress(self, factor=0.0, type="BAR", text=""):
        self.log.append(("progress", text))


def draw(panel_class, context, **attributes):
    """The (kind, text) records of ``panel_class.draw`` run with a recording layout."""
    log = []
    panel_class.draw(SimpleNamespace(layout=RecordingLayout(log), **attributes), context)
    return log


@pytest.mark.usefixtures("scene")
def test_main_panel_shows_selection_settings_and_complete():
    select_only(holed_sphere())
    log = draw(bpy.types.NEUREP_PT_complete, bpy.context)
    labels = [text for kind, text in log if kind == "label"]
    assert "Scan" in labels and any("faces" in text for text in labels) and "Normals: from faces" in labels
    assert {("prop", name) for name in ("preset", "prior", "encoding", "steps", "resolution", "device")} <= set(log)
    assert ("operator", "neurep.complete") in log and ("operator", "neurep.complete_files") in log
    assert ("prop", "merge_selected") in log and ("prop", "mark_invented") in log


@pytest.mark.usefixtures("scene")
def test_last_result_panel_formats_the_summary():
    bpy.context.window_manager.neurep_job.last_result = json.dumps({"results": [{
        "object": "Scan_completed", "vertices": 1000, "faces": 1996, "components": 1, "watertight": True,
        "points": 5000, "normals": "given", "steps": 80, "device": "cpu", "final_loss": 0.5,
        "seconds": {"prepare": 0.1, "fit": 10.0, "extract": 1.0}, "notes": ["a note"], "invented_faces": 12}],
        "failures": ["Other: too few points"]})
    assert bpy.types.NEUREP_PT_last_result.poll(bpy.context)
    labels = [text for kind, text in draw(bpy.types.NEUREP_PT_last_result, bpy.context) if kind == "label"]
    assert "Scan_completed" in labels and "1 part(s), closed" in labels and "a note" in labels
    assert "Other: too few points" in labels and any("12 invented faces" in text for text in labels)
    assert labels[-3:] == list(addon_module("blender.ui").NO_REDO)  # why there is no F9, said in the panel


@pytest.mark.usefixtures("scene")
def test_the_last_result_is_read_once_with_its_mirror_plane(addon):
    ui = addon_module("blender.ui")
    summary = {"object": "Scan_completed", "vertices": 10, "faces": 16, "components": 1, "watertight": True,
               "points": 500, "normals": "given", "steps": 3, "device": "cpu", "final_loss": None,
               "seconds": {"fit": 1.0}, "notes": [],
               "symmetry": {"normal": [0.0, 0.0, 1.0], "offset": 1.5, "confidence": 0.95, "more_planes": []}}
    job = bpy.context.window_manager.neurep_job
    job.last_result = json.dumps({"results": [summary], "failures": []})
    shown = ui.last_result(job.last_result)
    assert ui.last_result(job.last_result) is shown  # a redraw decodes nothing
    assert ("Mirror plane normal (0.00, 0.00, 1.00), offset 1.5, confidence 0.95", "MOD_MIRROR") in shown.summaries[0]
    labels = [text for kind, text in draw(bpy.types.NEUREP_PT_last_result, bpy.context) if kind == "label"]
    assert labels == [text for text, _ in shown.summaries[0]] + list(ui.NO_REDO)
    job.last_result = json.dumps({"results": [], "failures": ["Other: too few points"]})
    assert ui.last_result(job.last_result) == ui.ShownResult((), ("Other: too few points",))


def test_preferences_draw(addon):
    preferences = bpy.context.preferences.addons[PACKAGE].preferences
    log = draw(type(preferences), bpy.context, bl_rna=preferences.bl_rna)
    assert ("prop", "device") in log
    assert any(text.startswith("PyTorch:") for kind, text in log if kind == "label")


def test_while_running_the_panel_shows_progress_and_cancel_and_complete_is_blocked(addon, scene):
    from .test_live import make_request, run_ticks

    scan = holed_sphere()
    select_only(scan)
    live = addon.run.CompletionRun(make_request(addon, scan, steps=5000)).start()
    try:
        while bpy.context.window_manager.neurep_job.progress == 0.0:
            live.tick(bpy.context.window_manager)
            time.sleep(0.05)
        log = draw(bpy.types.NEUREP_PT_complete, bpy.context)
        assert ("operator", "neurep.cancel") in log and ("operator", "neurep.complete") not in log
        assert any(kind == "progress" and text.startswith("Scan: step ") for kind, text in log)
        assert not bpy.ops.neurep.complete.poll() and bpy.ops.neurep.cancel.poll()
        assert bpy.ops.neurep.cancel() == {"FINISHED"}
    finally:
        live.cancel()
        assert run_ticks(live) == "CANCELLED"
    assert bpy.ops.neurep.complete.poll()


@pytest.mark.usefixtures("scene")
def test_in_fill_holes_mode_the_panel_lists_the_holes_before_the_run():
    ob = holed_sphere()
    select_only(ob)
    settings = bpy.context.scene.neurep_settings
    settings.mode = "FILL_HOLES"
    labels = [text for kind, text in draw(bpy.types.NEUREP_PT_complete, bpy.context) if kind == "label"]
    assert "Scan: 1 hole(s), 0 to fill, 1 staying open" in labels
    assert any(text.startswith("hole 1 of 1: 32 edges,") and text.endswith("stays open: the largest opening")
               for text in labels)
    settings.keep_open = "NONE"  # a setting changed: listed again, without reading the mesh anew
    labels = [text for kind, text in draw(bpy.types.NEUREP_PT_complete, bpy.context) if kind == "label"]
    assert "Scan: 1 hole(s), 1 to fill, 0 staying open" in labels
    assert any(text.startswith("hole 1 of 1: 32 edges,") and text.endswith(": to fill") for text in labels)
    for name in ("keep_open", "max_hole_size", "max_hole_percent", "only_selected_holes"):
        assert ("prop", name) in draw(bpy.types.NEUREP_PT_complete, bpy.context)


@pytest.mark.usefixtures("scene")
def test_a_large_mesh_is_listed_only_when_asked(monkeypatch):
    ob = holed_sphere()
    select_only(ob)
    bpy.context.scene.neurep_settings.mode = "FILL_HOLES"
    monkeypatch.setattr(addon_module("blender.hole_list"), "AUTO_LIST_FACES", len(ob.data.polygons) - 1)
    addon_module("blender.hole_list").forget()
    log = draw(bpy.types.NEUREP_PT_complete, bpy.context)
    assert ("operator", "neurep.list_holes") in log and not any(text.startswith("hole 1") for _, text in log)
    assert bpy.ops.neurep.list_holes() == {"FINISHED"}
    log = draw(bpy.types.NEUREP_PT_complete, bpy.context)
    assert ("operator", "neurep.list_holes") not in log and any(text.startswith("hole 1 of 1") for _, text in log)


def neurep_types():
    """Every registered NeuRep operator's, panel's and property group's RNA."""
    for name in dir(bpy.types):
        if name.startswith(("NEUREP_", "NeuRep")):
            yield getattr(bpy.types, name).bl_rna
    yield bpy.context.preferences.addons[PACKAGE].preferences.bl_rna


@pytest.mark.usefixtures("scene")
def test_tooltips_are_one_line_and_name_relu_as_ReLU():
    rnas = list(neurep_types())
    assert any(rna.identifier == "NEUREP_OT_complete" for rna in rnas)
    for rna in rnas:
        assert "\n" not in rna.description, rna.identifier
        for prop in rna.properties:
            assert "\n" not in prop.description, f"{rna.identifier}.{prop.identifier}"
            for item in getattr(prop, "enum_items", ()):
                assert "\n" not in item.description, f"{rna.identifier}.{prop.identifier}.{item.identifier}"
    operator = bpy.ops.neurep.complete.get_rna_type()
    assert operator.description.startswith("Complete each selected scan into a closed mesh, or (Fill Holes)")
    encodings = {item.identifier: item.name for item in operator.properties["encoding"].enum_items}
    assert encodings["relu"] == "ReLU" and encodings["siren"] == "SIREN"


@pytest.mark.usefixtures("scene")
def test_an_ignored_camera_is_noted_with_an_info_icon_not_an_error():
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(camera)
    select_only(holed_sphere(), camera)
    log = draw(bpy.types.NEUREP_PT_complete, bpy.context)
    at = next(i for i, (kind, text) in enumerate(log) if kind == "label" and text.startswith("Ignored"))
    assert "Camera" in log[at][1] and log[at + 1] == ("icon", "INFO")


@pytest.mark.usefixtures("scene")
def test_a_long_message_is_wrapped_into_labels_that_fit(monkeypatch):
    """The missing-packages message (well over one line) as several labels, none wider than the line."""
    dependencies, labels = addon_module("setup.dependencies"), addon_module("blender.labels")
    monkeypatch.setitem(dependencies.MODULE_REQUIREMENTS, "neurep_not_a_module", "neurep-not-a-module==1.0")
    message = dependencies.missing_message(dependencies.missing_modules())
    assert len(message) > 2 * addon_module("blender.labels").FALLBACK_WIDTH
    log = draw(bpy.types.NEUREP_PT_complete, bpy.context)
    texts = [text for kind, text in log if kind == "label"]
    first = next(i for i, text in enumerate(texts) if text.startswith("neurep-not-a-module not installed"))
    lines = next(texts[first:end] for end in range(first + 1, len(texts) + 1)
                 if len(" ".join(texts[first:end])) >= len(message))
    assert " ".join(lines) == message and len(lines) >= 3
    assert all(len(line) <= labels.FALLBACK_WIDTH for line in lines)  # headless: no region, the fallback width
    assert labels.line_width(SimpleNamespace(region=SimpleNamespace(width=600),
                                             preferences=bpy.context.preferences)) > labels.FALLBACK_WIDTH

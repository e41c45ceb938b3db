"""Putting finished results into the scene: a completion as ``<source>_completed``, a hole filling as
``<source>_filled`` (a file's result is already written), and the summary of each for the panel.

Every result of a run is placed in the step that ends it, so the whole run is one undo step, and a
cancelled run leaves the scene as it was.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from ..core.errors import InputError, NeuRepError
from ..jobs.kinds import Mode
from ..jobs.naming import result_name
from ..jobs.wording import user_message
from . import scene_io
from .requests import FileRequest, FillRequest, FitRequest


def place(request, result) -> tuple:
    """Place one finished request's result; returns what was placed (an object, or a file's path) and its
    summary. Raises ``InputError`` when it cannot be placed (its source changed during the fit)."""
    return PLACERS[type(request)](request, result)


def _place_completion(request: FitRequest, completion) -> tuple:
    result, warnings = place_result(request, completion)
    return result, {**result_summary(result, completion), "warnings": warnings}


def _place_filling(request: FillRequest, filling) -> tuple:
    result = place_filled(request, filling)
    return result, fill_summary(result, filling)


def _place_file(request: FileRequest, completion) -> tuple:
    return request.destination, {**completion.stats.to_dict(), "object": None, "input": request.path,
                                 "output": request.destination, "notes": list(completion.notes)}


PLACERS = {FitRequest: _place_completion, FillRequest: _place_filling, FileRequest: _place_file}


def place_all(done: list, view_layer=None, failures: list | None = None) -> list[dict]:
    """Place every finished request's result (one undo step when called from a finishing operator); one that
    cannot be placed (its source changed during the fit) is named in ``failures``."""
    summaries, placed_objects = [], []
    for request, completion in done:
        try:
            placed, summary = place(request, completion)
        except NeuRepError as exc:
            if failures is None:
                raise
            failures.append(f"{request.label}: {user_message(exc)}")
            continue
        summaries.append(summary)
        if isinstance(placed, bpy.types.Object):
            placed_objects.append(placed)
    if view_layer is not None and placed_objects:
        select_only(view_layer, placed_objects)
    return summaries


def select_only(view_layer, objects: list) -> None:
    """Select ``objects`` alone and make the last one active. The selection may still list an object
    deleted during the fit (as None) until the view layer is next synced: it is skipped."""
    for ob in view_layer.objects.selected:
        if ob is not None:
            ob.select_set(False, view_layer=view_layer)
    for ob in objects:
        ob.select_set(True, view_layer=view_layer)
    view_layer.objects.active = objects[-1]


def output_collection(request: FitRequest):
    """The source's collection, or its scene's if the source was deleted during the fit."""
    scene = bpy.data.scenes.get(request.scene_name) or bpy.context.scene
    source = scene_io.find_object(request.source_uid, request.source_name)
    return scene_io.target_collection(source, scene) if source is not None else scene.collection


def source_changes(request: FitRequest) -> list[str]:
    """What happened to the request's objects since it was made: deleted, renamed, moved or edited.
    The result always completes them as they were when the fit started."""
    changes = []
    for uid, name, fingerprint in request.sources:
        ob = scene_io.find_object(uid, name)
        if ob is None:
            changes.append(f"'{name}' was deleted during the fit")
            continue
        if ob.name != name:
            changes.append(f"'{name}' was renamed '{ob.name}' during the fit")
        if scene_io.source_fingerprint(ob) != fingerprint:
            changes.append(f"'{ob.name}' was moved or edited during the fit")
    if changes:
        changes.append("the result completes the scan as it was when the fit started")
    return ["; ".join(changes)] if changes else []


def place_result(request: FitRequest, completion) -> tuple:
    """The completed mesh as ``<source>_completed``: the source's transform, parent, collection and materials, plus
    the invented slot. Returns the object and what happened to the sources during the fit (``source_changes``
    and where the result went), to be said with it."""
    threshold = None
    if request.invented_factor is not None:
        threshold = scene_io.invented_threshold(request.observation.points, request.config.resolution,
                                                request.invented_factor)
    materials = [bpy.data.materials.get(name) if name else None for name in request.material_names]
    source = scene_io.find_object(request.source_uid, request.source_name)
    warnings = source_changes(request)
    if source is None:
        warnings.append(f"the result is in the scene's main collection, as '{request.source_name}' is gone")
    name = source.name if source is not None else request.source_name
    surface = None  # UVs and colours come from the one source, unchanged since the fit started
    if source is not None and len(request.sources) == 1 and not warnings:
        surface = scene_io.source_surface(source, bpy.context.evaluated_depsgraph_get())
    result = scene_io.create_result_object(result_name(name), output_collection(request),
                                           completion.vertices, completion.faces, completion.distance,
                                           matrix_world=request.matrix_world, materials=materials,
                                           invented_threshold=threshold, surface=surface)
    if source is not None:
        scene_io.parent_like(result, source)
    return result, warnings


def place_filled(request: FillRequest, filling):
    """The filled mesh as ``<source>_filled``: a copy of the source's mesh (its own vertices, faces and
    attributes first, unchanged) with the patches appended as triangles in the "NeuRep: invented" slot;
    the source's transform, parent and collection. Raises ``InputError`` when the source changed during the fit."""
    source = scene_io.find_object(request.source_uid, request.source_name)
    if source is None or source.type != "MESH":
        raise InputError(f"'{request.source_name}' was deleted during the fit; its holes were not filled")
    depsgraph = bpy.context.evaluated_depsgraph_get()
    name = result_name(source.name, Mode.FILL_HOLES)
    mesh = scene_io.copy_source_mesh(source, depsgraph, name)
    kept = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", kept)
    if len(mesh.vertices) != len(request.vertices) or \
            not np.array_equal(kept.reshape(-1, 3).astype(np.float64), request.vertices):
        bpy.data.meshes.remove(mesh)
        raise InputError(f"'{source.name}' was edited during the fit; fill its holes again")
    count = len(request.vertices)
    added = scene_io.append_triangles(mesh, filling.vertices[count:], filling.faces[filling.input_faces:])
    if request.mark_invented and added.any():
        scene_io.mark_invented(mesh, added)
    result = bpy.data.objects.new(name, mesh)
    result.matrix_basis = Matrix(request.matrix_world.tolist())  # no parent: the basis is the world transform
    output_collection(request).objects.link(result)
    scene_io.parent_like(result, source)
    return result


def fill_summary(result_object, filling) -> dict:
    """The hole filling's figures (core stats with holes closed, left open and added area), each hole
    (``Hole.to_dict``: its size and what became of it), notes and the object's name."""
    return {**filling.stats.to_dict(), "mode": Mode.FILL_HOLES.value, "object": result_object.name,
            "holes": [hole.to_dict() for hole in filling.holes],
            "invented_faces": int(filling.stats.added_faces), "notes": list(filling.notes)}


def result_summary(result_object, completion) -> dict:
    """The figures shown in the panel and returned by the batch mode: core stats, notes, object name."""
    summary = {**completion.stats.to_dict(), "object": result_object.name, "notes": list(completion.notes)}
    if scene_io.INVENTED_ATTRIBUTE in result_object.data.attributes:
        flags = np.zeros(len(result_object.data.polygons), dtype=bool)
        result_object.data.attributes[scene_io.INVENTED_ATTRIBUTE].data.foreach_get("value", flags)
        summary["invented_faces"] = int(flags.sum())
    return summary

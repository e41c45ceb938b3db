"""The holes Fill Holes will find, listed in the panel before a run.

Read from each mesh's edges with numpy (``scene_io.hole_boundary``: no triangulation, no torch, no fit) and
sorted by ``core.holes.find_holes`` with the panel's settings, the same decision the run makes; a patch that
fails its checks is the only thing the list cannot foresee. Kept until any geometry changes.
"""

from __future__ import annotations

import numpy as np
from bpy.app.handlers import persistent

from ..core.errors import NeuRepError
from ..core.holes import find_holes
from . import scene_io

AUTO_LIST_FACES = 200_000
"""Meshes up to this many faces are listed as the panel draws; larger ones when asked (List Holes): reading a
667,000-face mesh's edges took 0.5-1.0 s here (2 busy cores), a pause the panel must not make on its own."""
CACHE_LIMIT = 64
"""Lists kept at most (objects x settings tried) before the oldest are forgotten."""

_found: dict[tuple, list[dict]] = {}
"""(object's session id, the settings that decide) -> its holes (``Hole.to_dict``), largest first."""


def listable(ob) -> bool:
    """Whether the panel lists ``ob``'s holes: a mesh in Object Mode (Edit Mode edits reach the mesh only when
    it is left)."""
    return ob.type == "MESH" and ob.mode != "EDIT"


def holes_of(ob, depsgraph, settings, read: bool = True) -> list[dict] | None:
    """The holes of the mesh object ``ob`` as the run would sort them with ``settings`` (the panel's), with
    ``reason`` set on those that stay open; None when ``ob`` is not ``listable``, or when the list would need
    a new read of the mesh and ``read`` is False."""
    if not listable(ob):
        return None
    key = (ob.session_uid, settings.keep_open, settings.max_hole_size, settings.max_hole_percent,
           settings.only_selected_holes)
    if key not in _found:
        if not read:
            return None
        while len(_found) >= CACHE_LIMIT:
            del _found[next(iter(_found))]
        _found[key] = _find(ob, depsgraph, settings)
    return _found[key]


def _find(ob, depsgraph, settings) -> list[dict]:
    mesh = ob.evaluated_get(depsgraph).data if scene_io.uses_evaluated_mesh(ob) else ob.data
    if len(mesh.polygons) == 0:
        return []
    vertices = scene_io.read_array(mesh.vertices, "co", len(mesh.vertices), np.float32, 3).astype(np.float64)
    selected = None
    if settings.only_selected_holes:
        selected = np.flatnonzero(scene_io.read_array(mesh.vertices, "select", len(mesh.vertices), bool))
    try:
        holes = find_holes(vertices, scene_io.hole_boundary(mesh), settings.keep_open.lower(),
                           settings.max_hole_size or None,
                           settings.max_hole_percent if settings.max_hole_percent < 100 else None, selected)
    except NeuRepError:
        return []
    return sorted((hole.to_dict() for hole in holes), key=lambda hole: -hole["size"])


def forget() -> None:
    _found.clear()


@persistent
def forget_on_geometry_change(_scene, depsgraph) -> None:
    """Any geometry edited, added or removed: the lists are found again when next drawn."""
    if _found and any(update.is_updated_geometry for update in depsgraph.updates):
        forget()


@persistent
def forget_on_load(*_args) -> None:
    forget()


HANDLERS = {"depsgraph_update_post": forget_on_geometry_change, "load_post": forget_on_load}

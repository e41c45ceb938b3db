"""Complete objects inside a .blend file without the UI (``scripts/complete.py --blend``).

Runs under the ``bpy`` module or ``blender -b``; importable as ``neurep_addon.blender.batch`` as well as
from the installed extension. The fit is ``core.completion.complete`` on the same worker as the operator's.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from ..core.errors import InputError
from . import placing, requests, run


def open_objects(blend_path: str | os.PathLike, object_names: list[str]) -> list:
    """Open ``blend_path`` and return its objects ``object_names``, before any work; ``InputError`` for an
    unreadable file or an unknown name (the file's objects are listed)."""
    blend_path = Path(blend_path)
    if not blend_path.is_file():
        raise InputError(f"{blend_path}: no such .blend file")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(blend_path), load_ui=False)
    except RuntimeError as exc:
        raise InputError(f"{blend_path}: cannot be opened as a .blend file ({exc})") from exc
    missing = [name for name in object_names if name not in bpy.data.objects]
    if missing:
        available = ", ".join(sorted(ob.name for ob in bpy.data.objects)) or "none"
        raise InputError(f"{blend_path}: no object named {', '.join(map(repr, missing))} "
                         f"(objects in the file: {available})")
    return [bpy.data.objects[name] for name in object_names]


def complete_objects(objects: list, save_path: str | os.PathLike, config, prior=None, device: str = "auto",
                     seed: int = 0, progress=None) -> dict:
    """Complete ``objects`` of the open file (merged into one observation), add the result next to the
    first, save as ``save_path``; returns the core's stats plus ``object`` (the new name)."""
    scene = objects[0].users_scene[0] if objects[0].users_scene else bpy.context.scene
    request = requests.make_request(objects, objects[0], scene, bpy.context.evaluated_depsgraph_get(),
                                    config, prior, device, seed)
    completion = run.run_blocking(request, progress)
    result, _ = placing.place_result(request, completion)
    bpy.ops.wm.save_as_mainfile(filepath=str(save_path))
    return placing.result_summary(result, completion)


def complete_objects_in_blend(blend_path: str | os.PathLike, object_names: list[str],
                              save_path: str | os.PathLike, config, prior=None, device: str = "auto",
                              seed: int = 0, progress=None) -> dict:
    """``open_objects`` then ``complete_objects``. Raises ``InputError`` for an unreadable file, unknown
    object names, a missing output folder or unusable geometry."""
    if not Path(save_path).parent.is_dir():
        raise InputError(f"{Path(save_path).parent}: output folder does not exist")
    return complete_objects(open_objects(blend_path, object_names), save_path, config, prior, device, seed,
                            progress)

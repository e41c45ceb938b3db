"""Pictures for docs/first_completion.md, rendered headlessly with the bpy module (Cycles on the CPU).

    python scripts/render_first_completion.py [--preset fast] [--out docs/img]

Installs the extension into a temporary Blender user directory (as ``scripts/demo.py`` does), imports
``assets/demo_scan.ply`` with Blender's PLY importer, presses Complete with the panel's defaults (invented
region marked), and writes ``first_completion.png``: the scan's points | the result as it arrives (its
invented faces in the "NeuRep: invented" material) | the result with the invented faces deleted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from demo import ROOT, material, points_for_render, render, save_side_by_side, scene_with_demo_scan, stage

OUTPUT_NAME = "first_completion.png"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", choices=["fast", "default", "quality"])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"), help="output folder (default: docs/img/)")
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    return parser.parse_args(argv)


def without_invented_faces(result):
    """A copy of ``result`` with the faces flagged ``neurep_invented`` deleted, as an artist would do."""
    import bmesh
    import bpy

    copy = result.copy()
    copy.data = result.data.copy()
    copy.name = f"{result.name} (invented removed)"
    result.users_collection[0].objects.link(copy)
    work = bmesh.new()
    work.from_mesh(copy.data)
    flags = work.faces.layers.bool.get("neurep_invented")
    bmesh.ops.delete(work, geom=[face for face in work.faces if face[flags]], context="FACES")
    work.to_mesh(copy.data)
    work.free()
    copy.data.update()
    bpy.context.view_layer.update()
    return copy


def face_invented_side(camera, result) -> None:
    """Turn the camera around the result so that it looks at the invented region (the side the scan missed)."""
    import bpy
    from mathutils import Vector

    centre = result.matrix_world @ (sum((Vector(c) for c in result.bound_box), Vector()) / 8)
    direction = Vector()
    for face in result.data.polygons:
        if face.material_index == 1:
            direction += face.normal * face.area
    direction = result.matrix_world.to_3x3() @ direction
    direction.z = max(direction.z, 0.0)
    direction = (direction.normalized() + Vector((0.0, 0.0, 0.35))).normalized()
    camera.location = centre + direction * (camera.location - centre).length
    camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
    light = bpy.data.objects.new("Key light", bpy.data.lights.new("Key light", "SUN"))
    light.data.energy = 3.0
    light.rotation_euler = (centre - (camera.location + Vector((0.0, 0.0, 0.5 * (camera.location - centre).length)))
                            ).to_track_quat("-Z", "Y").to_euler()
    camera.users_collection[0].objects.link(light)


def main() -> int:
    args = parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scene, scan = scene_with_demo_scan("neurep_docs_user_")
    import bpy
    clock = time.perf_counter()
    assert bpy.ops.neurep.complete(preset=args.preset, prior="DEFAULT", device="auto") == {"FINISHED"}
    fit_seconds = time.perf_counter() - clock
    result = bpy.data.objects[f"{scan.name}_completed"]
    result.data.materials[0] = material("Observed surface")  # slot 1 stays "NeuRep: invented" (orange)
    trimmed = without_invented_faces(result)
    points = points_for_render(scan, material("Scan points"))
    stage(scene, result)
    face_invented_side(scene.camera, result)

    shots = []
    for shown in (points, result, trimmed):
        for ob in (points, result, trimmed):
            ob.hide_render = ob is not shown
        shots.append(render(scene, out / "first_completion_part.png"))
    save_side_by_side(shots, out / OUTPUT_NAME)
    invented = sum(1 for face in result.data.polygons if face.material_index == 1)
    print(f"{out / OUTPUT_NAME}: fit {fit_seconds:.1f} s, {len(result.data.polygons):,} faces, "
          f"{invented:,} invented ({result['neurep_invented_threshold']:.4f} units from the scan)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The demo, through Blender: complete the bundled partial scan of the "spot" cow with the add-on's operator.

    python scripts/demo.py [--preset fast] [--out out]        (the bpy module; about a minute on 2 cores)

Builds the extension, installs it into a temporary Blender user directory, imports
``assets/demo_scan.ply`` (points only) with Blender's PLY importer, runs ``bpy.ops.neurep.complete``,
then writes ``out/demo.blend``, ``out/demo_completed.ply`` (Blender's PLY exporter) and
``out/demo_before_after.png`` (Cycles on the CPU: the observed points, then the completed mesh coloured
by ``neurep_distance``: grey where observed, orange where invented).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RENDER_SIZE = (320, 240)
RENDER_SAMPLES = 8


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", choices=["fast", "default", "quality"])
    parser.add_argument("--out", default=str(ROOT / "out"), help="output folder (default: out/)")
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    return parser.parse_args(argv)


def install_extension() -> None:
    """Build the zip and install it with Blender's own installer (a temporary user directory)."""
    import bpy

    from build_extension import build

    archive = build(Path(tempfile.mkdtemp(prefix="neurep_demo_dist_")))
    result = bpy.ops.extensions.package_install_files(filepath=str(archive), repo="user_default",
                                                      enable_on_install=True)
    if result != {"FINISHED"}:
        raise SystemExit("error: the extension could not be installed")


def points_for_render(scan, material):
    """A linked copy of the scan shown as small spheres (Cycles renders no bare vertices); the scan is untouched."""
    import bpy

    tree = bpy.data.node_groups.new("Scan as points", "GeometryNodeTree")
    tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    group_in, group_out = tree.nodes.new("NodeGroupInput"), tree.nodes.new("NodeGroupOutput")
    to_points = tree.nodes.new("GeometryNodeMeshToPoints")
    to_points.inputs["Radius"].default_value = 0.008
    set_material = tree.nodes.new("GeometryNodeSetMaterial")
    set_material.inputs["Material"].default_value = material
    tree.links.new(group_in.outputs[0], to_points.inputs["Mesh"])
    tree.links.new(to_points.outputs["Points"], set_material.inputs["Geometry"])
    tree.links.new(set_material.outputs["Geometry"], group_out.inputs[0])
    points = scan.copy()
    points.name = "demo_scan (points for render)"
    points.modifiers.new("Points", "NODES").node_group = tree
    scan.users_collection[0].objects.link(points)
    return points


def material(name: str, color_attribute: str | None = None):
    """A Principled material: plain light grey, or coloured by ``color_attribute``."""
    import bpy

    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender 4.x; 5.0+ materials always have nodes
        mat.use_nodes = True
    principled = mat.node_tree.nodes["Principled BSDF"]
    principled.inputs["Base Color"].default_value = (0.75, 0.75, 0.78, 1.0)
    if color_attribute:
        attribute = mat.node_tree.nodes.new("ShaderNodeAttribute")
        attribute.attribute_name = color_attribute
        mat.node_tree.links.new(attribute.outputs["Color"], principled.inputs["Base Color"])
    return mat


def stage(scene, target) -> None:
    """Camera looking at ``target`` from the front-left, a sun, a light grey world, small Cycles CPU renders."""
    import bpy
    from mathutils import Vector

    corners = [target.matrix_world @ Vector(c) for c in target.bound_box]
    centre = sum(corners, Vector()) / 8
    size = max((max(c[i] for c in corners) - min(c[i] for c in corners)) for i in range(3))
    camera = bpy.data.objects.new("Demo camera", bpy.data.cameras.new("Demo camera"))
    camera.location = centre + Vector((1.6, -2.2, 1.1)).normalized() * size * 2.2
    camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
    sun = bpy.data.objects.new("Demo sun", bpy.data.lights.new("Demo sun", "SUN"))
    sun.rotation_euler = (0.8, 0.2, 0.6)
    sun.data.energy = 3.0
    for ob in (camera, sun):
        scene.collection.objects.link(ob)
    scene.camera = camera
    if scene.world is None:
        scene.world = bpy.data.worlds.new("Demo world")
    scene.world.color = (0.35, 0.35, 0.38)
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = RENDER_SAMPLES
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = RENDER_SIZE
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False


def render(scene, path: Path):
    """Render the scene's camera to ``path`` and return the pixels, float32 [height, width, 4]."""
    import bpy
    import numpy as np

    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(path))
    pixels = np.empty(image.size[0] * image.size[1] * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    bpy.data.images.remove(image)
    path.unlink()
    return pixels.reshape(RENDER_SIZE[1], RENDER_SIZE[0], 4)


def save_side_by_side(images, path: Path) -> None:
    """Renders [height, width, 4] next to each other, as one PNG."""
    import bpy
    import numpy as np

    combined = np.concatenate(images, axis=1)
    image = bpy.data.images.new("Side by side", combined.shape[1], combined.shape[0], alpha=True)
    image.pixels.foreach_set(combined.ravel())
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)


def scene_with_demo_scan(prefix: str):
    """A temporary Blender user directory with the extension installed, an empty scene, and the demo scan
    imported with Blender's PLY importer; returns (scene, scan object)."""
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix=prefix))
    import bpy  # after BLENDER_USER_RESOURCES: never touches your Blender settings

    install_extension()
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.ply_import(filepath=str(ROOT / "assets" / "demo_scan.ply"), forward_axis="NEGATIVE_Z",
                          up_axis="Y")  # the scan is Y-up, Blender is Z-up
    return bpy.context.scene, bpy.context.active_object


def main() -> int:
    args = parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scene, scan = scene_with_demo_scan("neurep_demo_user_")
    import bpy
    clock = time.perf_counter()
    bpy.ops.neurep.complete(preset=args.preset, prior="DEFAULT", device="auto", mark_invented=False)
    fit_seconds = time.perf_counter() - clock
    summary = json.loads(bpy.context.window_manager.neurep_job.last_result)["results"][0]
    result = bpy.data.objects[summary["object"]]

    bpy.ops.wm.ply_export(filepath=str(out / "demo_completed.ply"), export_selected_objects=True,
                          apply_modifiers=False, export_normals=False, export_uv=False,
                          export_attributes=True, ascii_format=False)

    result.data.materials.append(material("Completed", color_attribute="neurep_distance_color"))
    points = points_for_render(scan, material("Observed"))
    stage(scene, result)
    clock = time.perf_counter()
    result.hide_render = True
    before = render(scene, out / "demo_before.png")
    result.hide_render, points.hide_render = False, True
    after = render(scene, out / "demo_after.png")
    points.hide_render = False
    save_side_by_side([before, after], out / "demo_before_after.png")
    render_seconds = time.perf_counter() - clock
    bpy.context.preferences.filepaths.save_version = 0  # no demo.blend1 backups when run again
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"))

    print(f"scan: {len(scan.data.vertices):,} points (no normals), prior default, preset {args.preset}")
    print(f"completed '{result.name}': {summary['vertices']:,} vertices, {summary['faces']:,} faces, "
          f"{summary['components']} part(s), {'watertight' if summary['watertight'] else 'NOT watertight'}, "
          f"{summary['steps']} steps on {summary['device']} in {fit_seconds:.1f} s; renders {render_seconds:.1f} s")
    for note in summary["notes"]:
        print(f"  note: {note}")
    for name in ("demo.blend", "demo_completed.ply", "demo_before_after.png"):
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Before/after renders of benchmark cases, headless with bpy (Workbench engine).

    python scripts/render_cases.py CASE.npz OUT.png

CASE.npz holds ``points`` [N, 3] (the input), ``title`` and, per panel in ``PANELS`` (or in its own
``panels`` keys with their ``labels``), ``<key>_vertices`` [V, 3] and ``<key>_faces`` [F, 3] (a missing
panel is drawn as "failed"), and optionally ``view``, the direction [3] to the camera (default ``VIEW``).
All panels share one camera framed on the ground truth, so they can be compared side by side. Written by
``scripts/benchmark.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

PANELS = (("input", "input points"), ("neurep", "NeuRep"), ("poisson", "screened Poisson"),
          ("gt", "ground truth"))
PANEL_PIXELS = 256
VIEW = (1.0, -1.4, 0.9)
MAX_POINTS = 4000
"""Input points drawn (a seeded subset), each as a small octahedron."""


def _octahedra(points: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """One octahedron of half-diagonal ``size`` per point: vertices [6N, 3], faces [8N, 3]."""
    corners = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float) * size
    tris = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    vertices = (points[:, None, :] + corners[None]).reshape(-1, 3)
    faces = (tris[None] + 6 * np.arange(len(points))[:, None, None]).reshape(-1, 3)
    return vertices, faces


def _render_panel(bpy, vertices: np.ndarray, faces: np.ndarray, center: np.ndarray, radius: float,
                  path: Path, view: np.ndarray) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    mesh = bpy.data.meshes.new("shape")
    mesh.from_pydata((vertices - center).tolist(), [], faces.tolist())
    mesh.update()
    scene.collection.objects.link(bpy.data.objects.new("shape", mesh))
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = 2.3 * radius
    direction = np.asarray(view, dtype=np.float64)
    camera.location = (direction / np.linalg.norm(direction) * 4 * radius).tolist()
    camera.rotation_mode = "QUATERNION"
    camera.rotation_quaternion = _look_at(-np.asarray(camera.location))
    camera.data.clip_end = 10 * radius
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "SINGLE"
    scene.display.shading.show_cavity = False
    scene.render.resolution_x = scene.render.resolution_y = PANEL_PIXELS
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def _look_at(forward: np.ndarray) -> tuple[float, float, float, float]:
    """Quaternion (w, x, y, z) turning a camera (looking down -Z, +Y up) to look along ``forward``, Z up."""
    f = forward / np.linalg.norm(forward)
    right = np.cross(f, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, f)
    rotation = np.stack([right, up, -f], axis=1)
    w = np.sqrt(max(0.0, 1 + np.trace(rotation))) / 2
    x = (rotation[2, 1] - rotation[1, 2]) / (4 * w)
    y = (rotation[0, 2] - rotation[2, 0]) / (4 * w)
    z = (rotation[1, 0] - rotation[0, 1]) / (4 * w)
    return (w, x, y, z)


def render_case(case_path: Path, out_path: Path) -> None:
    """Render the panels of one case side by side into ``out_path`` (a PNG)."""
    import bpy
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case = np.load(case_path, allow_pickle=False)
    gt = case["gt_vertices"]
    center = (gt.min(axis=0) + gt.max(axis=0)) / 2
    radius = float(np.linalg.norm(gt - center, axis=1).max())
    points = case["points"]
    points = points[np.random.default_rng(0).permutation(len(points))[:MAX_POINTS]]
    panels = (tuple(zip(case["panels"].tolist(), case["labels"].tolist())) if "panels" in case.files
              else PANELS)
    figure, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.45), dpi=100)
    with tempfile.TemporaryDirectory() as work:
        for axis, (key, label) in zip(axes, panels):
            axis.set_axis_off()
            axis.set_title(label, fontsize=9)
            if key == "input":
                vertices, faces = _octahedra(points, 0.01 * radius)
            elif f"{key}_faces" in case.files:
                vertices, faces = case[f"{key}_vertices"], case[f"{key}_faces"]
            else:
                axis.text(0.5, 0.5, "failed", ha="center", va="center", transform=axis.transAxes)
                continue
            panel = Path(work) / f"{key}.png"
            _render_panel(bpy, vertices, faces, center, radius, panel, case["view"] if "view" in case.files else VIEW)
            axis.imshow(plt.imread(panel))
    figure.suptitle(str(case["title"]), fontsize=9)
    figure.tight_layout()
    figure.savefig(out_path)
    plt.close(figure)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    render_case(Path(sys.argv[1]), Path(sys.argv[2]))

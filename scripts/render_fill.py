"""The holed sphere of the fill-holes issue: fill it, measure the patches, render scan / holes / result.

    python scripts/render_fill.py [OUT.png]      (default docs/img/fill_holes_sphere.png)

A unit icosphere (level 4) loses its top cap (z > 0.72) and a side window; ``fill.fill_holes`` closes them
(preset default, the default prior, given face normals, seed 0). Prints the patches' largest distance from the
true sphere (over 100k samples of the patches) and renders with matplotlib's 3D axes (headless): the scan, its
boundary loops in red, and the result with the invented patches in orange.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection  # noqa: E402

from neurep_addon.core.holes import boundary_loops  # noqa: E402
from neurep_addon.core.fit_settings import settings  # noqa: E402
from neurep_addon.core.fill import fill_holes  # noqa: E402

SCAN, PATCH = (0.75, 0.75, 0.78), (1.0, 0.55, 0.1)
LIGHT = np.array([0.4, -0.6, 0.7]) / np.linalg.norm([0.4, -0.6, 0.7])


def holed_sphere() -> tuple[np.ndarray, np.ndarray]:
    sphere = trimesh.creation.icosphere(subdivisions=4)
    centre = sphere.triangles_center
    remove = (centre[:, 2] > 0.72) | ((centre[:, 0] > 0.8) & (np.abs(centre[:, 2]) < 0.25))
    return np.asarray(sphere.vertices, dtype=np.float64), np.asarray(sphere.faces)[~remove]


def draw(axis, vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray, title: str) -> None:
    """Faces [F, 3] of vertices [V, 3], coloured [F, 3] and shaded by a fixed light, on a 3D axis."""
    corners = vertices[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    shade = 0.35 + 0.65 * np.clip(normals @ LIGHT, 0, 1)
    axis.add_collection3d(Poly3DCollection(corners, facecolors=colours * shade[:, None], edgecolors="none"))
    axis.set_xlim(-1, 1), axis.set_ylim(-1, 1), axis.set_zlim(-1, 1)
    axis.set_box_aspect((1, 1, 1))
    axis.view_init(elev=28, azim=-25)
    axis.set_axis_off()
    axis.set_title(title, fontsize=10)


def main(out: Path) -> None:
    vertices, faces = holed_sphere()
    config, prior = settings("default", "default", keep_open="none")  # both holes, the cap too
    result = fill_holes(vertices, faces, config, prior, device="cpu", seed=0)
    patch = trimesh.Trimesh(result.vertices, result.faces[result.added], process=False)
    samples = trimesh.sample.sample_surface(patch, 100_000, seed=0)[0]
    distance = np.abs(np.linalg.norm(samples, axis=1) - 1)
    print(f"{result.stats.holes_closed} holes closed, {result.stats.holes_left_open} left open, "
          f"patches' max distance from the sphere {distance.max():.4f} (mean {distance.mean():.4f}), "
          f"{result.stats.seconds}")

    figure = plt.figure(figsize=(10, 3.6), dpi=110)
    grey = np.tile(SCAN, (len(faces), 1))
    draw(figure.add_subplot(1, 3, 1, projection="3d"), vertices, faces, grey, "the scan")
    axis = figure.add_subplot(1, 3, 2, projection="3d")
    draw(axis, vertices, faces, grey, "its holes (boundary loops)")
    loops = [vertices[np.append(loop, loop[0])] for loop in boundary_loops(faces)]
    segments = np.concatenate([np.stack([loop[:-1], loop[1:]], axis=1) for loop in loops])
    axis.add_collection3d(Line3DCollection(segments, colors="red", linewidths=2))
    colours = np.where(result.added[:, None], PATCH, SCAN)
    draw(figure.add_subplot(1, 3, 3, projection="3d"), result.vertices, result.faces, colours,
         f"filled: patches in orange (max {distance.max():.3f} off)")
    figure.tight_layout()
    figure.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "fill_holes_sphere.png")

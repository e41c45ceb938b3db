"""Shapes that tasks are made from: meshes of a collection (loaded into the unit box) and procedural shapes.

Procedural shapes are implicit functions (negative inside) meshed by marching cubes. Everything is seeded
through the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation
from skimage.measure import marching_cubes

from ..core.config import BOX_HALF_SIZE
from ..core.errors import InputError

MESH_SUFFIXES = (".obj", ".off", ".ply", ".stl")
PROCEDURAL_RESOLUTION = 64
"""Marching-cubes grid of the procedural shapes (over [-1, 1]^3)."""


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """A mesh file as one triangle mesh with UV-seam duplicates merged; ``InputError`` if unusable."""
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for bad files
        raise InputError(f"{path}: not a readable mesh ({exc})") from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise InputError(f"{path}: contains no triangles")
    loaded.merge_vertices()
    loaded.remove_unreferenced_vertices()
    return _unit_box(loaded)


def _unit_box(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Centre the bounding box at the origin and scale its longest side to 1."""
    mesh = mesh.copy()
    mesh.apply_translation(-mesh.bounding_box.centroid)
    mesh.apply_scale(1.0 / float(mesh.extents.max()))
    return mesh


def mesh_files(folder: str | Path) -> list[Path]:
    """Mesh files of ``folder`` (not recursive), sorted by name; ``InputError`` if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of meshes")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MESH_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no mesh files ({', '.join(MESH_SUFFIXES)})")
    return files


def split_files(files: list[Path], validation_fraction: float, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """A seeded train/validation split of ``files`` (at least one of each when there are two or more)."""
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    order = np.random.default_rng(seed).permutation(len(files))
    count = min(max(1, round(validation_fraction * len(files))), len(files) - 1) if validation_fraction else 0
    validation = sorted(files[i] for i in order[:count])
    return [f for f in files if f not in validation], validation


# --- Procedural shapes -------------------------------------------------------------------------

def _superquadric(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inside-outside function (negative inside) of a random superquadric, at points x [..., 3]."""
    a = rng.uniform(0.35, 0.9, size=3)
    e1, e2 = rng.uniform(0.25, 1.6, size=2)
    q = np.abs(x) / a
    radial = (q[..., 0] ** (2 / e2) + q[..., 1] ** (2 / e2)) ** (e2 / e1) + q[..., 2] ** (2 / e1)
    return radial ** (e1 / 2) - 1.0


def _primitive(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Signed distance of a random sphere, box, cylinder, torus or capsule, randomly placed and rotated."""
    centre = rng.uniform(-0.35, 0.35, size=3)
    p = (x - centre) @ Rotation.random(random_state=rng.integers(2**31)).as_matrix()
    kind = rng.integers(5)
    if kind == 0:
        return np.linalg.norm(p, axis=-1) - rng.uniform(0.2, 0.45)
    if kind == 1:
        q = np.abs(p) - rng.uniform(0.1, 0.4, size=3)
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(axis=-1), 0)
    if kind == 2:
        radial = np.linalg.norm(p[..., :2], axis=-1) - rng.uniform(0.1, 0.3)
        axial = np.abs(p[..., 2]) - rng.uniform(0.15, 0.45)
        q = np.stack([radial, axial], axis=-1)
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(axis=-1), 0)
    if kind == 3:
        major, minor = rng.uniform(0.2, 0.4), rng.uniform(0.05, 0.15)
        return np.linalg.norm(np.stack([np.linalg.norm(p[..., :2], axis=-1) - major, p[..., 2]], -1), axis=-1) - minor
    half, radius = rng.uniform(0.1, 0.35), rng.uniform(0.08, 0.2)
    p = p.copy()
    p[..., 2] -= np.clip(p[..., 2], -half, half)
    return np.linalg.norm(p, axis=-1) - radius


def _csg(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A union of 2-4 primitives, sometimes with one more primitive carved out."""
    value = _primitive(x, rng)
    for _ in range(rng.integers(1, 4)):
        value = np.minimum(value, _primitive(x, rng))
    if rng.random() < 0.4:
        value = np.maximum(value, -_primitive(x, rng))
    return value


def procedural_mesh(rng: np.random.Generator, resolution: int = PROCEDURAL_RESOLUTION) -> trimesh.Trimesh:
    """A random superquadric or primitive CSG shape, as a closed mesh in the unit box."""
    for _ in range(8):
        axis = np.linspace(-BOX_HALF_SIZE, BOX_HALF_SIZE, resolution + 1)
        grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
        values = (_superquadric if rng.random() < 0.4 else _csg)(grid, rng)
        # The shape must be inside the grid (closed) and large enough to be worth scanning.
        if values.min() < 0 and (values[[0, -1]] > 0).all() and (values[:, [0, -1]] > 0).all() \
                and (values[:, :, [0, -1]] > 0).all() and (values < 0).mean() > 0.01:
            vertices, faces, _, _ = marching_cubes(values, 0.0, spacing=(axis[1] - axis[0],) * 3)
            mesh = trimesh.Trimesh(vertices - BOX_HALF_SIZE, faces, process=True)
            mesh = max(mesh.split(only_watertight=False), key=lambda m: m.area)
            if mesh.volume < 0:  # marching cubes' winding depends on the sign convention
                mesh.invert()
            return _unit_box(mesh)
    raise RuntimeError("could not draw a closed procedural shape in 8 attempts")

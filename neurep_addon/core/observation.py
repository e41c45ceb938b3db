"""What the user observed (points, optional normals), its checks, and the map into the network's box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DATA_HALF_EXTENT, MAX_POINTS, MIN_EXTENT_RATIO, MIN_POINTS
from .errors import InputError

MESH_SAMPLES = 100_000
"""Surface samples drawn from a mesh input (area-weighted)."""


@dataclass
class Observation:
    """Observed surface samples.

    points:  float64 [N, 3] positions in the user's units.
    normals: float64 [N, 3] unit outward normals, or ``None`` when the input had none.
    notes:   human-readable remarks made while reading or checking (subsampling, dropped normals, ...).
    """

    points: np.ndarray
    normals: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    @property
    def has_normals(self) -> bool:
        return self.normals is not None

    def __len__(self) -> int:
        return len(self.points)


def sample_surface(mesh, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted surface samples float64 [count, 3] of ``mesh`` (a ``trimesh.Trimesh`` of finite vertices)
    and their face normals [count, 3], drawn on a unit-sized copy so that face areas neither overflow nor
    underflow; ``InputError`` if no face has an area.

    The one surface sampler: mesh inputs (``sample_mesh``), Blender meshes, virtual scans and the metrics
    all use it.
    """
    import trimesh  # not at import time: Blender reads observations before the dependencies are installed

    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    center = (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    scale = float(np.abs(vertices - center).max()) or 1.0
    unit = trimesh.Trimesh((vertices - center) / scale, mesh.faces, process=False)
    if not unit.area_faces.sum() > 0:
        raise InputError(f"all {len(unit.faces):,} faces have zero area; the mesh cannot be sampled")
    points, faces = trimesh.sample.sample_surface(unit, count, seed=seed)
    return (np.asarray(points, dtype=np.float64) * scale + center,
            np.asarray(unit.face_normals, dtype=np.float64)[faces])


def sample_mesh(vertices: np.ndarray, faces: np.ndarray, count: int = MESH_SAMPLES, seed: int = 0) -> Observation:
    """``count`` surface samples of a mesh (vertices float64 [V, 3], faces int [F, 3]) with their face
    normals, noted. Mesh files and Blender's selected meshes are sampled so: ``sample_surface`` with a seed
    drawn from ``seed``."""
    import trimesh

    points, normals = sample_surface(trimesh.Trimesh(vertices, faces, process=False), count,
                                     int(np.random.default_rng(seed).integers(2**31)))
    return Observation(points, normals, (f"sampled {count:,} points from a mesh of {len(faces):,} faces",))


def merge(observations: list[Observation]) -> Observation:
    """One observation from several (e.g. several selected objects); normals only if all have them."""
    if not observations:
        raise InputError("nothing to complete: no input geometry was given")
    points = np.concatenate([o.points for o in observations])
    normals = (np.concatenate([o.normals for o in observations])
               if all(o.has_normals for o in observations) else None)
    notes = tuple(n for o in observations for n in o.notes)
    if normals is None and any(o.has_normals for o in observations):
        notes += ("some inputs had no normals, so normals are estimated for all of them",)
    return Observation(points, normals, notes)


def validate(obs: Observation, rng: np.random.Generator, max_points: int = MAX_POINTS) -> Observation:
    """Check an observation and return a clean copy, or raise ``InputError`` saying what is wrong.

    Rejects non-finite rows, too few points, and point sets that are a single point, a line or a plane
    (no closed surface can be inferred from them). Subsamples inputs above ``max_points`` and says so.
    """
    points = np.asarray(obs.points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"points must be an N x 3 array, got shape {points.shape}")
    normals = None if obs.normals is None else np.asarray(obs.normals, dtype=np.float64)
    if normals is not None and normals.shape != points.shape:
        raise InputError(f"normals have shape {normals.shape} but points have shape {points.shape}")

    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(f"{len(rows)} of {len(points)} points contain NaN or Inf "
                         f"(first at row {rows[0]}); remove those rows and try again")
    if len(points) < MIN_POINTS:
        raise InputError(f"the input has {len(points)} points; at least {MIN_POINTS} are needed")

    notes = list(obs.notes)
    if normals is not None:
        length = np.linalg.norm(normals, axis=1)
        usable = np.isfinite(normals).all(axis=1) & (length > 1e-12)
        if usable.mean() < 0.99:
            notes.append(f"{(~usable).sum()} of {len(points)} normals are zero or invalid, so normals "
                         "are estimated instead")
            normals = None
        else:
            normals = np.where(usable[:, None], normals / np.maximum(length, 1e-12)[:, None], 0.0)

    if len(points) > max_points:
        keep = np.sort(rng.choice(len(points), size=max_points, replace=False))
        notes.append(f"the input has {len(points):,} points; a random subset of {max_points:,} is used")
        points = points[keep]
        normals = None if normals is None else normals[keep]

    _check_spread(points)
    return Observation(points, normals, tuple(notes))


def _check_spread(points: np.ndarray) -> None:
    centred = points - points.mean(axis=0)
    extents = np.linalg.svd(centred[:: max(1, len(points) // 100_000)], compute_uv=False)
    largest = extents[0]
    if largest <= 1e-12 * max(1.0, np.abs(points).max()):
        raise InputError("all points are at the same position; a surface needs points spread in 3D")
    if extents[1] < MIN_EXTENT_RATIO * largest:
        raise InputError("all points lie on a line; a surface needs points spread in 3D")
    if extents[2] < MIN_EXTENT_RATIO * largest:
        raise InputError("all points lie on a plane; a closed surface cannot be inferred from a flat "
                         "patch (scan more than one side of the object)")


@dataclass(frozen=True)
class Normalization:
    """Similarity map between the user's units and the network box: x_box = (x - center) * scale."""

    center: np.ndarray
    scale: float

    @classmethod
    def fit(cls, points: np.ndarray) -> "Normalization":
        """Centre the bounding box and map its longest half side to ``DATA_HALF_EXTENT``."""
        lo, hi = points.min(axis=0), points.max(axis=0)
        half = float((hi - lo).max()) / 2.0
        if not half > 0:
            raise InputError("the input has zero extent; a surface needs points spread in 3D")
        return cls(center=(lo + hi) / 2.0, scale=DATA_HALF_EXTENT / half)

    def to_box(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.center) * self.scale

    def to_world(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64) / self.scale + self.center

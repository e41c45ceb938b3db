"""Baselines of the evaluation suite: screened Poisson surface reconstruction, and retrieval of the
nearest shape of a collection.

Screened Poisson: Kazhdan & Hoppe 2013, "Screened Poisson Surface Reconstruction", through MeshLab's
maintained implementation (``pymeshlab``). Points without normals get the same estimated, oriented normals the
NeuRep fit uses (``normals.in_box``), so both methods start from identical inputs. The
result is not trimmed by density: like NeuRep's output it is the closed indicator-function surface.

Retrieval (``retrieve``): every shape of the collection is fitted to the observed points by a scale and a
translation (no rotation): started by matching bounding boxes, then refined by nearest-neighbour least
squares on the closest pairs; the shape whose fit leaves the smallest mean distance from the observed
points to its surface is returned, as fitted. The baseline a learned shape space must beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from ..core.errors import InputError
from ..core.normals import in_box
from ..core.observation import Observation, sample_surface

POISSON_DEPTH = 8
"""Octree depth (a 256^3 grid at most), comparable to NeuRep's marching-cubes resolution."""
POISSON_POINT_WEIGHT = 4.0
"""Screening weight alpha of the data term (the implementation's default)."""
THREADS = 1
"""MeshLab's OpenMP threads; more than one spins badly on a shared, loaded CPU (10x slower measured)."""


def poisson(observation: Observation, depth: int = POISSON_DEPTH) -> tuple[np.ndarray, np.ndarray]:
    """Screened Poisson surface of ``observation``: vertices float64 [V, 3], faces int64 [F, 3].

    Raises ``InputError`` when pymeshlab is missing or the reconstruction fails or is empty.
    """
    try:
        import pymeshlab
    except ImportError as exc:
        raise InputError("screened Poisson needs pymeshlab (pip install pymeshlab)") from exc
    points = np.asarray(observation.points, dtype=np.float64)
    # Estimated where NeuRep estimates them, in the [-1, 1] box (its neighbourhood and visibility scales are
    # box units); directions do not change with the box's shift and uniform scale.
    normals = in_box(observation)[2]
    meshes = pymeshlab.MeshSet()
    meshes.add_mesh(pymeshlab.Mesh(vertex_matrix=points, v_normals_matrix=np.asarray(normals, dtype=np.float64)))
    try:
        meshes.generate_surface_reconstruction_screened_poisson(
            depth=depth, pointweight=POISSON_POINT_WEIGHT, preclean=True, threads=THREADS)
    except pymeshlab.PyMeshLabException as exc:
        raise InputError(f"screened Poisson failed on {len(points):,} points: {exc}") from exc
    result = meshes.current_mesh()
    vertices, faces = np.asarray(result.vertex_matrix()), np.asarray(result.face_matrix(), dtype=np.int64)
    if len(faces) == 0:
        raise InputError(f"screened Poisson returned an empty surface for {len(points):,} points")
    return vertices, faces


RETRIEVAL_SAMPLES = 20_000
"""Surface samples of each collection shape that the observed points are matched to."""
RETRIEVAL_POINTS = 2000
"""Observed points used by the fit (a seeded subset of a larger scan)."""
RETRIEVAL_ITERATIONS = 15
"""Nearest-neighbour refinements of each shape's scale and translation."""
RETRIEVAL_KEEP = 0.9
"""Share of the closest pairs each refinement fits (the rest: observed parts the shape lacks)."""


@dataclass
class Retrieved:
    """The chosen collection shape (``index``), fitted: x -> scale * x + translation, and its mesh so
    placed (vertices float64 [V, 3], faces int64 [F, 3]); ``distance``: mean distance from the observed
    points to it, in the observation's units; ``distances``: the same for every shape [M]."""

    index: int
    scale: float
    translation: np.ndarray
    distance: float
    distances: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray


def fit_scale_translation(observed: np.ndarray, shape_points: np.ndarray, shape_normals: np.ndarray,
                          spacing: float = 0.0,
                          iterations: int = RETRIEVAL_ITERATIONS) -> tuple[float, np.ndarray, float]:
    """Scale s and translation t [3] placing the shape samples ``shape_points`` [S, 3] (face normals
    ``shape_normals`` [S, 3], about ``spacing`` apart) on ``observed`` [N, 3] (x -> s * x + t), and the mean
    distance from the observed points to the placed shape's surface.

    Starts from the bounding boxes: the largest ratio of sides (a partial scan is short along what it did
    not see), the box centres, and along the side shortest against the shape, three starts (centred, or
    aligned at either end, since one end was not seen). From each, nearest neighbours alternate with the
    least-squares s, t of the closest ``RETRIEVAL_KEEP`` of the pairs: point to point for the first half of
    the iterations (it pulls from afar), point to plane for the rest (not limited by the samples' spacing).
    The start that ends closest wins.
    """
    tree = cKDTree(shape_points)
    lo, hi = observed.min(axis=0), observed.max(axis=0)
    shape_lo, shape_hi = shape_points.min(axis=0), shape_points.max(axis=0)
    ratios = (hi - lo) / np.maximum(shape_hi - shape_lo, 1e-12)
    scale = float(ratios.max())
    centred = (lo + hi) / 2 - scale * (shape_lo + shape_hi) / 2
    short = int(np.argmin(ratios))
    best = None
    for end in (None, lo - scale * shape_lo, hi - scale * shape_hi):
        translation = np.array(centred, dtype=np.float64)
        if end is not None:
            translation[short] = end[short]
        fitted = _refine(tree, observed, shape_points, shape_normals, scale, translation, iterations)
        distance = _mean_distance(tree, observed, shape_points, shape_normals, spacing, *fitted)
        if best is None or distance < best[2]:
            best = (*fitted, distance)
    return best


def _refine(tree: cKDTree, observed: np.ndarray, shape_points: np.ndarray, shape_normals: np.ndarray,
            scale: float, translation: np.ndarray, iterations: int) -> tuple[float, np.ndarray]:
    """``iterations`` of trimmed nearest-neighbour least squares of s, t from ``scale``, ``translation``."""
    for iteration in range(iterations):
        distance, nearest = tree.query((observed - translation) / scale)
        keep = distance <= np.quantile(distance, RETRIEVAL_KEEP)
        p, q, n = observed[keep], shape_points[nearest[keep]], shape_normals[nearest[keep]]
        if iteration < iterations // 2:
            p_mean, q_mean = p.mean(axis=0), q.mean(axis=0)
            spread = float(((q - q_mean) ** 2).sum())
            if not spread > 0:
                break
            fitted = float(((p - p_mean) * (q - q_mean)).sum()) / spread
            offset = p_mean - fitted * q_mean
        else:  # n . (s q + t - p) = 0 for every pair, in least squares, damped towards the current s, t
            system = np.column_stack([np.einsum("ij,ij->i", n, q), n])
            normal, current = system.T @ system, np.concatenate([[scale], translation])
            damping = 1e-6 * np.trace(normal) * np.eye(4)  # what the pairs leave free (no face across) stays
            solution = np.linalg.solve(normal + damping,
                                       system.T @ np.einsum("ij,ij->i", n, p) + damping @ current)
            fitted, offset = float(solution[0]), solution[1:]
        if not fitted > 0:
            break
        scale, translation = fitted, offset
    return scale, translation


def _mean_distance(tree: cKDTree, observed: np.ndarray, shape_points: np.ndarray, shape_normals: np.ndarray,
                   spacing: float, scale: float, translation: np.ndarray) -> float:
    """Mean distance from ``observed`` to the shape placed by ``scale``, ``translation``."""
    placed = (observed - translation) / scale
    distance, nearest = tree.query(placed)
    # Near the surface the distance to a sample's tangent plane is the distance to the surface; the distance
    # to the sample overstates it by up to the samples' spacing, and the plane's may understate it far away.
    plane = np.abs(np.einsum("ij,ij->i", shape_normals[nearest], placed - shape_points[nearest]))
    return scale * float(np.maximum(plane, distance - spacing).mean())


def retrieve(observation: Observation, meshes: list[tuple[np.ndarray, np.ndarray]],
             seed: int = 0) -> Retrieved:
    """The shape of ``meshes`` (vertices [V, 3], faces [F, 3] each, in the collection's pose) that best
    explains the observed points after ``fit_scale_translation``; ``InputError`` if ``meshes`` is empty."""
    if not meshes:
        raise InputError("retrieval needs at least one collection shape")
    points = np.asarray(observation.points, dtype=np.float64)
    if len(points) > RETRIEVAL_POINTS:
        points = points[np.random.default_rng(seed).choice(len(points), RETRIEVAL_POINTS, replace=False)]
    fits = []
    for vertices, faces in meshes:
        shape = trimesh.Trimesh(np.asarray(vertices, dtype=np.float64), np.asarray(faces), process=False)
        fits.append(fit_scale_translation(points, *sample_surface(shape, RETRIEVAL_SAMPLES, seed),
                                          spacing=float(np.sqrt(shape.area / RETRIEVAL_SAMPLES))))
    distances = np.array([distance for _, _, distance in fits])
    index = int(np.argmin(distances))
    scale, translation, distance = fits[index]
    vertices, faces = meshes[index]
    return Retrieved(index, scale, translation, distance, distances,
                     scale * np.asarray(vertices, dtype=np.float64) + translation,
                     np.asarray(faces, dtype=np.int64))


def retrieval(observation: Observation, meshes: list[tuple[np.ndarray, np.ndarray]],
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The mesh of ``retrieve``: vertices float64 [V, 3], faces int64 [F, 3] (the method runners' form)."""
    found = retrieve(observation, meshes, seed)
    return found.vertices, found.faces

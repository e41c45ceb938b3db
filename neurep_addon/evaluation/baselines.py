"""Classical baseline for the evaluation suite: screened Poisson surface reconstruction.

Kazhdan & Hoppe 2013, "Screened Poisson Surface Reconstruction", through MeshLab's maintained
implementation (``pymeshlab``). Points without normals get the same estimated, oriented normals the
NeuRep fit uses (``normals.in_box``), so both methods start from identical inputs. The
result is not trimmed by density: like NeuRep's output it is the closed indicator-function surface.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from ..core.normals import in_box
from ..core.observation import Observation

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

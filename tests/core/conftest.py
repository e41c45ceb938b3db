"""Generated shapes for the core tests (no test depends on external data), and the device they fit on."""

import os

import numpy as np
import pytest
import trimesh


DEVICE = os.environ.get("NEUREP_TEST_DEVICE", "cpu")
"""Where the core tests fit: the CPU, or ``cuda`` for the GPU check (scripts/gpu_check.sh)."""


def sphere_points(count: int, radius: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points [count, 3] on a sphere and their outward normals."""
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(count, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return radius * normals, normals


@pytest.fixture
def torus_mesh() -> trimesh.Trimesh:
    return trimesh.creation.torus(major_radius=1.0, minor_radius=0.4, major_sections=64, minor_sections=32)


@pytest.fixture
def holed_sphere() -> tuple[np.ndarray, np.ndarray]:
    """A unit sphere sampled with two holes (25-degree caps cut at +z and -x)."""
    points, normals = sphere_points(12_000, seed=1)
    keep = (points[:, 2] < 0.9) & (points[:, 0] > -0.9)
    return points[keep], normals[keep]

"""Generated shapes for the core tests (no test depends on external data), and the device they fit on."""

import os

import numpy as np
import pytest
import trimesh

from tests.helpers import sphere_points


DEVICE = os.environ.get("NEUREP_TEST_DEVICE", "cpu")
"""Where the core tests fit: the CPU, or ``cuda`` for the GPU check (scripts/gpu_check.sh)."""


@pytest.fixture
def torus_mesh() -> trimesh.Trimesh:
    return trimesh.creation.torus(major_radius=1.0, minor_radius=0.4, major_sections=64, minor_sections=32)


@pytest.fixture
def holed_sphere() -> tuple[np.ndarray, np.ndarray]:
    """A unit sphere sampled with two holes (25-degree caps cut at +z and -x)."""
    points, normals = sphere_points(12_000, seed=1)
    keep = (points[:, 2] < 0.9) & (points[:, 0] > -0.9)
    return points[keep], normals[keep]

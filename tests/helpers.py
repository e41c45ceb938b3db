"""Shapes that tests in several folders use: points on a sphere, surface samples of an icosphere, and an
icosphere with two holes. Generated, so no test depends on external data."""

from __future__ import annotations

import numpy as np
import trimesh

from neurep_addon.core.observation import sample_surface


def sphere_points(count: int, radius: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points [count, 3] on a sphere about the origin and their outward normals."""
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(count, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return radius * normals, normals


def icosphere_samples(count: int, radius: float = 1.0, subdivisions: int = 3,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted surface samples [count, 3] of an icosphere about the origin and their face normals."""
    return sample_surface(trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius), count, seed)


def holed_icosphere(subdivisions: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A unit icosphere without its top cap (faces above z = 0.72) and a side window (at +x): vertices float64
    [V, 3], all kept, and the remaining faces [F, 3]."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    centre = sphere.triangles_center
    remove = (centre[:, 2] > 0.72) | ((centre[:, 0] > 0.8) & (np.abs(centre[:, 2]) < 0.25))
    return np.asarray(sphere.vertices, dtype=np.float64), np.asarray(sphere.faces)[~remove]

"""Partial observations made from complete meshes: virtual depth scans and holed surface samples.

Used by the evaluation suite (inputs with known ground truth) and by prior training (tasks).
Everything is seeded through the ``numpy.random.Generator`` passed in.

- ``depth_scan``: k orthographic depth views with real occlusion. Dense surface samples are projected
  onto each view's pixel grid and a z-buffer keeps, per pixel, only the sample nearest to the camera;
  back-facing samples are dropped. Optional Gaussian noise and uniform outliers.
- ``holed_samples``: surface samples minus random balls (radius a fraction of the bounding-box diagonal).
"""

from __future__ import annotations

import numpy as np
import trimesh

from ..core.observation import Observation, sample_surface

DENSE_SAMPLES = 400_000
"""Surface samples rendered into the z-buffer (more than pixels, so every visible pixel is covered)."""
SAMPLES_PER_PIXEL = 10
"""At high resolutions, at least this many samples per pixel of the view, or a pixel that no sample of
the front surface falls into would let the surface behind it show through."""


def surface_samples(mesh: trimesh.Trimesh, count: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``observation.sample_surface`` seeded from ``rng``: points and face normals, float64 [count, 3]."""
    return sample_surface(mesh, count, int(rng.integers(2**31)))


def random_directions(count: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors [count, 3], uniform on the sphere."""
    d = rng.normal(size=(count, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def depth_scan(mesh: trimesh.Trimesh, views: int | np.ndarray, rng: np.random.Generator,
               resolution: int = 192, noise: float = 0.0, outliers: float = 0.0,
               with_normals: bool = False) -> Observation:
    """Points seen by ``views`` orthographic depth cameras (a count of random ones, or directions [k, 3]).

    resolution: pixels along the side of each view, covering the mesh's bounding sphere.
    noise: standard deviation of Gaussian noise as a fraction of the bounding-box diagonal.
    outliers: fraction of extra points drawn uniformly in the bounding box.
    with_normals: keep the true face normals of the seen points (without noise or outliers they are exact).
    """
    directions = random_directions(views, rng) if np.isscalar(views) else np.asarray(views, dtype=np.float64)
    points, normals = surface_samples(mesh, max(DENSE_SAMPLES, SAMPLES_PER_PIXEL * resolution ** 2), rng)
    center = mesh.bounding_box.centroid
    radius = float(np.linalg.norm(points - center, axis=1).max())
    pixel = 2 * radius / resolution
    seen = np.zeros(len(points), dtype=bool)
    for d in directions:
        d = d / np.linalg.norm(d)
        u = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
        u /= np.linalg.norm(u)
        v = np.cross(d, u)
        rel = points - center
        ij = np.clip(((rel @ np.stack([u, v]).T + radius) / pixel).astype(np.int64), 0, resolution - 1)
        flat = ij[:, 0] * resolution + ij[:, 1]
        depth = radius - rel @ d  # distance from the camera plane; the camera looks along -d
        # z-buffer: per pixel, the sample nearest to the camera; it counts if it faces the camera.
        order = np.lexsort((depth, flat))
        first = np.ones(len(order), dtype=bool)
        first[1:] = flat[order][1:] != flat[order][:-1]
        nearest = order[first]
        seen[nearest[normals[nearest] @ d > 0]] = True
    scan, scan_normals = points[seen], normals[seen]
    diagonal = float(np.linalg.norm(mesh.extents))
    if noise > 0:
        scan = scan + rng.normal(scale=noise * diagonal, size=scan.shape)
    if outliers > 0:
        lo, hi = mesh.bounds
        extra = rng.uniform(lo, hi, size=(int(outliers * len(scan)), 3))
        scan = np.concatenate([scan, extra])
        scan_normals = np.concatenate([scan_normals, random_directions(len(extra), rng)])
    notes = (f"{len(directions)}-view depth scan of {len(scan):,} points",)
    return Observation(scan, scan_normals if with_normals else None, notes)


def holed_samples(mesh: trimesh.Trimesh, count: int, holes: int, radius_fraction: float,
                  rng: np.random.Generator, with_normals: bool = True) -> Observation:
    """``count`` surface samples with ``holes`` random balls removed.

    Ball centres are surface points; radius = ``radius_fraction`` times the bounding-box diagonal.
    """
    points, normals = surface_samples(mesh, count, rng)
    radius = radius_fraction * float(np.linalg.norm(mesh.extents))
    centres = points[rng.choice(len(points), size=holes, replace=False)]
    keep = np.ones(len(points), dtype=bool)
    for c in centres:
        keep &= np.linalg.norm(points - c, axis=1) > radius
    notes = (f"{count:,} surface samples minus {holes} ball(s) of radius {radius_fraction:.0%} of the diagonal",)
    return Observation(points[keep], normals[keep] if with_normals else None, notes)

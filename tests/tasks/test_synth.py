"""Partial-input synthesis: occlusion, holes, noise, outliers, normals and seeding."""

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from neurep_addon.tasks.synth import depth_scan, holed_samples

RESOLUTION = 64


@pytest.fixture(scope="module")
def unit_sphere() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=4, radius=1.0)


def test_one_view_sees_only_the_front_hemisphere(unit_sphere):
    scan = depth_scan(unit_sphere, np.array([[0.0, 0.0, 1.0]]), np.random.default_rng(0), resolution=RESOLUTION,
                      with_normals=True)
    assert scan.points[:, 2].min() > -0.05
    assert np.all(scan.normals[:, 2] > 0)
    assert len(scan) > 0.5 * np.pi / 4 * RESOLUTION ** 2  # most pixels of the sphere's disc see it


def test_a_nearer_object_hides_the_one_behind_it():
    front = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    back = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    back.apply_translation([0.0, 0.0, -3.0])
    scan = depth_scan(trimesh.util.concatenate([front, back]), np.array([[0.0, 0.0, 1.0]]),
                      np.random.default_rng(0), resolution=RESOLUTION)
    assert scan.points[:, 2].min() > -0.05  # nothing of the hidden sphere at z = -3


def test_two_opposite_views_cover_the_whole_sphere(unit_sphere):
    scan = depth_scan(unit_sphere, np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]), np.random.default_rng(0),
                      resolution=RESOLUTION)
    assert (scan.points[:, 2] > 0.5).any() and (scan.points[:, 2] < -0.5).any()


def test_scans_are_seeded(unit_sphere):
    first, again, other = (depth_scan(unit_sphere, 2, np.random.default_rng(seed), resolution=RESOLUTION)
                           for seed in (3, 3, 4))
    np.testing.assert_array_equal(first.points, again.points)
    assert first.points.shape != other.points.shape or not np.allclose(first.points, other.points)


def test_noise_and_outliers(unit_sphere):
    noise = 0.005
    views = np.array([[0.0, 0.0, 1.0]])
    clean = depth_scan(unit_sphere, views, np.random.default_rng(0), resolution=RESOLUTION)
    noisy = depth_scan(unit_sphere, views, np.random.default_rng(0), resolution=RESOLUTION, noise=noise,
                       outliers=0.1, with_normals=True)
    assert len(noisy) == len(clean) + int(0.1 * len(clean))
    assert noisy.normals.shape == noisy.points.shape
    radial = np.linalg.norm(noisy.points[:len(clean)], axis=1) - 1.0
    diagonal = np.linalg.norm(unit_sphere.extents)
    assert np.std(radial) == pytest.approx(noise * diagonal, rel=0.25)
    assert clean.normals is None


def test_a_ball_hole_removes_the_expected_cap(unit_sphere):
    fraction = 0.1
    holed = holed_samples(unit_sphere, 40_000, 1, fraction, np.random.default_rng(0), with_normals=False)
    radius = fraction * np.linalg.norm(unit_sphere.extents)
    # a ball of radius r centred on a unit sphere cuts a cap of area fraction r^2 / 4
    assert 1 - len(holed) / 40_000 == pytest.approx(radius ** 2 / 4, abs=0.004)
    assert holed.normals is None


def test_ball_holes_leave_empty_regions_and_keep_normals(unit_sphere):
    holed = holed_samples(unit_sphere, 20_000, 3, 0.1, np.random.default_rng(1), with_normals=True)
    np.testing.assert_allclose(np.einsum("ij,ij->i", holed.normals, holed.points), 1.0, atol=0.02)
    probes = trimesh.sample.sample_surface_even(unit_sphere, 2000, seed=0)[0]
    distance, _ = cKDTree(holed.points).query(probes)
    assert distance.max() > 0.2  # the inside of a hole of radius 0.35 is far from every sample

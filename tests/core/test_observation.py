import numpy as np
import pytest

from neurep_addon.core.config import DATA_HALF_EXTENT
from neurep_addon.core.errors import InputError
from neurep_addon.core.observation import Normalization, Observation, merge, sample_mesh, validate

from tests.helpers import holed_icosphere, sphere_points


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_normalization_round_trip_is_exact_at_any_scale(scale):
    points = sphere_points(1000)[0] * scale + np.array([3.0, -2.0, 7.0]) * scale
    norm = Normalization.fit(points)
    box = norm.to_box(points)
    assert np.abs(box).max() == pytest.approx(DATA_HALF_EXTENT, rel=1e-6)
    np.testing.assert_allclose(norm.to_world(box), points, rtol=1e-12, atol=1e-12 * scale)


def test_validate_rejects_non_finite_rows_with_their_position():
    points = sphere_points(500)[0]
    points[17, 1] = np.nan
    points[40, 0] = np.inf
    with pytest.raises(InputError, match=r"2 of 500 points contain NaN or Inf \(first at row 17\)"):
        validate(Observation(points), np.random.default_rng(0))


@pytest.mark.parametrize("points, message", [
    (np.zeros((50, 3)), "the input has 50 points; at least 100 are needed"),
    (np.ones((500, 3)) * 4.2, "same position"),
    (np.outer(np.linspace(0, 1, 500), [1.0, 2.0, 3.0]), "on a line"),
    (np.c_[np.random.default_rng(0).random((500, 2)), np.zeros(500)] @ np.array(
        [[1, 0, 0.5], [0, 1, 0.2], [0, 0, 1.0]]), "on a plane"),
])
def test_validate_rejects_degenerate_inputs(points, message):
    with pytest.raises(InputError, match=message):
        validate(Observation(points), np.random.default_rng(0))


def test_validate_subsamples_large_inputs_and_says_so():
    points, normals = sphere_points(5000)
    out = validate(Observation(points, normals), np.random.default_rng(0), max_points=1000)
    assert len(out) == 1000 and out.normals.shape == (1000, 3)
    assert any("5,000 points; a random subset of 1,000" in note for note in out.notes)


def test_validate_drops_unusable_normals_and_normalises_the_rest():
    points, normals = sphere_points(1000)
    zeroed = normals.copy()
    zeroed[:50] = 0
    assert validate(Observation(points, zeroed), np.random.default_rng(0)).normals is None
    out = validate(Observation(points, normals * 3.0), np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(out.normals, axis=1), 1.0)


def test_merge_keeps_normals_only_when_every_part_has_them():
    a = Observation(*sphere_points(200))
    b = Observation(sphere_points(300)[0])
    assert merge([a, a]).normals.shape == (400, 3)
    merged = merge([a, b])
    assert merged.normals is None and len(merged) == 500
    assert any("estimated" in note for note in merged.notes)


@pytest.mark.parametrize("scale", [1e-200, 1e200])  # face areas would underflow or overflow
def test_a_mesh_is_sampled_alike_at_any_scale(scale):
    vertices, faces = holed_icosphere()
    unit = sample_mesh(vertices, faces, 2000, seed=3)
    scaled = sample_mesh(vertices * scale, faces, 2000, seed=3)
    np.testing.assert_allclose(scaled.points / scale, unit.points, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scaled.normals, unit.normals, rtol=0, atol=1e-12)
    assert not np.array_equal(sample_mesh(vertices, faces, 2000, seed=4).points, unit.points)


def test_a_mesh_without_area_cannot_be_sampled():
    with pytest.raises(InputError, match="all 1 faces have zero area"):
        sample_mesh(np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]]), np.array([[0, 1, 2]]), 100)

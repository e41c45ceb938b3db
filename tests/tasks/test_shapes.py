import numpy as np
import pytest
from scipy.spatial import cKDTree

from neurep_addon.core.errors import ConfigError
from neurep_addon.tasks.shapes import FAMILIES, FAMILY_WEIGHTS, MIRROR, procedural_mesh, random_family

RESOLUTION = 40
"""Coarser than training's grid, to keep the tests fast; thin parts are still at least 1.6 cells thick."""


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_gives_closed_outward_meshes_in_the_unit_box(family):
    for seed in range(3):
        mesh = procedural_mesh(np.random.default_rng(seed), RESOLUTION, family)
        assert mesh.is_watertight and mesh.volume > 0
        assert np.isclose(mesh.extents.max(), 1.0) and np.allclose(mesh.bounding_box.centroid, 0, atol=1e-9)
        assert mesh.metadata["family"] == family


def test_handles_have_genus_one_or_more():
    eulers = [procedural_mesh(np.random.default_rng(seed), RESOLUTION, "handles").euler_number
              for seed in range(10)]
    assert sum(euler <= 0 for euler in eulers) >= 8, eulers


def test_thin_shapes_are_thin():
    # Volume / area is a third of the radius for a ball (1/6 in the unit box) and half the thickness of a plate.
    for seed in range(5):
        mesh = procedural_mesh(np.random.default_rng(seed), RESOLUTION, "thin")
        assert mesh.volume / mesh.area < 0.06


def test_mirrored_shapes_are_symmetric_about_their_plane():
    for seed in range(3):
        mesh = procedural_mesh(np.random.default_rng(seed), RESOLUTION, "mirrored")
        distance, _ = cKDTree(mesh.vertices).query(mesh.vertices * MIRROR)
        assert distance.max() < 1e-6


def test_draws_are_seeded_and_follow_the_family_weights():
    first, again = (procedural_mesh(np.random.default_rng(7), RESOLUTION) for _ in range(2))
    np.testing.assert_array_equal(first.vertices, again.vertices)
    assert first.metadata["family"] in FAMILIES
    assert np.isclose(sum(FAMILY_WEIGHTS.values()), 1.0)
    rng = np.random.default_rng(0)
    drawn = [random_family(rng) for _ in range(4000)]
    for family, weight in FAMILY_WEIGHTS.items():
        assert abs(drawn.count(family) / len(drawn) - weight) < 0.03, family


def test_unknown_family_is_refused():
    with pytest.raises(ConfigError, match="family 'teapot' is unknown"):
        procedural_mesh(np.random.default_rng(0), RESOLUTION, "teapot")


def test_a_subset_of_families_draws_only_from_it_by_its_weights():
    rng = np.random.default_rng(0)
    drawn = [random_family(rng, ("handles", "thin", "blobby")) for _ in range(4000)]
    assert set(drawn) == {"handles", "thin", "blobby"}
    assert abs(drawn.count("blobby") / len(drawn) - 0.10 / 0.40) < 0.03
    with pytest.raises(ConfigError, match="teapot: choose from"):
        random_family(rng, ("handles", "teapot"))

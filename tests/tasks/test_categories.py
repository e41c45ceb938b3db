import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from neurep_addon.core.errors import ConfigError
from neurep_addon.tasks.categories import CATEGORIES, TEST_FIRST_SEED, make_instance, write_collection

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("category", CATEGORIES)
def test_instances_are_closed_upright_centred_and_of_natural_size(category):
    for seed in range(4):
        mesh = make_instance(category, seed)
        assert mesh.is_watertight and mesh.volume > 0, (category, seed)
        assert len(mesh.split(only_watertight=False)) == 1
        assert np.allclose(mesh.bounding_box.centroid, 0, atol=1e-9)
        assert 0.2 < mesh.extents.max() < 1.15, mesh.extents
        assert (mesh.metadata["category"], mesh.metadata["seed"]) == (category, seed)


@pytest.mark.parametrize("category", CATEGORIES)
def test_the_same_seed_gives_the_same_mesh_and_other_seeds_other_shapes(category):
    first, again = make_instance(category, 3), make_instance(category, 3)
    assert np.array_equal(first.vertices, again.vertices) and np.array_equal(first.faces, again.faces)
    extents = np.array([make_instance(category, seed).extents for seed in range(6)])
    # Proportions vary, not only the size: the height-to-width ratio spreads by more than 15%.
    ratios = extents[:, 2] / extents[:, :2].max(axis=1)
    assert ratios.max() / ratios.min() > 1.15, ratios


def test_vessels_are_open_and_mugs_have_a_handle_on_plus_x():
    for seed in range(3):
        vessel = make_instance("vase", seed)
        top = vessel.bounds[1, 2]
        # The axis crosses the surface only at the floor (inside and out), low down: the top is open.
        on_axis = vessel.vertices[np.linalg.norm(vessel.vertices[:, :2], axis=1) < 0.012]
        assert len(on_axis) and on_axis[:, 2].max() < top - 0.1, on_axis[:, 2].max()
        cup = make_instance("mug", seed)
        assert cup.euler_number <= 0  # a handle makes genus one or more
        base = cup.vertices[cup.vertices[:, 2] < cup.bounds[0, 2] + 0.005]
        assert base[:, 0].mean() < -0.04  # the handle sticks out on +x, so the cup stands left of centre


def test_chairs_have_legs_and_a_back_on_plus_y():
    for seed in range(3):
        chair = make_instance("chair", seed)
        lo, hi = chair.bounds
        points = chair.vertices
        low = points[points[:, 2] < lo[2] + 0.1]
        # Near the floor only the four legs: the corners are occupied, the middle is empty.
        assert cKDTree(low[:, :2]).query([0.0, 0.0])[0] > 0.1
        for sx in (-1, 1):
            for sy in (-1, 1):
                corner = [sx * hi[0], sy * (hi[1] + lo[1]) / 2 + sy * (hi[1] - lo[1]) / 2]
                assert cKDTree(low[:, :2]).query(corner)[0] < 0.15
        high = points[points[:, 2] > hi[2] - 0.1]
        assert high[:, 1].mean() > (lo[1] + hi[1]) / 2 + 0.1  # the top of the chair is its back


def test_collections_are_written_and_read_back(tmp_path):
    paths = write_collection("mug", tmp_path / "mugs", 2, 7)
    assert [p.name for p in paths] == ["mug_00007.obj", "mug_00008.obj"]
    loaded = trimesh.load(str(paths[1]), force="mesh")
    assert np.allclose(loaded.bounds, make_instance("mug", 8).bounds, atol=1e-5)
    with pytest.raises(ConfigError, match="categories are"):
        make_instance("teapot", 0)


def test_the_script_writes_disjoint_train_and_test_folders(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_categories.py"), "--out", str(tmp_path),
                           "--train", "2", "--test", "1", "--categories", "vase"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    train = sorted(p.name for p in (tmp_path / "vase" / "train").iterdir())
    test = sorted(p.name for p in (tmp_path / "vase" / "test").iterdir())
    assert train == ["vase_00000.obj", "vase_00001.obj"] and test == [f"vase_{TEST_FIRST_SEED:05d}.obj"]

import dataclasses

import numpy as np
import pytest
import trimesh

from neurep_addon.core.errors import ConfigError, InputError
from neurep_addon.tasks.shapes import load_mesh, mesh_files, procedural_mesh, split_files
from neurep_addon.tasks.tasks import ShapeDistribution, approximate_sdf, make_task, task_seed
from tests.helpers import icosphere_samples


def test_task_sampling_is_seeded(procedural_shapes):
    first, again = procedural_shapes.task(task_seed(3, 1)), procedural_shapes.task(task_seed(3, 1))
    other = procedural_shapes.task(task_seed(3, 2))
    assert first.kind == again.kind
    np.testing.assert_array_equal(first.points, again.points)
    np.testing.assert_array_equal(first.field_sdf, again.field_sdf)
    assert first.points.shape != other.points.shape or not np.array_equal(first.points, other.points)


def test_task_is_normalised_from_the_partial_observation(tiny_tasks):
    mesh = trimesh.creation.box((1.0, 0.6, 0.4))
    task = make_task(mesh, tiny_tasks, np.random.default_rng(0), name="box")
    assert task.points.dtype == np.float32 and task.points.shape[1] == 3
    assert len(task.points) <= tiny_tasks.observed_points
    # The observation's bounding box, not the complete shape's, is mapped to half side 0.75.
    assert np.isclose(np.ptp(task.points, axis=0).max() / 2, 0.75, atol=1e-5)
    assert np.allclose(np.linalg.norm(task.normals, axis=1), 1, atol=1e-4)
    assert (np.abs(task.target_points) <= 1).all()
    assert (task.field_sdf < 0).any() and (task.field_sdf > 0).any()


def test_procedural_shapes_are_closed_and_outward():
    rng = np.random.default_rng(5)
    for _ in range(3):
        mesh = procedural_mesh(rng)
        assert mesh.is_watertight and mesh.volume > 0
        assert np.isclose(mesh.extents.max(), 1.0)


def test_approximate_sdf_of_a_sphere():
    points, normals = icosphere_samples(20000, radius=0.5, subdivisions=4)
    query = np.array([[0.0, 0.0, 0.0], [0.0, 0.8, 0.0], [0.3, 0.0, 0.0]])
    sdf = approximate_sdf(query, points, normals)
    np.testing.assert_allclose(sdf, [-0.5, 0.3, -0.2], atol=0.02)


def test_mesh_folder_split_and_errors(tmp_path, tiny_tasks):
    with pytest.raises(InputError, match="no mesh files"):
        mesh_files(tmp_path)
    for i in range(5):
        trimesh.creation.icosphere(subdivisions=1, radius=0.2 + 0.1 * i).export(tmp_path / f"s{i}.obj")
    (tmp_path / "notes.txt").write_text("not a mesh")
    files = mesh_files(tmp_path)
    train, validation = split_files(files, 0.2, seed=0)
    assert len(files) == 5 and len(validation) == 1 and sorted(train + validation) == files
    assert split_files(files, 0.2, seed=0) == (train, validation)
    mesh = load_mesh(files[0])
    assert np.isclose(mesh.extents.max(), 1.0) and np.allclose(mesh.bounding_box.centroid, 0, atol=1e-9)
    shapes = ShapeDistribution.from_files(files, tiny_tasks)
    assert shapes.names == [f"s{i}" for i in range(5)]
    (tmp_path / "broken.ply").write_bytes(b"ply\nnonsense")
    with pytest.raises(InputError, match="broken.ply"):
        load_mesh(tmp_path / "broken.ply")


def test_a_distribution_needs_meshes_or_procedural_shapes():
    with pytest.raises(InputError, match="no meshes"):
        ShapeDistribution({})


def test_a_family_distribution_makes_tasks_of_that_family_only(tiny_tasks):
    shapes = ShapeDistribution({}, dataclasses.replace(tiny_tasks, families=("thin",)))
    assert {shapes.task(task_seed(0, i)).name for i in range(3)} == {"procedural:thin"}
    with pytest.raises(ConfigError, match="none given"):
        dataclasses.replace(tiny_tasks, families=())

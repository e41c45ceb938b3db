import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from neurep_addon.core.extract import dense_grid, drop_small_components, mesh_from_grid, sparse_grid


def sphere_sdf(x):
    return (np.linalg.norm(x, axis=1) - 0.6).astype(np.float32)


def torus_sdf(x):
    ring = np.linalg.norm(x[:, :2], axis=1) - 0.55
    return (np.sqrt(ring**2 + x[:, 2] ** 2) - 0.2).astype(np.float32)


def two_spheres_sdf(x):
    a = np.linalg.norm(x - [0.3, 0, 0], axis=1) - 0.4
    b = np.linalg.norm(x - [-0.75, 0, 0], axis=1) - 0.1
    return np.minimum(a, b).astype(np.float32)


@pytest.mark.parametrize("sdf", [sphere_sdf, torus_sdf], ids=["sphere", "torus"])
@pytest.mark.parametrize("resolution", [128, 256])
def test_sparse_extraction_matches_dense_with_a_tenth_of_the_evaluations(sdf, resolution):
    sparse, dense = sparse_grid(sdf, resolution), dense_grid(sdf, resolution)
    assert dense.evaluations == (resolution + 1) ** 3
    if resolution == 256:
        assert sparse.evaluations <= 0.10 * dense.evaluations
    vs, fs = mesh_from_grid(sparse)
    vd, fd = mesh_from_grid(dense)
    half_voxel = 0.5 * 2.0 / resolution
    assert cKDTree(vd).query(vs)[0].max() <= half_voxel
    assert cKDTree(vs).query(vd)[0].max() <= half_voxel
    assert len(fs) == len(fd)


def test_extracted_mesh_is_closed_outward_and_on_the_surface():
    vertices, faces = mesh_from_grid(sparse_grid(torus_sdf, 128))
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    assert mesh.is_watertight
    assert mesh.volume > 0  # outward-facing triangles give a positive volume
    assert np.abs(torus_sdf(vertices)).max() < 2.0 / 128
    expected_volume = 2 * np.pi**2 * 0.55 * 0.2**2
    assert mesh.volume == pytest.approx(expected_volume, rel=0.02)


def test_nodes_on_the_level_set_do_not_pinch_the_mesh():
    """A node at or within rounding of 0 must not gather several vertices (merged on save: a pinch)."""
    grid = dense_grid(sphere_sdf, 32)
    values = grid.values.copy()
    crossing = np.argwhere(np.abs(values) < 2.0 / 32)
    for i, index in enumerate(crossing[::7][:40]):
        values[tuple(index)] = (0.0, 1e-9, -1e-9, 3e-8)[i % 4]
    grid.values = values
    vertices, faces = mesh_from_grid(grid)
    assert len(np.unique(vertices.astype(np.float32), axis=0)) == len(vertices)
    merged = trimesh.Trimesh(vertices, faces, process=True)
    assert merged.is_watertight


def test_surface_leaving_the_box_is_capped_closed():
    def slab(x):  # a slab through the whole box: open unless capped at the box
        return (np.abs(x[:, 2]) - 0.3).astype(np.float32)
    vertices, faces = mesh_from_grid(dense_grid(slab, 32))
    assert trimesh.Trimesh(vertices, faces).is_watertight
    vertices, faces = mesh_from_grid(dense_grid(slab, 32), close_at_box=False)
    assert not trimesh.Trimesh(vertices, faces).is_watertight


def test_no_zero_crossing_gives_an_empty_mesh():
    vertices, faces = mesh_from_grid(dense_grid(lambda x: np.ones(len(x), np.float32), 16))
    assert vertices.shape == (0, 3) and faces.shape == (0, 3)


def test_small_components_are_dropped_by_area_fraction():
    vertices, faces = mesh_from_grid(sparse_grid(two_spheres_sdf, 128))
    kept_v, kept_f, dropped = drop_small_components(vertices, faces, 0.1)
    assert dropped == 1
    assert trimesh.Trimesh(kept_v, kept_f).body_count == 1
    assert drop_small_components(vertices, faces, 0.0)[2] == 0


def _spheres(*centres_radii):
    parts = [trimesh.creation.icosphere(subdivisions=3, radius=r).apply_translation(c) for c, r in centres_radii]
    mesh = trimesh.util.concatenate(parts)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def test_one_observed_object_keeps_one_part_and_drops_an_unsupported_blob():
    vertices, faces = _spheres(((0, 0, 0), 0.5), ((0.8, 0, 0), 0.2))  # the blob has 14% of the area
    observed = trimesh.creation.icosphere(subdivisions=4, radius=0.5).vertices
    kept_v, kept_f, dropped = drop_small_components(vertices, faces, 0.02, observed, 0.05)
    assert dropped == 1
    assert trimesh.Trimesh(kept_v, kept_f).body_count == 1
    assert np.allclose(np.linalg.norm(kept_v, axis=1), 0.5)


def test_two_separate_observed_objects_keep_two_parts():
    vertices, faces = _spheres(((-0.5, 0, 0), 0.3), ((0.5, 0, 0), 0.2))
    observed = np.concatenate([trimesh.creation.icosphere(subdivisions=3, radius=0.3).vertices - [0.5, 0, 0],
                               trimesh.creation.icosphere(subdivisions=2, radius=0.2).vertices + [0.5, 0, 0]])
    assert drop_small_components(vertices, faces, 0.02, observed, 0.05)[2] == 0
    assert drop_small_components(vertices, faces, 0.0, observed[:10], 0.05)[2] == 0  # keep-small-parts

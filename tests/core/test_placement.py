"""World space <-> an object's frame: mirrors reverse the winding, far meshes are stored around their centre,
parts wound the other way are turned over."""

import numpy as np
import pytest
import trimesh

from neurep_addon.core.placement import (as_stored, consistent_winding, mirrors, outward_faces, storage,
                                         storage_offset, to_local, transform)


def signed_volume(vertices, faces) -> float:
    return trimesh.Trimesh(vertices, faces, process=False).volume


def outward_share(vertices, faces, centre) -> float:
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    return float(np.mean(np.einsum("ij,ij->i", mesh.face_normals, mesh.triangles_center - centre) > 0))


def mirrored_matrix() -> np.ndarray:
    matrix = np.diag([-1.5, 1.5, 1.5, 1.0])
    matrix[:3, 3] = (2.0, -1.0, 0.5)
    return matrix


def test_mirrors_is_the_sign_of_the_determinant():
    assert mirrors(mirrored_matrix()) and mirrors(np.diag([-1.0, -1.0, -1.0, 1.0]))
    assert not mirrors(np.eye(4)) and not mirrors(np.diag([-1.0, -1.0, 1.0, 1.0]))  # a half-turn


def test_a_mirrored_frame_stores_faces_that_face_out_once_placed():
    sphere = trimesh.creation.icosphere(2)
    world = sphere.vertices + (2.0, -1.0, 0.5)
    matrix, local, faces = storage(world, sphere.faces, mirrored_matrix())
    assert np.allclose(matrix, mirrored_matrix()) and np.allclose(transform(local, matrix), world)
    assert signed_volume(local, faces) > 0  # outward in the object's own frame, as Blender shows it
    assert np.array_equal(faces, sphere.faces[:, ::-1])
    _, _, kept = storage(world, sphere.faces, np.eye(4))
    assert np.array_equal(kept, sphere.faces)


def test_far_vertices_move_into_the_matrix_and_keep_float32_detail():
    sphere = trimesh.creation.icosphere(4)
    far = sphere.vertices + 1e5
    matrix, local, _ = storage(far, sphere.faces, np.eye(4))
    assert np.allclose(matrix[:3, 3], 1e5, atol=0.01) and np.abs(local).max() < 1.01
    placed = transform(local.astype(np.float32).astype(np.float64), matrix)  # what Blender keeps
    error = np.abs(placed - far).max()
    naive = np.abs(far.astype(np.float32).astype(np.float64) - far).max()
    assert error < 1e-6 < 1e-3 < naive
    distinct = len(np.unique(sphere.vertices.astype(np.float32)[:, 0]))  # 653
    assert len(np.unique(local.astype(np.float32)[:, 0])) >= 0.99 * distinct
    assert len(np.unique(far.astype(np.float32)[:, 0])) < 0.4 * distinct  # 223 stored around the origin


def test_near_vertices_keep_the_source_origin():
    sphere = trimesh.creation.icosphere(2)
    assert not storage_offset(sphere.vertices + (3.0, 0.0, 1.0)).any()
    assert storage_offset(sphere.vertices + (3e4, 0.0, 0.0))[0] == pytest.approx(3e4)
    matrix = mirrored_matrix()
    matrix[:3, 3] = 0.0
    stored, local, _ = storage(sphere.vertices * 1.5 + (0.0, 0.0, 8e4), sphere.faces, matrix)
    assert np.abs(local).max() < 1.01 and np.allclose(stored[:3, :3], matrix[:3, :3])


def test_as_stored_is_float32():
    matrix = np.eye(4)
    matrix[0, 3] = 1e5 + 1e-3
    assert as_stored(matrix)[0, 3] == float(np.float32(1e5 + 1e-3)) != matrix[0, 3]
    assert np.allclose(to_local(transform([[1.0, 2.0, 3.0]], matrix), matrix), [[1.0, 2.0, 3.0]])


def test_a_mirrored_half_joined_to_its_original_is_turned_over():
    sphere = trimesh.creation.icosphere(3)
    half = sphere.submesh([np.flatnonzero(sphere.triangles_center[:, 0] > 0)], append=True)
    vertices = np.concatenate([half.vertices, half.vertices * (-1.0, 1.0, 1.0)])  # the mirrored copy as joined
    faces = np.concatenate([half.faces, half.faces + len(half.vertices)])  # its winding unchanged: inwards
    assert outward_share(vertices, faces, 0.0) == pytest.approx(0.5)
    fixed, turned = outward_faces(vertices, faces)
    assert turned == len(half.faces) and outward_share(vertices, fixed, 0.0) == 1.0
    assert np.array_equal(fixed[:len(half.faces)], half.faces)


def test_winding_is_made_consistent_within_a_part():
    sphere = trimesh.creation.icosphere(3)
    reversed_ = np.random.default_rng(0).random(len(sphere.faces)) < 0.3
    faces = np.where(reversed_[:, None], sphere.faces[:, ::-1], sphere.faces)
    flip, parts = consistent_winding(faces, len(sphere.vertices))
    assert len(np.unique(parts)) == 1 and np.array_equal(flip, reversed_ ^ reversed_[0])
    fixed, _ = outward_faces(sphere.vertices, faces)
    assert np.array_equal(fixed, sphere.faces)


def test_a_whole_inside_out_scan_is_turned_over_and_an_outward_one_is_kept():
    sphere = trimesh.creation.icosphere(3)
    open_scan = sphere.submesh([np.flatnonzero(sphere.triangles_center[:, 2] < 0.7)], append=True)
    kept, turned = outward_faces(open_scan.vertices, open_scan.faces)
    assert turned == 0 and np.array_equal(kept, open_scan.faces)
    fixed, turned = outward_faces(open_scan.vertices, open_scan.faces[:, ::-1])
    assert turned == len(open_scan.faces) and np.array_equal(fixed, open_scan.faces)


def test_a_part_seen_edge_on_from_the_centre_is_kept_either_way():
    grid = trimesh.creation.box((2.0, 2.0, 2.0))
    flat = grid.submesh([np.flatnonzero(grid.face_normals[:, 2] > 0.9)], append=True)  # the top square
    flat_vertices = flat.vertices - (0.0, 0.0, 1.0)  # moved so it passes through its own centre
    for faces in (flat.faces, flat.faces[:, ::-1]):
        kept, turned = outward_faces(flat_vertices, faces)
        assert turned == 0 and np.array_equal(kept, faces)


def test_bowls_far_apart_with_their_openings_turned_away_are_kept():
    sphere = trimesh.creation.icosphere(3)
    bowl = sphere.submesh([np.flatnonzero(sphere.triangles_center[:, 0] < 0.0)], append=True)  # open at +x
    right = bowl.vertices + (10.0, 0.0, 0.0)  # its opening away from the left one
    left = bowl.vertices * (-1.0, 1.0, 1.0) - (10.0, 0.0, 0.0)  # mirrored: opening at -x, wound back outwards
    vertices = np.concatenate([right, left])
    faces = np.concatenate([bowl.faces, bowl.faces[:, ::-1] + len(bowl.vertices)])
    assert outward_share(left, bowl.faces[:, ::-1], (-10.0, 0.0, 0.0)) > 0.99
    kept, turned = outward_faces(vertices, faces)
    assert turned == 0 and np.array_equal(kept, faces)  # from the middle, both seem to face inwards
    inverted = np.concatenate([faces[:len(bowl.faces)], faces[len(bowl.faces):, ::-1]])
    fixed, turned = outward_faces(vertices, inverted)
    assert turned == len(bowl.faces) and np.array_equal(fixed, faces)


def test_a_flat_part_is_turned_to_face_away_from_the_whole():
    sphere = trimesh.creation.icosphere(3)
    box = trimesh.creation.box((2.0, 2.0, 2.0))
    side = box.submesh([np.flatnonzero(box.face_normals[:, 0] > 0.9)], append=True)  # x = 1, facing +x
    vertices = np.concatenate([sphere.vertices, side.vertices + (2.0, 0.0, 0.0)])
    faces = np.concatenate([sphere.faces, side.faces[:, ::-1] + len(sphere.vertices)])  # stored facing -x
    fixed, turned = outward_faces(vertices, faces)
    assert turned == len(side.faces) and outward_share(vertices, fixed, 0.0) == 1.0

"""Nearest surface points on a source mesh, and the per-face weights that carry its corner values over."""

import numpy as np
import trimesh

from neurep_addon.core.transfer import (closest_points, corner_values, face_sources, interpolate,
                                        plane_weights)


def test_closest_points_are_on_the_surface_and_nearest():
    mesh = trimesh.creation.icosphere(2)
    triangles = mesh.triangles
    queries = np.random.default_rng(0).normal(size=(500, 3)) * 1.5
    index, weights, distance = closest_points(queries, triangles, candidates=len(triangles))
    assert (weights >= -1e-12).all() and np.allclose(weights.sum(axis=1), 1.0)
    found = np.einsum("nj,njk->nk", weights, triangles[index])
    assert np.allclose(np.linalg.norm(found - queries, axis=1), distance)
    dense, _ = trimesh.sample.sample_surface_even(mesh, 20000, seed=0)
    brute = np.linalg.norm(queries[:, None] - dense[None], axis=2).min(axis=1)
    assert (distance <= brute + 1e-9).all() and np.median(brute - distance) < 0.02
    assert np.allclose(interpolate(triangles[index], weights), found)
    near, _, near_distance = closest_points(queries, triangles)  # among the 16 nearest by centre
    assert np.mean(np.isclose(near_distance, distance)) > 0.95


def test_face_weights_reproduce_a_linear_map_across_faces():
    source = trimesh.creation.box((2.0, 2.0, 2.0))
    uv_of = lambda p: p[..., :2] * 0.25 + 0.5  # noqa: E731  (a planar map of the top face)
    top = source.triangles[source.face_normals[:, 2] > 0.9]
    result = trimesh.creation.icosphere(3)
    vertices = result.vertices * 0.9 * (1.0, 1.0, 0.0) + (0.0, 0.0, 1.0)  # flattened onto the top face
    faces = result.faces
    source_face, weights = face_sources(vertices, faces, top)
    uv = corner_values(uv_of(top[source_face]), weights)
    assert np.allclose(uv, uv_of(vertices[faces]), atol=1e-9)
    assert np.allclose(plane_weights(top[:, 0], top), [[1.0, 0.0, 0.0]] * len(top))

"""Screened Poisson baseline on a sampled sphere, with given and with estimated normals; retrieval of the
nearest collection shape."""

import numpy as np
import pytest
import trimesh

from neurep_addon.core.errors import InputError
from neurep_addon.core.observation import Observation
from neurep_addon.evaluation.baselines import poisson, retrieval, retrieve
from neurep_addon.evaluation.metrics import evaluate
from neurep_addon.tasks.synth import holed_samples

DEPTH = 6  # coarse octree: enough for a sphere and fast


def test_poisson_closes_a_holed_sphere():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    observation = holed_samples(sphere, 5000, 2, 0.1, np.random.default_rng(0), with_normals=True)
    vertices, faces = poisson(observation, depth=DEPTH)
    scores = evaluate(vertices, faces, sphere.vertices, sphere.faces, observed_points=observation.points,
                      samples=20_000)
    assert scores["chamfer_l1"] < 0.01
    assert scores["missing_recall_1"] > 0.8
    assert scores["components"] == 1


def test_poisson_estimates_missing_normals():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    observation = holed_samples(sphere, 5000, 0, 0.1, np.random.default_rng(0), with_normals=False)
    vertices, faces = poisson(observation, depth=DEPTH)
    scores = evaluate(vertices, faces, sphere.vertices, sphere.faces, samples=20_000)
    assert scores["chamfer_l1"] < 0.01


def test_retrieval_picks_the_shape_of_a_partial_scan_and_places_it_by_scale_and_translation():
    shapes = [trimesh.creation.icosphere(subdivisions=3, radius=0.5), trimesh.creation.box(extents=(1, 0.6, 0.3)),
              trimesh.creation.capsule(height=0.6, radius=0.2, count=[24, 24])]
    collection = [(s.vertices, s.faces) for s in shapes]
    box = shapes[1]
    points, _ = box.sample(6000, return_index=True)
    points = points[points[:, 1] < 0.1]  # one side of the box only
    found = retrieve(Observation(0.7 * points + [1.0, 2.0, -0.5]), collection)
    assert found.index == 1 and found.distances.shape == (3,)
    assert found.scale == pytest.approx(0.7, rel=1e-3)
    np.testing.assert_allclose(found.translation, [1.0, 2.0, -0.5], atol=1e-3)
    assert found.distance < 1e-3 < found.distances[[0, 2]].min()
    vertices, faces = retrieval(Observation(0.7 * points + [1.0, 2.0, -0.5]), collection)
    np.testing.assert_allclose(vertices, 0.7 * box.vertices + [1.0, 2.0, -0.5], atol=2e-3)
    with pytest.raises(InputError, match="at least one collection shape"):
        retrieve(Observation(points), [])

"""Screened Poisson baseline on a sampled sphere, with given and with estimated normals."""

import numpy as np
import trimesh

from neurep_addon.evaluation.baselines import poisson
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

"""Known-answer tests of ``core.metrics`` on generated spheres."""

import numpy as np
import pytest
import trimesh

from neurep_addon.evaluation.metrics import METRIC_KEYS, evaluate, missing_fraction, wrong_facing

SAMPLES = 50_000


def sphere(radius: float = 0.5, center=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=radius)
    mesh.apply_translation(center)
    return mesh


def score(pred: trimesh.Trimesh, gt: trimesh.Trimesh, **kwargs) -> dict:
    return evaluate(pred.vertices, pred.faces, gt.vertices, gt.faces, samples=SAMPLES, **kwargs)


def test_identical_meshes_score_perfectly_up_to_sampling():
    scores = score(sphere(), sphere())
    assert set(scores) == set(METRIC_KEYS)
    assert scores["chamfer_l1"] < 0.005  # two independent 50k samplings are ~0.004 apart
    assert scores["chamfer_l2"] < 3e-5
    assert scores["fscore_1"] > 0.99 and scores["fscore_2"] == 1.0
    assert scores["normal_consistency"] > 0.999
    assert scores["hausdorff"] < 0.02
    assert scores["components"] == 1 and scores["watertight"] is True
    assert scores["missing_recall_1"] is None


def test_concentric_spheres_are_their_radius_difference_apart():
    gt, gap = sphere(0.5), 0.02  # gt diameter 1, so distances are already in units of the longest side
    scores = score(sphere(0.5 + gap), gt)
    assert scores["chamfer_l1"] == pytest.approx(gap, abs=0.003)
    assert scores["hausdorff"] == pytest.approx(gap, abs=0.006)
    assert scores["fscore_0.5"] == 0.0 and scores["fscore_1"] < 0.05
    assert scores["normal_consistency"] > 0.999


def test_scores_are_invariant_to_the_units():
    small = score(sphere(0.52), sphere(0.5))
    large = evaluate(sphere(5.2).vertices, sphere(5.2).faces, sphere(5.0).vertices, sphere(5.0).faces,
                     samples=SAMPLES)
    assert large["chamfer_l1"] == pytest.approx(small["chamfer_l1"], rel=1e-6)


def test_empty_prediction_gets_the_worst_values():
    gt = sphere()
    scores = evaluate(np.zeros((0, 3)), np.zeros((0, 3), dtype=int), gt.vertices, gt.faces,
                      observed_points=gt.vertices, samples=SAMPLES)
    assert scores["chamfer_l1"] == np.inf and scores["hausdorff"] == np.inf
    assert scores["fscore_1"] == 0.0 and scores["missing_recall_1"] == 0.0
    assert scores["components"] == 0 and scores["watertight"] is False


def test_missing_recall_counts_only_what_the_input_lacked():
    gt = sphere()
    lower = gt.vertices[gt.vertices[:, 2] < 0]  # the input saw the lower half only
    bottom_half = gt.submesh([np.flatnonzero(gt.triangles_center[:, 2] < 0)], append=True)
    assert score(gt, gt, observed_points=lower)["missing_recall_1"] > 0.99
    assert score(bottom_half, gt, observed_points=lower)["missing_recall_1"] < 0.01
    assert score(gt, gt, observed_points=gt.vertices)["missing_recall_1"] is None  # nothing was missing


def test_components_and_watertightness():
    gt = sphere()
    two = trimesh.util.concatenate([sphere(0.2, (-0.25, 0, 0)), sphere(0.2, (0.25, 0, 0))])
    assert score(two, gt)["components"] == 2
    open_half = gt.submesh([np.flatnonzero(gt.triangles_center[:, 2] < 0)], append=True)
    assert score(open_half, gt)["watertight"] is False


def test_missing_fraction_of_a_half_seen_sphere():
    gt = sphere()
    lower = gt.sample(20_000, seed=0)
    lower = lower[lower[:, 2] < 0]
    assert missing_fraction(gt.vertices, gt.faces, lower, samples=SAMPLES) == pytest.approx(0.49, abs=0.03)


def test_wrong_facing_counts_the_normals_that_point_into_the_object():
    gt = sphere(center=(1.0, 2.0, 3.0))
    points = gt.sample(4000, seed=0)
    outward = (points - [1.0, 2.0, 3.0]) / 0.5
    flipped = outward.copy()
    flipped[points[:, 2] > 3.25] *= -1  # the cap above z = 0.25 of the radius-0.5 sphere: a quarter
    assert wrong_facing(points, outward, gt.vertices, gt.faces, samples=SAMPLES) == 0.0
    assert wrong_facing(points, -outward, gt.vertices, gt.faces, samples=SAMPLES) == 1.0
    assert wrong_facing(points, flipped, gt.vertices, gt.faces, samples=SAMPLES) == pytest.approx(0.25, abs=0.03)

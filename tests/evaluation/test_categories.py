"""The category benchmark: one-sided partial scans of held-out instances, their posed copies, retrieval of
the nearest training shape, the targets and the command line end to end."""

import json

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from neurep_addon.core.observation import Observation, sample_surface
from neurep_addon.evaluation import categories as bench
from neurep_addon.evaluation.baselines import retrieve
from neurep_addon.evaluation.metrics import evaluate
from neurep_addon.evaluation.suite import run_mesher
from neurep_addon.tasks.categories import CATEGORIES, TEST_FIRST_SEED, make_instance
from neurep_addon.tasks.synth import depth_scan


@pytest.fixture(scope="module")
def cases():
    return {category: bench.category_cases(category, 1) for category in CATEGORIES}


def test_cases_are_one_sided_partial_scans_of_test_instances(cases):
    for category, (plain, posed) in cases.items():
        assert (plain.variant, posed.variant) == ("plain", "posed")
        assert plain.seed == posed.seed == TEST_FIRST_SEED  # never a training seed
        assert not plain.observation.has_normals and not posed.observation.has_normals
        assert len(plain.observation.points) > 5000
        assert 0.3 < plain.unseen < 0.9, (category, plain.unseen)
        assert posed.unseen == plain.unseen
        # The ground truth is the test instance itself, in the collection's pose.
        assert np.array_equal(plain.gt_vertices, make_instance(category, TEST_FIRST_SEED).vertices)
    for seed in range(50):  # cameras in front (-y) and above: the back and the underside are never seen
        directions = bench.scan_directions(np.random.default_rng(seed))
        assert directions.shape == (bench.VIEWS, 3)
        assert (directions[:, 1] < -0.2).all() and (directions[:, 2] > 0.15).all()


def test_no_observed_point_lies_on_the_underside_or_the_back(cases):
    for category, (plain, _) in cases.items():
        mesh = trimesh.Trimesh(plain.gt_vertices, plain.gt_faces, process=False)
        points, normals = sample_surface(mesh, 200_000, 0)
        facing = normals[cKDTree(points).query(plain.observation.points)[1]]
        assert ((facing[:, 1] > 0.9) | (facing[:, 2] < -0.9)).mean() < 0.002, category
        assert ((facing[:, 1] < -0.9) | (facing[:, 2] > 0.9)).mean() > 0.05, category  # front and top are


def _similarity(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: s, R [3, 3], t [3] minimising |s R source + t - target|."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    u, sigma, vt = np.linalg.svd((target - mu_t).T @ (source - mu_s) / len(source))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(sigma) @ d) / ((source - mu_s) ** 2).sum(axis=1).mean())
    return scale, rotation, mu_t - scale * rotation @ mu_s


def test_the_posed_variant_is_the_same_scan_moved_by_a_rotation_a_scale_and_a_shift(cases):
    for plain, posed in cases.values():
        scale, rotation, shift = _similarity(plain.observation.points, posed.observation.points)
        moved = scale * plain.observation.points @ rotation.T + shift
        assert np.abs(moved - posed.observation.points).max() < 1e-9
        np.testing.assert_allclose(scale * plain.gt_vertices @ rotation.T + shift, posed.gt_vertices, atol=1e-9)
        assert np.linalg.det(rotation) > 0 and bench.SCALES[0] <= scale <= bench.SCALES[1]
        angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1)))
        assert angle >= bench.MIN_ROTATION
        axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                         rotation[1, 0] - rotation[0, 1]])
        assert np.abs(axis / np.linalg.norm(axis)).max() < 0.99  # not a turn about a coordinate axis
        np.testing.assert_allclose(bench.apply_pose(posed.scored_in, posed.observation.points),
                                   plain.observation.points, atol=1e-9)


def test_a_posed_case_is_scored_in_the_collections_frame(cases):
    """A prediction moved with the case scores what it scores unmoved (the metrics' box is axis-aligned)."""
    plain, posed = cases["chair"]
    centre = plain.gt_vertices.mean(axis=0)
    guess = (plain.gt_vertices - centre) * [1.06, 0.95, 1.0] + centre

    def mesher(pose):
        return lambda observation: (bench.apply_pose(pose, guess), plain.gt_faces)

    ours = run_mesher(mesher(posed.pose), posed, samples=5000).scores
    reference = run_mesher(mesher(np.eye(4)), plain, samples=5000).scores
    for key in bench.SUMMARY_KEYS:
        assert ours[key] == pytest.approx(reference[key], rel=1e-6, abs=1e-9), key
    unscored = evaluate(bench.apply_pose(posed.pose, guess), plain.gt_faces, posed.gt_vertices, posed.gt_faces,
                        observed_points=posed.observation.points, samples=5000)
    assert unscored["chamfer_l1"] != pytest.approx(reference["chamfer_l1"], rel=1e-3)


def test_retrieval_finds_the_training_instance_a_scan_was_made_of():
    training = bench.training_meshes("mug", 4)
    vertices, faces = training[2]
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    scan = depth_scan(mesh, bench.scan_directions(np.random.default_rng(1)), np.random.default_rng(1))
    moved = Observation(1.3 * scan.points + [0.2, -0.5, 1.0])
    found = retrieve(moved, training)
    assert found.index == 2 and found.scale == pytest.approx(1.3, rel=2e-3)
    np.testing.assert_allclose(found.translation, [0.2, -0.5, 1.0], atol=2e-3)
    assert found.distance < 0.5 * np.sort(found.distances)[1]
    scores = evaluate(found.vertices, found.faces, 1.3 * vertices + [0.2, -0.5, 1.0], faces, samples=50_000)
    floor = evaluate(vertices, faces, vertices, faces, samples=50_000)["chamfer_l1"]  # sampling alone
    assert scores["chamfer_l1"] < floor + 5e-4, (scores["chamfer_l1"], floor)


def _entry(category, variant, **methods):
    scores = {name: {"scores": {"chamfer_l1": c, "fscore_1": f, "missing_recall_1": r}, "seconds": 1.0}
              for name, (c, f, r) in methods.items()}
    return {"category": category, "seed": 0, "variant": variant, "unseen": 0.5, "points": 1, "methods": scores}


def test_targets_compare_the_collection_prior_with_random_init_and_retrieval():
    results = {"cases": {
        "a/plain": _entry("vase", "plain", none=(0.04, 0.50, 0.20), collection=(0.010, 0.70, 0.65),
                          retrieval=(0.012, 0.6, 0.5)),
        "b/plain": _entry("vase", "plain", none=(0.04, 0.50, 0.20), collection=(0.014, 0.66, 0.61),
                          retrieval=(0.016, 0.6, 0.5)),
        "a/posed": _entry("vase", "posed", none=(0.04, 0.50, 0.20), collection=(0.03, 0.60, 0.70),
                          retrieval=(0.02, 0.6, 0.5)),
        "c/plain": _entry("mug", "plain", none=(0.04, 0.50, 0.20), poisson=(0.05, 0.4, 0.1)),
    }}
    results["cases"]["b/plain"]["methods"]["retrieval"] = {"error": "InputError: none"}
    met = bench.targets(results)
    plain = met["vase"]["plain"]
    assert plain["recall_gain"] == pytest.approx(0.43) and plain["fscore_gain"] == pytest.approx(0.18)
    assert plain["chamfer"] == pytest.approx((0.010, 0.012))  # paired: b has no retrieval score
    assert plain["met"] is True
    assert plain["time_ratio"] == pytest.approx(1.0) and plain["time_met"]
    posed = met["vase"]["posed"]
    assert posed["recall_gain_met"] and not posed["fscore_gain_met"] and not posed["chamfer_met"]
    assert posed["met"] is False
    assert met["mug"]["plain"]["met"] is None  # no collection prior: not measured
    means = bench.summary(results)["vase"]["plain"]["methods"]
    assert means["retrieval"]["runs"] == 1 and means["retrieval"]["failed"] == 1
    text = "\n".join(bench.tables(results))
    assert "| `retrieval` | plain | 1 (1 failed) |" in text and "all: NOT met" in text


def test_the_collection_method_fits_from_the_categorys_prior_file_and_times_it(cases, tmp_path):
    """A shape-space prior (untrained, tiny) as ``<category>.safetensors``: the fit runs from it, and its
    seconds (previews excluded, the mean shape's one before any step included) lie within the wall time."""
    import time

    import torch

    from neurep_addon.core.config import NetworkConfig
    from neurep_addon.core.prior_io import save_prior
    from neurep_addon.core.shape_space import ModulatedSiren, ShapeSpace

    network = NetworkConfig(width=16, depth=2)
    torch.manual_seed(0)
    save_prior(ShapeSpace(network, ModulatedSiren(network, 8).state_dict(), torch.randn(3, 8), threshold=0.01,
                          provenance={}, name="chair"), tmp_path / "chair.safetensors")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the benchmark runs (a shared CPU makes more threads slower, not faster)
    try:
        clock = time.perf_counter()
        run = bench.run_category_method("collection", cases["chair"][0], "fast", tmp_path, samples=5000, steps=10,
                                        points_per_step=512, resolution=32)
        wall = time.perf_counter() - clock
    finally:
        torch.set_num_threads(threads)
    assert 0 < run.seconds < wall and len(run.faces) > 0
    seconds = [point["seconds"] for point in run.curve]
    assert seconds[0] >= 0 and seconds == sorted(seconds) and seconds[-1] == run.seconds


def test_a_category_without_a_prior_file_skips_the_collection_method(tmp_path):
    (tmp_path / "vase.safetensors").write_bytes(b"")
    runnable, skipped = bench.methods_for(["none", "collection", "retrieval"], "mug", tmp_path)
    assert runnable == ["none", "retrieval"] and "mug: collection skipped" in skipped[0]
    assert bench.methods_for(["collection"], "vase", tmp_path)[0] == ["collection"]
    with pytest.raises(ValueError, match="unknown method.*nerf"):
        bench.methods_for(["nerf"], "vase", tmp_path)


def test_the_benchmark_runs_end_to_end_and_writes_its_results(benchmark, tmp_path, capsys):
    out = tmp_path / "results.json"
    assert benchmark.main(["--categories", "chair", "--quick", "--preset", "fast", "--methods", "none", "poisson",
                           "retrieval", "collection", "--train-count", "2", "--test-count", "1",
                           "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())
    assert sorted(results["cases"]) == ["chair/10000/plain", "chair/10000/posed"]
    for entry in results["cases"].values():
        assert sorted(entry["methods"]) == ["none", "poisson", "retrieval"]
        for run in entry["methods"].values():
            assert 0 <= run["scores"]["missing_recall_1"] <= 1 and run["seconds"] > 0, run
    means = results["summary"]["chair"]["posed"]["methods"]["none"]
    assert means["runs"] == 1 and means["chamfer_l1"] == results["cases"]["chair/10000/posed"]["methods"][
        "none"]["scores"]["chamfer_l1"]
    assert results["targets"]["chair"]["plain"]["met"] is None
    assert "collection skipped" in printed and "| `retrieval` | posed | 1 |" in printed
    assert benchmark.main(["--categories", "sofa", "--out", str(out)]) == 2
    assert "unknown category sofa" in capsys.readouterr().err

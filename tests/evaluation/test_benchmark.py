"""Benchmark plumbing: clear errors, failures recorded without losing other runs."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from neurep_addon.evaluation import suite as evaluation
from neurep_addon.core.errors import InputError
from neurep_addon.core.observation import Observation

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown method.*nerf.*choose from"):
        evaluation.available_methods(["poisson", "nerf"])


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such data folder"):
        evaluation.data_cases(tmp_path / "nowhere")
    (tmp_path / "meshes").mkdir()
    with pytest.raises(InputError, match="missing the pairs/ folder"):
        evaluation.data_cases(tmp_path)


def test_command_line_reports_errors(benchmark, tmp_path, capsys):
    assert benchmark.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "no such data folder" in capsys.readouterr().err
    assert benchmark.main(["--quick", "--methods", "nerf", "--out", str(tmp_path)]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_a_failing_run_is_recorded_and_the_others_go_on(benchmark, tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    few = evaluation.Case("few/points", "test", Observation(sphere.vertices[:20]), sphere.vertices, sphere.faces)
    results = {}
    benchmark.run_all([few, few], ["neurep-fast"], results, tmp_path / "results.json", 1000, {}, tmp_path)
    assert "at least 100 are needed" in results["few/points"]["neurep-fast"]["error"]
    assert json.loads((tmp_path / "results.json").read_text()) == results


def test_generated_cases_have_partial_inputs():
    cases = evaluation.generated_cases()
    assert {c.kind for c in cases} == {"2-view scan", "ball holes"}
    for case in cases:
        assert 1000 < len(case.observation.points)
        assert np.isfinite(case.gt_vertices).all()


def test_report_tables_keep_failures_visible(benchmark):
    import benchmark_report

    scores = {"chamfer_l1": 0.01, "chamfer_l2": 1e-4, "fscore_0.5": 0.5, "fscore_1": 0.8, "fscore_2": 0.9,
              "normal_consistency": 0.95, "hausdorff": 0.05, "missing_recall_1": None, "components": 1,
              "watertight": True}
    done = {"seconds": 2.0, "scores": scores, "curve": []}
    results = {"a": {"poisson": done, "neurep": done},
               "b": {"poisson": done, "neurep": {"error": "InputError: empty"}},
               "c": {"poisson": done}}  # a run stopped before neurep reached this case
    headline = "\n".join(benchmark_report.headline_table(results))
    assert "| 1/2 |" in headline and "| 2/2 |" in headline  # c is left out of the means
    per_case = "\n".join(benchmark_report.per_case_tables(results))
    assert "failed" in per_case and "`b` / neurep: InputError: empty" in per_case


def test_prior_benchmark_means_skip_shapes_without_missing_regions():
    spec = importlib.util.spec_from_file_location("bench_priors", SCRIPTS / "bench_priors.py")
    bench_priors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_priors)

    def rows(chamfer, recall):
        return [{"step": step, "seconds": 1.0, "chamfer_l1": chamfer, "fscore_1": 0.5}
                | ({} if recall is None else {"missing_recall_1": recall}) for step in bench_priors.CHECKPOINTS]

    results = {"random": {"val/a": rows(0.01, 0.2), "abc/b": rows(0.03, None), "abc/c": rows(0.05, 0.4)},
               "default": {"val/a": rows(0.02, 0.6), "abc/b": rows(0.04, None)}}  # default never ran abc/c
    summary = bench_priors.aggregate(results)
    assert [r["shapes"] for r in summary["random"]] == [2] * len(bench_priors.CHECKPOINTS)
    assert summary["random"][0]["chamfer_l1"] == pytest.approx(0.02)
    assert summary["random"][0]["missing_recall_1"] == pytest.approx(0.2)  # abc/b lacks nothing: not a zero
    table = "\n".join(bench_priors.by_test_set(results, ["abc/b", "val/a"], bench_priors.CHECKPOINTS[-1]))
    assert "| ABC real scans | 1 | 0.0300 / 0.500 / n/a |" in table
    assert "| held-out meshes, 2-view virtual scans | 1 | 0.0100 / 0.500 / 0.200 | 0.0200 / 0.500 / 0.600 |" in table


def test_prior_benchmark_refuses_a_setting_that_is_not_a_fit_field(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_priors", SCRIPTS / "bench_priors.py")
    bench_priors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_priors)
    with pytest.raises(SystemExit) as exit_info:
        bench_priors.main(["--data", str(tmp_path), "--methods", "default", "--prior-setting", "prior_learning_rat=0.5",
                           "--results", str(tmp_path / "r.json"), "--section", "none"])
    assert exit_info.value.code == 2
    assert "NAME a FitConfig field" in capsys.readouterr().err


def test_a_points_only_case_reports_how_many_estimated_normals_face_the_wrong_way():
    scan, holed = evaluation.generated_cases()  # a 2-view scan without normals, a holed capsule with them
    assert not scan.observation.has_normals and holed.observation.has_normals
    quick = {"steps": 5, "points_per_step": 512, "resolution": 32}
    share = evaluation.run_method("neurep-fast", scan, samples=5000, **quick).scores["wrong_facing"]
    assert 0.0 <= share < 0.05  # a clean scan of a torus: the spanning tree orients it
    assert "wrong_facing" not in evaluation.run_method("neurep-fast", holed, samples=5000, **quick).scores


def test_the_selection_set_is_procedural_shapes_scanned_like_the_held_out_meshes():
    """Priors are chosen on procedural shapes, never on the benchmark's held-out meshes, with the same kind
    of observation (a 2-view scan without normals); the set is the same on every call."""
    cases = evaluation.selection_cases(3)
    assert [c.name for c in cases] == ["proc/superquadric-0", "proc/csg-1", "proc/handles-2"]
    again = evaluation.selection_cases(3)
    for case, same in zip(cases, again):
        assert case.kind == "2-view scan" and not case.observation.has_normals
        np.testing.assert_array_equal(case.observation.points, same.observation.points)
        assert trimesh.Trimesh(case.gt_vertices, case.gt_faces).is_watertight
    observed = [len(c.observation.points) for c in cases]
    assert min(observed) > 1000 and len(set(observed)) == 3


def test_the_cut_cases_end_at_their_plane_and_have_no_normals():
    cases = evaluation.cut_cases()
    assert len({case.name for case in cases}) == len(cases) == 3 * len(evaluation.CUT_SHAPES) + 3
    for case in cases:
        assert not case.observation.has_normals
        assert np.isfinite(case.gt_vertices).all()
    for shape in evaluation.CUT_SHAPES:
        for label, direction in evaluation.CUT_DIRECTIONS.items():
            case = evaluation.cut_case(shape, label)
            mesh = trimesh.Trimesh(case.gt_vertices, case.gt_faces)
            direction = np.asarray(direction) / np.linalg.norm(direction)
            cut = float((case.observation.points @ direction).max())
            surface = mesh.sample(20_000, seed=0) @ direction
            assert surface.max() - cut > 0.1 * (surface.max() - surface.min())  # a slab of the shape is gone
            assert 0.55 < len(case.observation.points) / evaluation.CUT_SAMPLES <= 0.6 + 1e-3

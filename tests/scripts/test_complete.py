"""The command line (``scripts/complete.py``) on bad options, bad paths and bad inputs, run in-process with
tiny fits; Ctrl-C and SIGTERM on a real process. Every case checks the exit status, the message and the
files left behind."""

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from neurep_addon.core import io as core_io
from neurep_addon.core import completion
from neurep_addon.core.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "complete.py"
spec = importlib.util.spec_from_file_location("complete_cli", SCRIPT)
cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli)

TINY = ["--steps", "2", "--resolution", "32", "--points-per-step", "64", "--prior", "none", "--device", "cpu",
        "--quiet"]


def sphere(path: Path, offset=0.0, scale=1.0, count=400) -> Path:
    points = np.random.default_rng(0).normal(size=(count, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    np.savetxt(path, points * scale + offset, fmt="%.17g")
    return path


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture
def scan(tmp_path):
    return sphere(tmp_path / "scan.xyz")


# --- invalid options and paths: exit 2 before any work, nothing written
def _cuda_or_skip():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")


REFUSED = {
    "steps_zero": (["--steps", "0"], r"--steps must be at least 1, got 0"),
    "steps_negative": (["--steps", "-5"], r"--steps must be at least 1, got -5"),
    "resolution": (["--resolution", "8"], r"--resolution must be between 16 and 1024, got 8"),
    "points_per_step": (["--points-per-step", "1"], r"--points-per-step must be between 64"),
    "width": (["--width", "3"], r"--width must be between 8 and 1024"),
    "depth": (["--depth", "0"], r"--depth must be between 1 and 12"),
    "refine_steps": (["--refine-steps", "-1"], r"--refine-steps must be between 0 and 100000, got -1"),
    "seed_negative": (["--seed", "-1"], r"--seed must be a whole number from 0 to 4294967295, got -1"),
    "seed_too_large": (["--seed", str(2**32)], r"--seed must be a whole number .* got 4294967296"),
    "device_cuda": (["--device", "cuda"], r"--device 'cuda' was requested but PyTorch sees no CUDA GPU"),
    "device_mps": (["--device", "mps"], r"--device 'mps' was requested but Apple MPS is not available"),
    "prior_missing": (["--prior", "missing.safetensors"], r"prior file not found"),
    "report_folder_missing": (["--report", "nowhere/report.json"], r"the folder nowhere does not exist"),
    "report_is_input": (["--report", "scan.xyz"], r"report.* is also scan.xyz|scan.xyz: is also"),
    "report_is_folder": (["--report", "."], r"is a folder"),
    "output_folder_missing": (["-o", "nowhere/out.ply"], r"the folder nowhere does not exist"),
    "output_proc": (["-o", "/proc/out.ply"], r"cannot write files in the folder /proc"),
    "output_unknown_suffix": (["-o", "out.fbx"], r"cannot write '.fbx'"),
    "input_twice": (["scan.xyz"], r"scan.xyz is given twice"),
    "input_twice_other_path": (["./sub/../scan.xyz"], r"is given twice \(also as scan.xyz\)"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_invalid_options_and_paths_exit_2_before_any_work(tmp_path, scan, capsys, monkeypatch, name):
    extra, message = REFUSED[name]
    if name == "device_cuda":
        _cuda_or_skip()
    if name == "device_mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    monkeypatch.setattr(completion, "complete", lambda *a, **k: pytest.fail("a fit started"))
    before = files(tmp_path)
    inputs, options = (extra, []) if name.startswith("input") else ([], extra)
    argv = [*TINY, "-o", "out" if inputs else "out.ply", *options, "scan.xyz", *inputs]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 or "usage:" in err
    assert re.search(message, err), err
    assert files(tmp_path) == before


def test_the_options_are_the_settings_of_the_config(capsys):
    """Every setting with a command-line flag is an option with its help, and a config field's reaches the fit."""
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    usage = " ".join(capsys.readouterr().out.split())
    for name, flag in cli.FLAGS.items():
        assert flag in usage and " ".join(SETTINGS[name].help.split()[:4]) in usage, flag
    args = cli.parse_args(["scan.xyz", "-o", "out.ply", "--refine-steps", "7", "--symmetry", "x", "--width", "16",
                           "--prior", "none"])
    config, prior = cli.check_options(args)
    assert (config.refine_steps, config.symmetry, config.network.width, config.steps, prior) == (7, "x", 16, 200, None)


def test_output_that_is_the_input_is_refused(tmp_path, capsys):
    mesh = tmp_path / "scan.ply"
    trimesh.creation.icosphere().export(mesh)
    original = mesh.read_bytes()
    for output in (mesh, tmp_path / "." / "scan.ply", tmp_path / "link.ply"):
        if output.name == "link.ply":
            output.symlink_to(mesh)
        code, _, err = run([mesh, "-o", output, *TINY], capsys)
        assert code == 2 and "writing it would overwrite the scan" in err
    assert mesh.read_bytes() == original


def test_existing_folder_given_as_output_file_is_refused(tmp_path, scan, capsys):
    (tmp_path / "out.ply").mkdir()
    code, _, err = run([scan, "-o", tmp_path / "out.ply", *TINY], capsys)
    assert code == 2 and "out.ply: is a folder" in err
    assert files(tmp_path) == {"scan.xyz", "out.ply"}


def test_batch_output_that_is_an_existing_file_is_refused(tmp_path, scan, capsys):
    other = sphere(tmp_path / "other.xyz")
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run([scan, other, "-o", tmp_path / "notes.txt", *TINY], capsys)
    assert code == 2 and "exists and is not a folder" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_batch_output_that_would_overwrite_an_input_is_refused(tmp_path, capsys):
    first = sphere(tmp_path / "a.xyz")
    second = sphere(tmp_path / "a_completed.xyz")
    (tmp_path / "a_completed.ply").write_text("not mine to overwrite")  # stands for a finished result
    code, _, err = run([first, second, tmp_path / "a_completed.ply", "-o", tmp_path, *TINY], capsys)
    assert code == 2 and "writing it would overwrite the scan" in err


@pytest.mark.parametrize("output", ["res.stl", "res.PLY", "res.off", "res.xyz"])
def test_batch_output_with_a_file_suffix_is_refused_before_any_work(tmp_path, scan, capsys, monkeypatch, output):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(completion, "complete", lambda *a, **k: pytest.fail("a fit started"))
    code, _, err = run([scan, sphere(tmp_path / "b.xyz"), "-o", output, *TINY], capsys)
    assert code == 2 and "usage:" in err
    assert f"2 inputs need an output folder, not the file {output}" in err
    assert files(tmp_path) == {"scan.xyz", "b.xyz"}


def test_missing_output_folder_parent_is_refused(tmp_path, scan, capsys):
    code, _, err = run([scan, sphere(tmp_path / "b.xyz"), "-o", tmp_path / "no" / "out", *TINY], capsys)
    assert code == 2 and "does not exist" in err
    assert files(tmp_path) == {"scan.xyz", "b.xyz"}


# --- valid runs: every input processed, distinct outputs, own units, exact report
def test_same_names_from_different_folders_get_distinct_outputs(tmp_path, capsys):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    inputs = [sphere(tmp_path / "a" / "scan.xyz"), sphere(tmp_path / "b" / "scan.xyz", offset=5.0),
              sphere(tmp_path / "b" / "scan_2.xyz")]
    code, out, _ = run([*inputs, "-o", tmp_path / "out", "--report", tmp_path / "out" / "report.json", *TINY], capsys)
    assert code == 0 and "3 of 3 completed" in out
    assert files(tmp_path / "out") == {"scan_completed.ply", "scan_2_completed.ply", "scan_2_2_completed.ply",
                                       "report.json"}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [r["output"] for r in report] == [str(tmp_path / "out" / n) for n in
                                             ("scan_completed.ply", "scan_2_completed.ply", "scan_2_2_completed.ply")]
    # The second input was 5 units away: its result was written, not overwritten by the first.
    centres = [trimesh.load(r["output"]).bounds.mean(axis=0) for r in report]
    assert np.linalg.norm(centres[1] - 5.0) < 1.0 and np.linalg.norm(centres[0]) < 1.0


@pytest.mark.parametrize("offset, scale, suffix", [(1e6, 1.0, ".ply"), (1e6, 1.0, ".obj"), (1e300, 1e299, ".ply"),
                                                   (0.0, 1e-6, ".obj")])
def test_results_come_back_in_the_inputs_own_units(tmp_path, capsys, offset, scale, suffix):
    scan = sphere(tmp_path / "scan.xyz", offset=offset, scale=scale)
    code, out, _ = run([scan, "-o", tmp_path / f"out{suffix}", *TINY], capsys)
    assert code == 0, out
    vertices = np.asarray(trimesh.load(tmp_path / f"out{suffix}", process=False).vertices, dtype=np.float64)
    assert np.isfinite(vertices).all()
    # No float32 collapse: distinct vertices stay distinct, and the result spans the input's own extent.
    assert len(np.unique(vertices, axis=0)) == len(vertices)
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    assert np.all(extent > 0.5 * scale) and np.all(extent < 2 * 1.34 * scale)
    assert np.allclose(vertices.mean(axis=0), offset, rtol=1e-12, atol=0.5 * scale)
    assert files(tmp_path) == {"scan.xyz", f"out{suffix}"}


def test_batch_goes_on_after_bad_inputs_and_writes_its_report(tmp_path, capsys, monkeypatch):
    good = sphere(tmp_path / "good.xyz")
    bad_face = tmp_path / "bad_face.ply"
    bad_face.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                        "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
                        "0 0 0\n1 0 0\n0 1 0\n3 0 1 907\n")
    few = sphere(tmp_path / "few.xyz", count=50)
    flat = tmp_path / "flat.xyz"
    np.savetxt(flat, np.c_[np.random.default_rng(0).random((200, 2)), np.zeros(200)])
    crash = sphere(tmp_path / "crash.xyz")
    read = core_io.read_observation

    def crashing(path, **options):
        if Path(path).name == "crash.xyz":
            raise IndexError("index 907 is out of bounds")
        return read(path, **options)
    monkeypatch.setattr(core_io, "read_observation", crashing)
    inputs = [bad_face, tmp_path / "missing.ply", tmp_path / "empty.obj", few, flat, crash, good]
    (tmp_path / "empty.obj").write_text("")
    code, out, err = run([*inputs, "-o", tmp_path / "out", "--report", tmp_path / "report.json", *TINY], capsys)
    assert code == 1 and "1 of 7 completed, 6 failed" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["ok"] for r in report] == [False] * 6 + [True]
    causes = ["face 0 refers to vertex 907, but the file has 3 vertices", "no such file", "the file is empty",
              "50 points; at least 100", "lie on a plane", "unexpected IndexError: index 907.*a bug in NeuRep"]
    for record, cause in zip(report, causes):
        assert re.search(cause, record["error"]), record["error"]
    assert len(err.strip().splitlines()) == 6
    assert files(tmp_path / "out") == {"good_completed.ply"}


def test_outputs_honour_the_umask(tmp_path, scan, capsys):
    for umask, mode in ((0o022, 0o644), (0o027, 0o640)):
        old = os.umask(umask)
        try:
            code, _, _ = run([scan, "-o", tmp_path / f"out{umask}.ply", "--report", tmp_path / f"r{umask}.json", *TINY],
                             capsys)
        finally:
            os.umask(old)
        assert code == 0
        assert (tmp_path / f"out{umask}.ply").stat().st_mode & 0o777 == mode
        assert (tmp_path / f"r{umask}.json").stat().st_mode & 0o777 == mode


def test_interrupt_in_process_exits_130_and_leaves_nothing(tmp_path, scan, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli.os, "replace", interrupted)  # Ctrl-C at the worst moment: during the rename
    code, _, err = run([scan, "-o", tmp_path / "out.ply", "--report", tmp_path / "r.json", *TINY], capsys)
    assert code == 130 and len(err.strip().splitlines()) == 1 and err.startswith("interrupted")
    assert files(tmp_path) == {"scan.xyz"}


def test_failed_write_is_an_input_failure_and_leaves_no_part_file(tmp_path, scan, capsys, monkeypatch):
    def disk_full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(cli.os, "fsync", disk_full)
    code, _, err = run([scan, "-o", tmp_path / "out.ply", *TINY], capsys)
    assert code == 1 and "cannot write (No space left on device)" in err
    assert files(tmp_path) == {"scan.xyz"}


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_a_fit_exits_128_plus_its_number_with_one_line_and_no_files(tmp_path, signum, code):
    scan = sphere(tmp_path / "scan.xyz")
    argv = [sys.executable, str(SCRIPT), str(tmp_path / "missing.xyz"), str(scan), "-o", str(tmp_path / "out"),
            "--report", str(tmp_path / "report.json"), *TINY]
    argv[argv.index("--steps") + 1] = "100000"
    # A suite started in the background by a shell inherits SIGINT ignored, and so would the script (Python
    # installs no Ctrl-C handler then): the child gets the default disposition back, as in a terminal.
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert "missing.xyz: error" in process.stderr.readline()  # the second input's fit has begun
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code
    assert err.strip().splitlines() == ["interrupted: the input in progress was not written, nor the report"]
    assert files(tmp_path) == {"scan.xyz", "out"} and files(tmp_path / "out") == set()

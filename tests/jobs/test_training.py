"""The Train Prior use case's names and folder, without training (the Blender test trains)."""

from __future__ import annotations

import numpy as np
import pytest

from neurep_addon.core.errors import ConfigError, InputError, OutputError
from neurep_addon.jobs import training
from neurep_addon.meta.shape_space import Progress


def test_a_prior_name_is_a_file_name_and_may_hold_a_comma(tmp_path):
    assert training.prior_path(tmp_path, " boxes, v1 ") == tmp_path / "boxes, v1.safetensors"
    for bad in ("", "  ", "a/b", "a\\b", "a:b", ".hidden", "Default", "none"):
        with pytest.raises(ConfigError):
            training.check_prior_name(bad)


def test_the_folder_lists_priors_by_name_and_never_a_running_training(tmp_path):
    for name in ("b.safetensors", "A, c.safetensors", "notes.txt", ".training-x1.safetensors"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".training-abc").mkdir()
    assert [p.name for p in training.user_priors(tmp_path)] == ["A, c.safetensors", "b.safetensors"]
    assert training.user_priors(tmp_path / "missing") == [] and training.user_priors(None) == []
    training.remove_prior(tmp_path, "b")
    assert not (tmp_path / "b.safetensors").exists()
    with pytest.raises(InputError):
        training.remove_prior(tmp_path, "b")


def cube(offset=0.0):
    vertices = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float64) + offset
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],
                      [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return vertices, faces


def test_a_run_that_cannot_start_or_fails_leaves_nothing(tmp_path):
    with pytest.raises(InputError):
        training.train_prior([("one", *cube())], tmp_path, "p", minutes=1.0)
    with pytest.raises(ConfigError):
        training.train_prior([("a", *cube()), ("b", *cube(2.0))], tmp_path, "p", minutes=0.0)
    broken = cube()[0].copy()
    broken[3] = np.nan
    with pytest.raises(OutputError, match="not finite"):  # writing the collection fails inside the run
        training.train_prior([("a", *cube()), ("b", broken, cube()[1])], tmp_path, "p", minutes=1.0)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "p.safetensors").write_bytes(b"x")
    with pytest.raises(OutputError, match="exists"):
        training.train_prior([("a", *cube()), ("b", *cube(2.0))], tmp_path, "p", minutes=1.0)
    assert [p.name for p in tmp_path.iterdir()] == ["p.safetensors"]


def test_progress_reads_share_time_left_step_and_validation():
    assert training.progress_text(Progress(30.0, 120.0, 42, 0.1, None, None)) == \
        "25%, 1:30 left, step 42, no validation yet"
    assert training.progress_text(Progress(130.0, 120.0, 99, 0.1, 0.0123, 0.011)) == \
        "100%, 0:00 left, step 99, validation 0.0123 (best 0.0110)"


def test_leftovers_of_a_killed_run_are_found_by_its_name(tmp_path):
    for name in (".training-a[1]-x1", ".training-a[1]-x2", ".training-b-x1"):
        (tmp_path / name).mkdir()
    training.remove_leftovers(tmp_path, "a[1]")
    assert [p.name for p in tmp_path.iterdir()] == [".training-b-x1"]

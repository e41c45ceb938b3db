import numpy as np
import pytest

from neurep_addon.core.errors import InputError
from neurep_addon.tasks.bank import TaskBank, build_bank
from neurep_addon.tasks.tasks import task_seed


def test_a_bank_holds_exactly_the_tasks_it_was_made_from(procedural_shapes, tmp_path):
    bank = build_bank(procedural_shapes, tmp_path / "bank", count=5, seed=3, shard_size=2, log=lambda m: None)
    assert len(bank) == 5 and len(list((tmp_path / "bank").glob("shard-*.npz"))) == 3
    for index in (0, 3, 4):
        stored, made = bank[index], procedural_shapes.task(task_seed(3, index))
        assert (stored.name, stored.kind) == (made.name, made.kind)
        for field in ("points", "normals", "target_points", "field_sdf"):
            np.testing.assert_array_equal(getattr(stored, field), getattr(made, field))
    with pytest.raises(IndexError):
        bank[5]


def test_a_bank_is_built_in_pieces_and_says_when_a_shard_is_missing(procedural_shapes, tmp_path):
    folder = tmp_path / "bank"
    build_bank(procedural_shapes, folder, count=4, shard_size=2, log=lambda m: None)
    first = (folder / "shard-00000.npz").stat().st_mtime_ns
    (folder / "shard-00001.npz").unlink()
    messages = []
    build_bank(procedural_shapes, folder, count=4, shard_size=2, log=messages.append)
    assert messages == ["bank: shard 1 (2 tasks) written"]  # the existing shard was kept
    assert (folder / "shard-00000.npz").stat().st_mtime_ns == first
    (folder / "shard-00001.npz").unlink()
    with pytest.raises(InputError, match="missing shard"):
        TaskBank(folder)[3]
    with pytest.raises(InputError, match="not a task bank"):
        TaskBank(tmp_path)

"""A task bank: tasks made ahead into sharded ``.npz`` files, reused across epochs and runs.

Making a task (augmenting a shape, scanning it, estimating normals, the ground-truth distances) costs
about 0.25-0.45 s on one core, as much as a meta-iteration or more. A bank makes each task once: task i
is ``shapes.task(task_seed(seed, i))``, stored in shard i // shard_size, so a bank is reproducible, can
be built in pieces (existing shards are kept) and is read back by index. The shards hold float32 arrays
only; they load with ``allow_pickle=False``.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.io import write_atomically
from .tasks import ShapeDistribution, Task, task_seed

ARRAYS = ("points", "normals", "target_points", "target_normals", "field_points", "field_sdf")
MANIFEST = "bank.json"


def build_bank(shapes: ShapeDistribution, folder: str | Path, count: int, seed: int = 0,
               shard_size: int = 32, log=print) -> "TaskBank":
    """Make tasks 0..count-1 into ``folder`` (shards already there are kept); returns the bank."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"count": count, "seed": seed, "shard_size": shard_size,
                "task_config": dataclasses.asdict(shapes.config), "meshes": shapes.names}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    for shard in range((count + shard_size - 1) // shard_size):
        path = folder / f"shard-{shard:05d}.npz"
        if path.is_file():
            continue
        indices = range(shard * shard_size, min(count, (shard + 1) * shard_size))
        tasks = [shapes.task(task_seed(seed, i)) for i in indices]
        arrays = {f"{j}.{name}": getattr(task, name) for j, task in enumerate(tasks) for name in ARRAYS}
        labels = np.array([f"{task.name}|{task.kind}" for task in tasks])
        shard_bytes = io.BytesIO()
        np.savez(shard_bytes, labels=labels, **arrays)
        write_atomically(path, shard_bytes.getvalue())
        log(f"bank: shard {shard} ({len(tasks)} tasks) written")
    return TaskBank(folder)


class TaskBank:
    """Read access to a bank folder: ``len(bank)`` tasks, ``bank[i]`` is task i (shards cached)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.folder}: not a task bank ({exc})") from exc
        self.count, self.seed, self.shard_size = manifest["count"], manifest["seed"], manifest["shard_size"]
        self._shard, self._arrays = -1, {}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Task:
        if not 0 <= index < self.count:
            raise IndexError(f"task {index} is not in the bank of {self.count}")
        shard, j = divmod(index, self.shard_size)
        if shard != self._shard:
            path = self.folder / f"shard-{shard:05d}.npz"
            if not path.is_file():
                raise InputError(f"{path}: missing shard; build the bank again (existing shards are kept)")
            with np.load(path, allow_pickle=False) as data:
                self._arrays = {key: data[key] for key in data.files}
            self._shard = shard
        name, kind = str(self._arrays["labels"][j]).split("|")
        return Task(**{name_: self._arrays[f"{j}.{name_}"] for name_ in ARRAYS}, name=name, kind=kind)

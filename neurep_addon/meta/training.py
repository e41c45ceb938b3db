"""The meta-training loop: task pool, validation, checkpoints, the training curve.

One run can be many shorter runs: ``train(..., resume=True)`` continues from ``OUT.ckpt``, which holds the
whole state (meta-parameters, step sizes, optimiser, iteration, curve, CPU time so far). The tasks and the
random draws of every iteration are pure functions of the seed and the iteration, so a resumed run takes
exactly the steps the uninterrupted one would have taken. A checkpoint is written every
``checkpoint_every`` iterations and when the process is asked to stop (SIGTERM, SIGINT), so a run killed
at any moment loses at most the iterations since the last one. Only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.errors import PriorError
from ..core.fit import FitSession
from ..core.prior import Prior
from ..core.prior_io import save_prior
from ..tasks.bank import TaskBank
from ..tasks.tasks import ShapeDistribution, task_seed
from .learner import MetaConfig, MetaLearner, TaskTensors, completion_loss, world


def validate(prior: Prior | None, tasks: list[TaskTensors], config: MetaConfig, steps: int,
             device: torch.device) -> float:
    """Mean completion loss after ``steps`` steps of the engine's own fit on each partial observation.

    This is the run-time path (``FitSession`` with the prior's learned steps, then Adam), so it scores a
    MetaSDF prior, a Reptile prior and random initialisation (``prior=None``) alike.
    """
    fit = config.inner_fit(steps)
    total = 0.0
    for index, task in enumerate(tasks):
        session = FitSession(task.points, task.normals, fit, prior=prior, device=device.type, seed=index)
        session.run()
        generator = torch.Generator(device=device).manual_seed(index)
        total += float(completion_loss(session.network, task, config.outer_points, generator, config.weights,
                                       config.field_weight, create_graph=False,
                                       field_clamp=config.field_clamp).detach())
    return total / len(tasks)


class TaskPool:
    """This process's share of the task pool, as a pure function of the iteration (so resume is exact).

    Slot s of rank r starts with task r + world * s; refresh k (at iteration k * refresh_every) replaces
    slot (k - 1) mod S with task pool_size + world * (k - 1) + r. With a ``bank``, task i is read from it
    (index i modulo its size: the bank is reused epoch after epoch) instead of being made.
    """

    def __init__(self, shapes: ShapeDistribution, config: MetaConfig, device: torch.device,
                 iteration: int = 0, bank: TaskBank | None = None) -> None:
        self.shapes, self.config, self.device, self.bank = shapes, config, device, bank
        self.rank, self.world = world()
        self.size = max(1, config.pool_size // self.world)
        refreshes = iteration // config.refresh_every if config.refresh_every else 0
        self.slots = [self._make(self._latest_index(s, refreshes)) for s in range(self.size)]

    def _latest_index(self, slot: int, refreshes: int) -> int:
        if refreshes > slot:
            last = slot + ((refreshes - 1 - slot) // self.size) * self.size + 1  # latest k with (k-1)%S == slot
            return self.config.pool_size + self.world * (last - 1) + self.rank
        return self.rank + self.world * slot

    def _make(self, index: int) -> TaskTensors:
        task = (self.bank[index % len(self.bank)] if self.bank is not None
                else self.shapes.task(task_seed(self.config.seed, index)))
        return TaskTensors.of(task, self.device)

    def draw(self, iteration: int) -> list[TaskTensors]:
        """The tasks of ``iteration`` (refreshing one slot first when it is due)."""
        c = self.config
        if c.refresh_every and iteration > 0 and iteration % c.refresh_every == 0:
            k = iteration // c.refresh_every
            self.slots[(k - 1) % self.size] = self._make(c.pool_size + self.world * (k - 1) + self.rank)
        rng = np.random.default_rng([c.seed, 2, self.rank, iteration])
        return [self.slots[i] for i in rng.choice(self.size, size=min(c.meta_batch, self.size), replace=False)]


@dataclass
class History:
    """Training curve: per logged iteration the mean training loss; per validation the completion loss
    of the current prior after 0 and K steps, and of random initialisation after K steps; and what it cost."""

    train: list[tuple[int, float]] = field(default_factory=list)
    validation: list[tuple[int, float, float]] = field(default_factory=list)
    random_init: float = math.nan
    best: tuple[int, float] = (-1, math.inf)
    cpu_seconds: float = 0.0
    """CPU time of this process (summed over the runs that resumed each other), validation included."""
    wall_seconds: float = 0.0


def train(config: MetaConfig, train_shapes: ShapeDistribution, validation_shapes: ShapeDistribution,
          out: Path, provenance: dict[str, str], resume: bool = False, device: torch.device | str = "cpu",
          log: Callable[[str], None] = print, init: Prior | None = None, bank: TaskBank | None = None) -> History:
    """Meta-train a prior and write it (best validation) to ``out``.

    Writes ``out`` + ``.ckpt`` (the whole training state) and ``out`` + ``.png`` (training curve). With
    ``resume``, continues from the checkpoint (``config`` may change what does not change the learner:
    iterations, intervals, learning rates); otherwise starts from ``init`` (a prior to fine-tune) or from
    random weights. ``bank``: training tasks made ahead (``tasks.bank``) instead of on the fly. Returns early,
    after a checkpoint, when SIGTERM or SIGINT arrives.
    """
    out = Path(out)
    device = torch.device(device)
    rank, processes = world()
    checkpoint = out.with_name(out.name + ".ckpt")
    learner = MetaLearner(config, device, init=None if resume else init)
    history = History()
    if resume:
        if not checkpoint.is_file():
            raise PriorError(f"{checkpoint}: no checkpoint to resume from")
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        learner.load_state(state)
        saved = state["history"]
        history = History(train=[tuple(x) for x in saved["train"]],
                          validation=[tuple(x) for x in saved["validation"]],
                          random_init=saved["random_init"], best=tuple(saved["best"]),
                          cpu_seconds=saved.get("cpu_seconds", 0.0), wall_seconds=saved.get("wall_seconds", 0.0))
        log(f"resumed from {checkpoint} at iteration {learner.iteration} "
            f"({history.cpu_seconds / 3600:.2f} CPU-hours so far)")

    cpu_start, wall_start = time.process_time() - history.cpu_seconds, time.perf_counter() - history.wall_seconds

    def account() -> None:
        history.cpu_seconds = time.process_time() - cpu_start
        history.wall_seconds = time.perf_counter() - wall_start

    stop = []
    previous = {s: signal.signal(s, lambda number, frame: stop.append(number))
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        clock = time.perf_counter()
        pool = TaskPool(train_shapes, config, device, learner.iteration, bank)
        validation_tasks = []
        if rank == 0:
            validation_tasks = [TaskTensors.of(validation_shapes.task(task_seed(config.seed + 1_000_003, i)),
                                               device) for i in range(config.validation_tasks)]
        log(f"rank {rank}/{processes}: {pool.size} training tasks and {len(validation_tasks)} validation tasks "
            f"drawn in {time.perf_counter() - clock:.0f} s")

        def provenance_now() -> dict[str, str]:
            return {**provenance, "algorithm": config.algorithm, "iterations": str(learner.iteration),
                    "cpu_hours": f"{history.cpu_seconds / 3600:.2f} per process",
                    "meta_config": json.dumps(config.to_dict(), sort_keys=True), "processes": str(processes),
                    "best_validation": f"iteration {history.best[0]}: {history.best[1]:.4f}",
                    "random_init_validation": f"{history.random_init:.4f}"}

        def save_checkpoint() -> None:
            account()
            state = learner.state()
            state["history"] = dataclasses.asdict(history)
            temp = checkpoint.with_name(checkpoint.name + ".part")
            torch.save(state, temp)
            temp.replace(checkpoint)
            plot_history(history, config, out.with_name(out.name + ".png"))

        if rank == 0 and math.isnan(history.random_init):
            history.random_init = validate(None, validation_tasks, config, config.validation_steps, device)
            log(f"validation: random init after {config.validation_steps} steps {history.random_init:.4f}")
        started, window = time.perf_counter(), []
        first = learner.iteration
        while learner.iteration < config.iterations and not stop:
            iteration = learner.iteration
            window.append(learner.step(pool.draw(iteration)))
            done = learner.iteration
            if done % config.log_every == 0 or done == config.iterations:
                account()
                finite = [x for x in window if math.isfinite(x)]
                mean = float(np.mean(finite)) if finite else math.nan
                history.train.append((done, mean))
                per_iteration = (time.perf_counter() - started) / (done - first)
                log(f"iteration {done}/{config.iterations}  loss {mean:.4f}  "
                    f"({per_iteration:.2f} s/it, {len(window) - len(finite)} skipped, "
                    f"{history.cpu_seconds / 3600:.2f} CPU-h, "
                    f"eta {per_iteration * (config.iterations - done) / 60:.1f} min)")
                window = []
            if rank == 0 and (done % config.validate_every == 0 or done == config.iterations):
                prior = learner.prior()
                at_zero = validate(prior, validation_tasks, config, 0, device)
                at_k = validate(prior, validation_tasks, config, config.validation_steps, device)
                history.validation.append((done, at_zero, at_k))
                best = at_k < history.best[1]
                if best:
                    history.best = (done, at_k)
                    account()
                    save_prior(learner.prior(provenance_now()), out)
                log(f"validation at {done}: after 0 steps {at_zero:.4f}, after {config.validation_steps} steps "
                    f"{at_k:.4f} (random init {history.random_init:.4f}){'  best, saved' if best else ''}")
            if rank == 0 and (done % config.checkpoint_every == 0 or done == config.iterations):
                save_checkpoint()
        if stop and rank == 0:
            save_checkpoint()
            log(f"stopped by signal {stop[0]} at iteration {learner.iteration}; checkpoint in {checkpoint}")
        elif rank == 0:
            log(f"done: best validation {history.best[1]:.4f} at iteration {history.best[0]}; prior in {out}")
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return history


def plot_history(history: History, config: MetaConfig, path: Path) -> None:
    """Training curve PNG: training loss and validation completion losses against iterations."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=90)
    if history.train:
        it, loss = zip(*history.train)
        ax.plot(it, loss, color="0.6", lw=1, label="training (outer) loss" if config.algorithm != "reptile"
                else "training (fit) loss")
    if history.validation:
        it, at_zero, at_k = zip(*history.validation)
        ax.plot(it, at_zero, "o-", ms=3, label="validation, prior after 0 steps")
        ax.plot(it, at_k, "o-", ms=3, label=f"validation, prior after {config.validation_steps} steps")
    if math.isfinite(history.random_init):
        ax.axhline(history.random_init, color="k", ls="--", lw=1,
                   label=f"validation, random init after {config.validation_steps} steps")
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("completion loss (lower is better)")
    ax.set_yscale("log")
    cost = f", {history.cpu_seconds / 3600:.1f} CPU-hours" if history.cpu_seconds else ""
    ax.set_title(f"{config.algorithm} prior, {config.network.encoding} "
                 f"{config.network.width}x{config.network.depth}{cost}", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

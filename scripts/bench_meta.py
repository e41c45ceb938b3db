"""Where a meta-iteration's time goes, and which cheaper iteration keeps the prior's validation quality.

    python scripts/bench_meta.py --data ../shared/data/meshes [--iterations 600] [--bank out/bench_meta_bank]

Part 1 profiles one MetaSDF iteration (CPU seconds, one thread): making a task on the fly or reading it from
a task bank, drawing the batches (with their sign hints), the K inner learned steps, the outer loss and the
meta-gradient. Part 2 trains each variant from the same random weights on the same banked tasks for the
same number of iterations and scores the result on the same validation tasks (completion loss after K fit
steps, as ``train_prior.py`` does). Writes ``docs/bench_meta.json`` and the "meta" section of
``docs/BENCHMARKS.md``. Compare CPU seconds within one run only: the machine is shared.

    python scripts/bench_meta.py --data ../shared/data/meshes --batch-cost 2,8,16 [--device cuda --out DIR]

only times an iteration at each meta-batch size, first and second order (the "meta-batch" section on the
CPU; ``DIR/bench_meta_batch_cuda.json`` on a GPU, which ``scripts/gpu_check.sh`` runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from neurep_addon.core.losses import sample_batch  # noqa: E402
from neurep_addon.core.fit import stacked_field  # noqa: E402
from neurep_addon.meta.learner import MetaConfig, MetaLearner, TaskTensors, completion_losses  # noqa: E402
from neurep_addon.meta.training import validate  # noqa: E402
from neurep_addon.tasks.bank import build_bank  # noqa: E402
from neurep_addon.tasks.shapes import mesh_files, split_files  # noqa: E402
from neurep_addon.tasks.tasks import ShapeDistribution, TaskConfig, task_seed  # noqa: E402
from scripts.docsection import write_section  # noqa: E402

VARIANTS = {
    "second order, 512 inner points (before)": {},
    "first order, 512 inner points": {"first_order": True},
    "first order, 256 inner points": {"first_order": True, "inner_points": 256},
    "first order, 256 inner, 512 outer points": {"first_order": True, "inner_points": 256, "outer_points": 512},
}
"""Name -> changes to the training default ``MetaConfig`` (second order, 512 inner and 1024 outer points)."""


def cpu() -> float:
    return time.process_time()


def profile(config: MetaConfig, tasks: list[TaskTensors], repeats: int) -> dict[str, float]:
    """Mean CPU seconds per iteration (meta-batch ``config.meta_batch``) of each part of a MetaSDF step."""
    learner = MetaLearner(config)
    parts = {"batches and sign hints": 0.0, "inner learned steps": 0.0, "outer loss": 0.0,
             "meta-gradient (backward)": 0.0}
    for repeat in range(repeats):
        batch = tasks[repeat * config.meta_batch:(repeat + 1) * config.meta_batch]
        generators = [torch.Generator().manual_seed(repeat * 100 + t) for t in range(len(batch))]
        clock = cpu()
        for task, generator in zip(batch, generators):
            for _ in range(config.inner_steps):
                sample_batch(task.points, task.normals, config.inner_points, generator)
            sample_batch(task.target_points, task.target_normals, config.outer_points, generator)
        parts["batches and sign hints"] += cpu() - clock
        clock = cpu()
        adapted = learner.adapt([(task.points, task.normals) for task in batch], generators,
                                second_order=not config.first_order)
        parts["inner learned steps"] += cpu() - clock
        clock = cpu()
        losses = completion_losses(stacked_field(learner.network, adapted), batch, config.outer_points,
                                   generators, config.weights, config.field_weight)
        parts["outer loss"] += cpu() - clock
        clock = cpu()
        torch.autograd.grad(sum(losses) / len(batch), learner.meta_tensors())
        parts["meta-gradient (backward)"] += cpu() - clock
    # The batches were drawn twice (once alone, once inside the steps): take them out of the steps' share.
    parts["inner learned steps"] -= parts["batches and sign hints"]
    return {name: seconds / repeats for name, seconds in parts.items()}


def batch_cost(tasks: list[TaskTensors], device: torch.device, meta_batches: list[int], repeats: int) -> dict:
    """Seconds per meta-iteration (wall clock, synchronised on a GPU) at each meta-batch size, first and
    second order, with the recipe of the long training (256 inner, 512 outer points): the tasks of a
    meta-batch run as one vectorised computation, so on a GPU a larger meta-batch costs little more."""
    rows = {}
    for first_order in (True, False):
        for size in meta_batches:
            config = MetaConfig(first_order=first_order, inner_points=256, outer_points=512, meta_batch=size)
            learner = MetaLearner(config, device=device)
            batches = [[tasks[(i * size + t) % len(tasks)] for t in range(size)] for i in range(repeats + 1)]
            learner.step(batches[0])  # warm-up (kernels, allocator)
            if device.type == "cuda":
                torch.cuda.synchronize()
            clock = time.perf_counter()
            for batch in batches[1:]:
                learner.step(batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = (time.perf_counter() - clock) / repeats
            name = f"{'first' if first_order else 'second'} order, meta-batch {size}"
            rows[name] = {"seconds_per_iteration": round(seconds, 4), "seconds_per_task": round(seconds / size, 4)}
            print(f"{name}: {rows[name]}", flush=True)
    return rows


def batch_report(results: dict) -> str:
    lines = ["## Meta-batch cost (`scripts/bench_meta.py --batch-cost`)", "",
             f"Seconds per MetaSDF iteration ({results['inner_steps']} learned steps, 256 inner and 512 outer points, "
             f"the long training's recipe), wall clock, mean of {results['repeats']} iterations after one warm-up. "
             "The tasks of a meta-batch run as one vectorised computation (stacked weights, `fit.learned_steps`). "
             f"{results['machine']}", "",
             "| meta-gradient, meta-batch | s per iteration | s per task |", "|---|---:|---:|"]
    lines += [f"| {name} | {row['seconds_per_iteration']:.3f} | {row['seconds_per_task']:.4f} |"
              for name, row in results["rows"].items()]
    return "\n".join(lines) + "\n"


def train_variant(config: MetaConfig, pool: list[TaskTensors], validation: list[TaskTensors]) -> dict:
    """Train from the seed's random weights on ``pool`` for ``config.iterations``; CPU seconds and score."""
    learner = MetaLearner(config)
    clock = cpu()
    for iteration in range(config.iterations):
        pick = np.random.default_rng([config.seed, 2, iteration]).choice(len(pool), config.meta_batch, replace=False)
        learner.step([pool[i] for i in pick])
    seconds = cpu() - clock
    score = validate(learner.prior(), validation, config, config.inner_steps, torch.device("cpu"))
    return {"cpu_seconds": round(seconds, 1), "seconds_per_iteration": round(seconds / config.iterations, 4),
            "validation": round(score, 4)}


def report(results: dict) -> str:
    profile_rows = results["profile"]
    lines = [
        "## Meta-training cost (`scripts/bench_meta.py`)", "",
        f"One MetaSDF iteration (meta-batch {results['meta_batch']}, K = {results['inner_steps']} learned steps), "
        "CPU seconds on one thread, mean of "
        f"{results['repeats']} iterations on tasks of the training meshes. {results['machine']}", "",
        "| variant | making the tasks on the fly | reading them from the bank | batches and sign hints | "
        "inner learned steps | outer loss | meta-gradient | **total with the bank** |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, parts in profile_rows.items():
        compute = sum(parts.values())
        lines.append(f"| {name} | {results['task_seconds_per_iteration']:.3f} | "
                     f"{results['bank_seconds_per_iteration']:.4f} | "
                     + " | ".join(f"{parts[k]:.3f}" for k in ("batches and sign hints", "inner learned steps",
                                                             "outer loss", "meta-gradient (backward)"))
                     + f" | **{compute + results['bank_seconds_per_iteration']:.3f}** |")
    first = sum(next(iter(profile_rows.values())).values()) + results["task_seconds_per_iteration"]
    lines += ["", f"Task making is amortised over the pool's refresh (one new task every "
              f"{results['refresh_every']} iterations per process): {results['task_seconds_per_task']:.2f} s per task. "
              f"Before the bank and these variants an iteration cost {first:.3f} s.", "",
              f"Quality at equal iterations: each variant trained {results['iterations']} iterations from the same "
              f"random weights on the same {results['pool']} banked tasks, scored on the same "
              f"{results['validation_tasks']} validation tasks of the held-out meshes (completion loss after "
              f"{results['inner_steps']} fit steps, lower is better; random weights: "
              f"{results['random_init']:.3f}).", "",
              "| variant | CPU s per iteration | cheaper than before | validation after training |",
              "|---|---:|---:|---:|"]
    before = None
    for name, row in results["training"].items():
        tasks = results["task_seconds_per_iteration" if before is None else "bank_seconds_per_iteration"]
        cost = row["seconds_per_iteration"] + tasks
        before = before or cost
        lines.append(f"| {name} | {cost:.3f} | {before / cost:.1f}x | {row['validation']:.3f} |")
    lines += ["", "CPU seconds per iteration include the tasks: made on the fly in the first row (as training did "
              "before the bank), read from the bank in the others."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_meta.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder of complete meshes (the training collection)")
    parser.add_argument("--iterations", type=int, default=600, help="training iterations per variant")
    parser.add_argument("--pool", type=int, default=64, help="banked training tasks shared by the variants")
    parser.add_argument("--validation-tasks", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=6, help="profiled iterations per variant")
    parser.add_argument("--bank", default=str(ROOT / "out" / "bench_meta_bank"))
    parser.add_argument("--results", default=None, help="results file (default docs/bench_meta.json, or "
                        "docs/bench_meta_batch[_DEVICE].json with --batch-cost)")
    parser.add_argument("--batch-cost", default=None, metavar="SIZES",
                        help="only time a meta-iteration at these comma-separated meta-batch sizes, first and "
                             "second order (writes the 'meta-batch' section on the CPU, files only elsewhere)")
    parser.add_argument("--device", default="cpu", help="device of --batch-cost")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder of --batch-cost's results file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.batch_cost:
        return main_batch_cost(args)
    args.results = args.results or str(ROOT / "docs" / "bench_meta.json")
    defaults = MetaConfig()
    train_files, validation_files = split_files(mesh_files(args.data), 0.2)
    task_config = TaskConfig(procedural_fraction=0.5)
    shapes = ShapeDistribution.from_files(train_files, task_config)

    clock = cpu()
    made = [shapes.task(task_seed(99, i)) for i in range(8)]
    task_seconds = (cpu() - clock) / len(made)
    bank = build_bank(shapes, args.bank, args.pool, seed=0)
    clock = cpu()
    banked = [TaskTensors.of(bank[i], "cpu") for i in range(len(bank))]
    bank_seconds = (cpu() - clock) / len(banked)
    validation_shapes = ShapeDistribution.from_files(validation_files, task_config)
    validation = [TaskTensors.of(validation_shapes.task(task_seed(1_000_003, i)), "cpu")
                  for i in range(args.validation_tasks)]

    results = {"machine": "2-core shared CPU, no GPU; a prior training ran on the other core.",
               "meta_batch": defaults.meta_batch, "inner_steps": defaults.inner_steps,
               "refresh_every": defaults.refresh_every, "repeats": args.repeats, "iterations": args.iterations,
               "pool": len(banked), "validation_tasks": len(validation),
               "task_seconds_per_task": task_seconds,
               "task_seconds_per_iteration": task_seconds / defaults.refresh_every,
               "bank_seconds_per_iteration": bank_seconds / defaults.refresh_every,
               "random_init": validate(None, validation, defaults, defaults.inner_steps, torch.device("cpu")),
               "profile": {}, "training": {}}
    for name, changes in VARIANTS.items():
        config = dataclasses.replace(defaults, iterations=args.iterations, **changes)
        results["profile"][name] = profile(config, banked, args.repeats)
        results["training"][name] = train_variant(config, banked, validation)
        print(f"{name}: {results['profile'][name]}  {results['training'][name]}", flush=True)
        Path(args.results).write_text(json.dumps(results, indent=1))
    write_section(ROOT / "docs" / "BENCHMARKS.md", "meta", report(results))
    print(report(results))
    return 0


def main_batch_cost(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    train_files, _ = split_files(mesh_files(args.data), 0.2)
    bank = build_bank(ShapeDistribution.from_files(train_files, TaskConfig(procedural_fraction=0.5)), args.bank,
                      args.pool, seed=0)
    tasks = [TaskTensors.of(bank[i], device) for i in range(len(bank))]
    machine = (f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}." if device.type == "cuda"
               else "CPU, one thread of a shared 2-core machine.")
    results = {"machine": machine, "inner_steps": MetaConfig().inner_steps, "repeats": args.repeats,
               "rows": batch_cost(tasks, device, [int(n) for n in args.batch_cost.split(",")], args.repeats)}
    suffix = "" if device.type == "cpu" else f"_{device.type}"
    path = Path(args.results or Path(args.out) / f"bench_meta_batch{suffix}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    report_text = batch_report(results)
    if device.type == "cpu" and Path(args.out).resolve() == (ROOT / "docs").resolve():
        write_section(ROOT / "docs" / "BENCHMARKS.md", "meta-batch", report_text)
    print(report_text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

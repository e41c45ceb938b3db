"""Meta-train a NeuRep prior on a folder of meshes (plus procedural shapes).

    python scripts/train_init_prior.py --data MESHES/ --out my_prior.safetensors [options]
    torchrun --nproc_per_node=N scripts/train_init_prior.py --data MESHES/ --out my_prior.safetensors [options]

The folder's meshes (OBJ/OFF/PLY/STL) are split into training and validation shapes (``--val-fraction``);
partial scans of the training shapes are the tasks, those of the validation shapes score the prior.
Writes OUT (the prior with the best validation score), OUT.ckpt (checkpoint; ``--resume`` continues from
it) and OUT.png (training curve). Under torchrun every process trains on its own tasks and the updates
are averaged (gloo on the CPU, NCCL on GPUs); only rank 0 writes files.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from neurep_addon.core.config import DEVICES, ENCODINGS, NetworkConfig  # noqa: E402
from neurep_addon.core.errors import ConfigError, NeuRepError  # noqa: E402
from neurep_addon.meta.learner import ALGORITHMS, MetaConfig  # noqa: E402
from neurep_addon.meta.training import train  # noqa: E402
from neurep_addon.core.prior_io import FORMAT, resolve_prior  # noqa: E402
from neurep_addon.tasks.bank import build_bank  # noqa: E402
from neurep_addon.tasks.shapes import FAMILIES, mesh_files, split_files  # noqa: E402
from neurep_addon.tasks.tasks import ShapeDistribution, TaskConfig  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    defaults, net = MetaConfig(), NetworkConfig()
    parser = argparse.ArgumentParser(prog="train_init_prior.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", required=True, help="folder of complete meshes (OBJ/OFF/PLY/STL)")
    parser.add_argument("--out", required=True, help="prior file to write (.safetensors)")
    parser.add_argument("--algorithm", choices=ALGORITHMS, default=defaults.algorithm)
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--inner-steps", type=int, default=defaults.inner_steps, help="K")
    parser.add_argument("--inner-points", type=int, default=defaults.inner_points)
    parser.add_argument("--outer-points", type=int, default=defaults.outer_points)
    parser.add_argument("--meta-batch", type=int, default=defaults.meta_batch, help="tasks per iteration and process")
    parser.add_argument("--first-order", action="store_true", help="first-order MAML (cheaper, MetaSDF only)")
    parser.add_argument("--outer-lr", type=float, default=defaults.outer_lr)
    parser.add_argument("--inner-lr-init", type=float, default=defaults.inner_lr_init)
    parser.add_argument("--inner-lr-lr", type=float, default=defaults.inner_lr_lr)
    parser.add_argument("--field-weight", type=float, default=defaults.field_weight,
                        help="weight of |f - sdf| over the box in the outer loss")
    parser.add_argument("--field-clamp", type=float, default=defaults.field_clamp,
                        help="clamp both distances of that term to +-this first (0: no clamp)")
    parser.add_argument("--fit-steps", type=int, default=defaults.fit_steps,
                        help="iMAML: steps of the engine's fit in the inner loop (learned steps included)")
    parser.add_argument("--imaml-lambda", type=float, default=defaults.imaml_lambda,
                        help="iMAML: proximal strength lambda of the implicit meta-gradient")
    parser.add_argument("--cg-steps", type=int, default=defaults.cg_steps,
                        help="iMAML: conjugate-gradient iterations per task")
    parser.add_argument("--reptile-epsilon", type=float, default=defaults.reptile_epsilon)
    parser.add_argument("--pool-size", type=int, default=defaults.pool_size)
    parser.add_argument("--refresh-every", type=int, default=defaults.refresh_every)
    parser.add_argument("--validation-tasks", type=int, default=defaults.validation_tasks)
    parser.add_argument("--validate-every", type=int, default=defaults.validate_every)
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--log-every", type=int, default=defaults.log_every)
    parser.add_argument("--val-fraction", type=float, default=0.2, help="meshes held out for validation")
    parser.add_argument("--procedural-fraction", type=float, default=TaskConfig().procedural_fraction,
                        help="share of tasks on procedural shapes (1 = no meshes needed)")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help="comma-separated procedural families to draw from (a subset, with "
                             "--procedural-fraction 1 for a family prior); the families are " + ", ".join(FAMILIES))
    parser.add_argument("--init", metavar="PRIOR",
                        help="start from this prior ('default' or a file) instead of random weights: "
                             "fine-tunes it, keeping its network")
    parser.add_argument("--encoding", choices=ENCODINGS, help=f"(default: {net.encoding}, or the --init prior's)")
    parser.add_argument("--width", type=int, help=f"(default: {net.width}, or the --init prior's)")
    parser.add_argument("--depth", type=int, help=f"(default: {net.depth}, or the --init prior's)")
    parser.add_argument("--omega-0", type=float, help=f"(default: {net.omega_0}, or the --init prior's)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default="auto", choices=[d for d in DEVICES if d != "mps"],
                        help="cuda trains with TF32 matrix products; the state it writes resumes on either")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    parser.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    parser.add_argument("--bank", metavar="DIR",
                        help="make the training tasks ahead into this folder (sharded .npz, kept between runs; "
                             "missing shards are made first) and draw them from it instead of on the fly")
    parser.add_argument("--bank-size", type=int, default=2000, help="tasks in the --bank")
    return parser.parse_args(argv)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if distributed:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    rank = dist.get_rank() if distributed else 0
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device("cpu")

    def log(message: str) -> None:
        if rank == 0:
            print(message, flush=True)

    try:
        init = resolve_prior(args.init) if args.init else None
        asked = {k: v for k, v in (("encoding", args.encoding), ("width", args.width), ("depth", args.depth),
                                   ("omega_0", args.omega_0)) if v is not None}
        network = dataclasses.replace(init.network if init else NetworkConfig(), **asked)
        if init is not None and network != init.network:
            raise ConfigError("init", f"{args.init} fixes the network ({init.network.encoding}, width "
                             f"{init.network.width}, depth {init.network.depth}, omega_0 {init.network.omega_0}); "
                             f"drop --{' --'.join(k.replace('_', '-') for k in asked)} or start without --init")
        config = MetaConfig(
            algorithm=args.algorithm, iterations=args.iterations, inner_steps=args.inner_steps,
            inner_points=args.inner_points, outer_points=args.outer_points, meta_batch=args.meta_batch,
            first_order=args.first_order, outer_lr=args.outer_lr, inner_lr_init=args.inner_lr_init,
            inner_lr_lr=args.inner_lr_lr, field_weight=args.field_weight, field_clamp=args.field_clamp,
            fit_steps=args.fit_steps, imaml_lambda=args.imaml_lambda, cg_steps=args.cg_steps,
            reptile_epsilon=args.reptile_epsilon, pool_size=args.pool_size,
            refresh_every=args.refresh_every, validation_tasks=args.validation_tasks,
            validate_every=args.validate_every, checkpoint_every=args.checkpoint_every,
            log_every=args.log_every, seed=args.seed,
            network=network)
        families = tuple(f.strip() for f in args.families.split(",") if f.strip())
        task_config = TaskConfig(procedural_fraction=args.procedural_fraction, families=families)
        files = mesh_files(args.data) if args.procedural_fraction < 1 else []
        train_files, validation_files = split_files(files, args.val_fraction, args.seed) if files else ([], [])
        log(f"{len(train_files)} training meshes, {len(validation_files)} validation meshes: "
            f"{', '.join(f.stem for f in validation_files) or '(procedural shapes)'}")
        train_shapes = ShapeDistribution.from_files(train_files, task_config)
        validation_shapes = ShapeDistribution.from_files(validation_files, task_config) \
            if validation_files else train_shapes
        provenance = {
            "data": f"{Path(args.data).name}/ ({len(train_files)} training meshes + procedural "
                    f"{args.procedural_fraction:.0%}"
                    + ("" if families == FAMILIES else f": {', '.join(families)}") + ")",
            "validation_meshes": ", ".join(f.stem for f in validation_files),
            "command": "python scripts/train_init_prior.py " + shlex.join(argv),
            "version": f"{FORMAT}, git {_git_commit()}, torch {torch.__version__}",
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        }
        if init is not None:
            made = init.provenance
            provenance["init"] = (f"{args.init} ({made.get('algorithm', '?')}, {made.get('iterations', '?')} "
                                  f"iterations, {made.get('date', '?')})")
        bank = None
        if args.bank:
            bank = build_bank(train_shapes, Path(args.bank) / f"rank{rank}", args.bank_size, seed=args.seed + rank,
                              log=log)
            provenance["data"] += f"; {args.bank_size} tasks made ahead into a bank, reused every epoch"
        train(config, train_shapes, validation_shapes, Path(args.out), provenance, resume=args.resume,
              device=device, log=log, init=init, bank=bank)
    except ConfigError as exc:
        print(f"error: {exc.describe('--' + exc.setting.replace('_', '-'))}", file=sys.stderr)
        return 2
    except NeuRepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if distributed:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

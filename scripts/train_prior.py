"""Train a shape-space prior from a folder of complete meshes of one kind of object.

    python scripts/train_prior.py --data MESHES/ --out shoes.safetensors --minutes 15
    python scripts/train_prior.py --data MESHES/ --out shoes.safetensors --minutes 5 --resume   # after a stop

The folder's meshes (OBJ/OFF/PLY/STL, any scale, closed or not; bad files are skipped with a message) are one
collection in one common pose. Training runs for --minutes of wall-clock time and writes OUT (the best prior
found, updated at each validation), OUT.ckpt (the state; --resume continues from it) and OUT.curve.json.
Ctrl-C (or SIGTERM) saves the state and the best prior, then exits. Use the prior with
``complete.py --prior OUT`` or the panel's Prior menu.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from neurep_addon.core.config import DEVICES  # noqa: E402
from neurep_addon.core.errors import NeuRepError  # noqa: E402
from neurep_addon.jobs.training import progress_text, training_device  # noqa: E402
from neurep_addon.meta.shape_space import Progress, train_shape_space  # noqa: E402
from neurep_addon.tasks.shapes import mesh_files  # noqa: E402

BAR = 24


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="train_prior.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", required=True, help="folder of complete meshes (OBJ/OFF/PLY/STL)")
    parser.add_argument("--out", required=True, help="prior file to write (.safetensors)")
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-clock budget of this run")
    parser.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    parser.add_argument("--max-steps", type=int, help="stop after this many training steps in all, if sooner")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=[d for d in DEVICES if d != "mps"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error(f"--minutes must be positive, got {args.minutes}")
    if not args.out.endswith(".safetensors"):
        parser.error(f"--out must be a .safetensors file, got {args.out}")
    return args


def progress_line(progress: Progress) -> str:
    """The progress bar, then the line the panel shows (``jobs.training.progress_text``) and the loss."""
    share = min(1.0, progress.seconds / progress.budget)
    bar = "#" * round(share * BAR) + "-" * (BAR - round(share * BAR))
    return f"[{bar}] {progress_text(progress)}, loss {progress.loss:.4f}"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = training_device(args.device)
    cancel, terminated = threading.Event(), threading.Event()

    def on_term(*_) -> None:
        terminated.set()
        cancel.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    interactive = sys.stdout.isatty()

    def show(progress: Progress) -> None:
        line = progress_line(progress)
        if interactive:
            print("\r" + line, end="", flush=True)
        elif progress.step % 100 == 0 or progress.seconds >= progress.budget:
            print(line, flush=True)

    def log(message: str) -> None:
        print(("\n" if interactive else "") + message, flush=True)

    try:
        out = train_shape_space(mesh_files(args.data), args.out, args.minutes, seed=args.seed, progress=show,
                                cancel=cancel, resume=args.resume, log=log, device=device,
                                max_steps=args.max_steps)
    except NeuRepError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"\nwrote {out} (the best of the validations; state in {out.name}.ckpt)")
    return 143 if terminated.is_set() else 130 if cancel.is_set() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

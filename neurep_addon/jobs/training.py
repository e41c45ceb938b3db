"""Train Prior: a shape-space prior trained from a collection of complete meshes into a folder of priors (the
Blender add-on's user folder), under a name the user gives.

The meshes are written to a hidden temporary folder inside that folder, the prior is trained there
(``meta.shape_space.train_shape_space``), and only a finished run moves it into the folder as
``<name>.safetensors``; a cancelled or failed run leaves nothing. Importing this module loads no torch.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..core.errors import ConfigError, FitCancelled, InputError, OutputError

if TYPE_CHECKING:
    from ..meta.progress import Progress

PRIOR_SUFFIX = ".safetensors"
TEMPORARY_PREFIX = ".training-"
"""A run's temporary folder inside the priors folder is this, the prior's name, "-" and a random part
(hidden: never listed as a prior)."""
FORBIDDEN_CHARACTERS = '/\\:*?"<>|'
"""Characters no prior name may hold: path separators, and what some file systems refuse."""
MIN_MESHES = 2


def check_prior_name(name: str) -> str:
    """``name`` without surrounding spaces; ``ConfigError`` (setting "name") when it cannot be a file name."""
    name = name.strip()
    if not name:
        raise ConfigError("name", "is empty; give the prior a name")
    bad = sorted({c for c in name if c in FORBIDDEN_CHARACTERS or ord(c) < 32})
    if bad:
        raise ConfigError("name", f"may not contain {' '.join(repr(c) for c in bad)}")
    if name.startswith(".") or name.lower() in {"default", "none"}:
        raise ConfigError("name", f"'{name}' is reserved; choose another name")
    return name


def prior_path(folder: str | os.PathLike, name: str) -> Path:
    """The file of the prior called ``name`` in ``folder``."""
    return Path(folder) / f"{check_prior_name(name)}{PRIOR_SUFFIX}"


def user_priors(folder: str | os.PathLike | None) -> list[Path]:
    """The prior files in ``folder`` (none when it is missing), by name."""
    if folder is None or not Path(folder).is_dir():
        return []
    files = [p for p in Path(folder).iterdir()
             if p.suffix == PRIOR_SUFFIX and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=lambda p: p.stem.lower())


def remove_prior(folder: str | os.PathLike, name: str) -> Path:
    """Delete the prior called ``name`` from ``folder``; ``InputError`` if it is not there."""
    path = prior_path(folder, name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise InputError(f"there is no prior called '{name}'") from None
    return path


def remove_leftovers(folder: str | os.PathLike, name: str) -> None:
    """Delete what a run of ``name`` left in ``folder`` when its process ended without cleaning up (killed)."""
    for path in Path(folder).glob(f"{TEMPORARY_PREFIX}{glob.escape(check_prior_name(name))}-*"):
        shutil.rmtree(path, ignore_errors=True)


def training_device(name: str = "auto") -> str:
    """The device a training runs on: CUDA when asked for or available with "auto", else the CPU."""
    import torch

    return "cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu"


def progress_text(progress: Progress) -> str:
    """One line: share of the budget, time left, step, the latest and best validation scores."""
    share = min(1.0, progress.seconds / progress.budget) if progress.budget > 0 else 1.0
    left = max(0.0, progress.budget - progress.seconds)
    validation = ("no validation yet" if progress.validation is None
                  else f"validation {progress.validation:.4f} (best {progress.best:.4f})")
    return f"{share:.0%}, {int(left // 60)}:{int(left % 60):02d} left, step {progress.step}, {validation}"


def train_prior(meshes: list[tuple[str, np.ndarray, np.ndarray]], folder: str | os.PathLike, name: str,
                minutes: float, seed: int = 0, progress: Callable[[Progress], None] | None = None,
                cancel: threading.Event | None = None, log: Callable[[str], None] = print,
                device: str = "auto") -> Path:
    """Train a prior called ``name`` from ``meshes`` (name, vertices [V, 3], triangles [F, 3], in one common
    frame) for ``minutes`` and move it into ``folder``; returns its path.

    Raises ``ConfigError`` for a bad name or budget, ``InputError`` for too few meshes, ``OutputError`` when
    a prior of that name exists, ``FitCancelled`` when ``cancel`` was set: in every case nothing is left.
    """
    from ..core.io import write_mesh
    from ..meta.shape_space import train_shape_space

    destination = prior_path(folder, name)
    if not minutes > 0:
        raise ConfigError("minutes", f"must be positive, got {minutes}")
    if len(meshes) < MIN_MESHES:
        raise InputError(f"a prior needs at least {MIN_MESHES} complete meshes, got {len(meshes)}")
    if destination.exists():
        raise OutputError(f"a prior called '{destination.stem}' exists; remove it first, or choose another name")
    cancel = cancel if cancel is not None else threading.Event()
    Path(folder).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{destination.stem}-", dir=folder))
    try:
        files = [write_mesh(work / f"{index:03d}_{re.sub(r'[^0-9A-Za-z_.-]+', '_', label)}.ply", vertices, faces)
                 for index, (label, vertices, faces) in enumerate(meshes)]
        trained = train_shape_space(files, work / destination.name, minutes, seed=seed, progress=progress,
                                    cancel=cancel, log=log, device=training_device(device))
        if cancel.is_set():
            raise FitCancelled("cancelled; no prior was saved")
        if destination.exists():
            raise OutputError(f"a prior called '{destination.stem}' appeared meanwhile; nothing was replaced")
        os.replace(trained, destination)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return destination

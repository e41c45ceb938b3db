"""The artist's own priors: trained from a collection (Train Prior) into the extension's user folder, offered in
the Prior menu beside Default and None, removed from the preferences.

A training runs in the worker process (``jobs.job.TrainJob``) and is read by ``TrainingRun.tick()`` from a
``bpy.app.timers`` timer, not a modal operator: a run lasts minutes, and while a modal operator runs Blender
neither autosaves nor lets Esc reach anything else.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import bpy

from ..core.errors import InputError
from ..jobs import training
from ..jobs.job import CANCELLED, FINISHED, RUNNING, TrainJob
from ..setup.package import ADDON_PACKAGE
from . import scene_io

USER_PREFIX = "USER:"
"""The Prior menu's identifier of a user prior is this plus its name."""
FIXED_VALUES = {"DEFAULT": 0, "NONE": 1, "FILE": 2}
"""The Prior menu's fixed entries and their stored numbers (a user prior's number comes from its name, so a
saved choice stays on its prior when others are added or removed)."""


def folder(create: bool = False) -> Path | None:
    """The folder of the user's priors, or None outside Blender's extension system."""
    if not ADDON_PACKAGE:
        return None
    try:
        return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path="priors", create=create))
    except ValueError:
        return None


def names() -> list[str]:
    """The user's priors, by name."""
    return [path.stem for path in training.user_priors(folder())]


def path_of(identifier: str) -> Path | None:
    """The file behind a Prior menu identifier ``USER:<name>`` (None for the fixed entries)."""
    if not identifier.startswith(USER_PREFIX):
        return None
    return training.prior_path(folder() or "", identifier[len(USER_PREFIX):])


def menu_items(self, context) -> list[tuple[str, str, str, str, int]]:
    """Default, None, the user's priors, File."""
    items = [("DEFAULT", "Default", "The prior shipped with the add-on (learned from many shapes)", "",
              FIXED_VALUES["DEFAULT"]),
             ("NONE", "None", "Random initial weights", "", FIXED_VALUES["NONE"])]
    items += [(USER_PREFIX + name, name, f"Your prior '{name}', trained from a collection", "",
               len(FIXED_VALUES) + zlib.crc32(name.encode()) % (2 ** 30)) for name in names()]
    items.append(("FILE", "File", "A prior file (.safetensors) made with NeuRep's prior training", "",
                  FIXED_VALUES["FILE"]))
    menu_items.cache = items  # Blender needs the strings of a dynamic enum kept alive
    return items


def meshes_of(collection, depsgraph) -> list[tuple[str, object, object]]:
    """The training meshes of ``collection``; ``InputError`` when fewer than the training needs."""
    meshes, skipped = scene_io.collection_meshes(collection, depsgraph)
    if len(meshes) < training.MIN_MESHES:
        more = f" (skipped, no faces: {', '.join(skipped)})" if skipped else ""
        raise InputError(f"collection '{collection.name}' holds {len(meshes)} mesh(es) with faces{more}; "
                         f"a prior needs at least {training.MIN_MESHES} complete models")
    return meshes


class TrainingRun:
    """The main-thread side of a Train Prior run: one ``TrainJob``; ``tick()`` shows its progress in a
    ``props.NEUREP_PG_job`` and returns RUNNING, then FINISHED (``path``), CANCELLED or FAILED (``error``)."""

    def __init__(self, job: TrainJob):
        self.job = job
        self.log: list[str] = []

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def path(self) -> Path | None:
        return Path(self.job.result) if self.job.result is not None else None

    @property
    def error(self) -> str | None:
        return self.job.error

    def start(self) -> "TrainingRun":
        global _active
        _active = self
        self.job.start()
        return self

    def tick(self, state) -> str:
        update = self.job.poll()
        for line in update.log:  # reading the models, skipped files: the console keeps them, the panel shows them
            print(f"NeuRep: {line}")
            state.status = f"Training '{self.name}': {line}"
        self.log += update.log
        if update.progress is not None:
            state.progress = min(1.0, update.progress.seconds / update.progress.budget)
            state.status = f"Training '{self.name}': {training.progress_text(update.progress)}"
        if update.state == RUNNING:
            return RUNNING
        self.end()
        if update.state == FINISHED:
            state.progress, state.status = 1.0, f"Prior '{self.name}' is ready in the Prior menu"
        elif update.state == CANCELLED:
            state.progress, state.status = 0.0, "Training cancelled; no prior was saved"
        else:
            training.remove_leftovers(self.job.folder, self.name)  # its process may have died mid-run
            state.progress, state.status = 0.0, f"Training failed: {self.error}"
        return update.state

    def cancel(self) -> None:
        self.job.cancel()

    def end(self) -> None:
        global _active
        if _active is self:
            _active = None


_active: TrainingRun | None = None


def active_training() -> TrainingRun | None:
    """The Train Prior run in progress, if any (only one at a time)."""
    return _active


def stop_training() -> None:
    """Cancel the run and wait for its worker (the add-on is disabled)."""
    live = _active
    if live is not None:
        live.cancel()
        if not live.job.wait(timeout=30.0):
            live.job.kill()
            live.job.wait(timeout=5.0)
            training.remove_leftovers(live.job.folder, live.name)
        live.end()

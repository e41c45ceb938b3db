"""What results are called: the new object in a scene, the written file, the preview while a fit runs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .kinds import Mode

LABELS = {Mode.COMPLETE: "completed", Mode.FILL_HOLES: "filled"}
"""The word each mode appends to its source's name."""


def result_name(source: str, mode: Mode = Mode.COMPLETE) -> str:
    """The result object of ``source``: ``<source>_completed`` or ``<source>_filled``."""
    return f"{source}_{LABELS[mode]}"


def preview_name(source: str) -> str:
    """The object that shows a running fit of ``source``."""
    return f"{source}_preview"


def result_file_names(sources: Iterable[str | os.PathLike], mode: Mode = Mode.COMPLETE) -> list[str]:
    """The file name of each source's result in one output folder, in order.

    ``<stem>_completed.ply``; filling holes, ``<stem>_filled.obj`` for an OBJ source and ``<stem>_filled.ply``
    for the others. A name seen before (ignoring case, as some file systems do) becomes
    ``<stem>_2_completed.ply``, then ``<stem>_3_completed.ply``, ...
    """
    names, taken = [], set()
    for source in map(Path, sources):
        label = LABELS[mode]
        suffix = ".obj" if mode is Mode.FILL_HOLES and source.suffix.lower() == ".obj" else ".ply"
        name, count = f"{source.stem}_{label}{suffix}", 1
        while name.lower() in taken:
            count += 1
            name = f"{source.stem}_{count}_{label}{suffix}"
        taken.add(name.lower())
        names.append(name)
    return names

"""The kinds of work a user can ask for, and the states a job goes through."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """What a run does. The value is the command line's ``--mode``; the name is the Blender enum identifier
    (``Mode[identifier]`` converts it)."""

    COMPLETE = "complete"
    """A new closed mesh fitted to the scan (meshes and point clouds)."""
    FILL_HOLES = "fill-holes"
    """The mesh as it is, with patches where it is open (meshes with faces)."""


class JobState(StrEnum):
    """A background job's state (a fit in the worker process, a pip install); the values are what the
    worker process sends as its outcome."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

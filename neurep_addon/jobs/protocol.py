"""The messages between the worker process (``jobs.worker``) and its client (``jobs.job``).

    client -> process   ``Request(case, threads)``, then, while it runs, ``Cancel()``
    process -> client   ``Reply(Kind.PROGRESS, StepInfo or a training's Progress)``, ``Reply(Kind.PREVIEW,
                        (vertices, faces, step))`` and ``Reply(Kind.LOG, line)`` while it runs, then one
                        outcome: ``Reply(Kind.FINISHED, result)``, ``Reply(Kind.CANCELLED, FitCancelled)`` or
                        ``Reply(Kind.FAILED, error)``

Both sides pickle these classes (and the use cases) under the same module name. A new kind of work is one use
case in ``jobs.cases`` (the process calls its ``run``); a new kind of reply is one member of ``Kind``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cases import Complete, FillHoles, TrainPrior


class Kind(StrEnum):
    """What a reply carries. The outcomes' values are the ``jobs.kinds.JobState`` the job ends in."""

    PROGRESS = "progress"
    PREVIEW = "preview"
    LOG = "log"
    """A line for the console and the panel (a training's)."""
    FINISHED = "FINISHED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

    @property
    def ends(self) -> bool:
        """Whether this reply is the request's outcome (the last reply to it)."""
        return self in OUTCOMES


OUTCOMES = frozenset({Kind.FINISHED, Kind.CANCELLED, Kind.FAILED})


@dataclass(frozen=True)
class Request:
    """Run ``case`` (a use case of ``jobs.cases``); ``threads`` > 0 limits torch's CPU threads."""

    case: Complete | FillHoles | TrainPrior
    threads: int = 0


@dataclass(frozen=True)
class Cancel:
    """Stop the running request after its current step (nothing happens when none runs)."""


@dataclass(frozen=True)
class Reply:
    """One message of the process about the running request."""

    kind: Kind
    payload: object = None

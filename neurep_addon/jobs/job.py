"""A completion running in a process of its own (``jobs.worker``), talking to Blender's main thread
through a ``multiprocessing.connection``.

No Python thread of NeuRep runs inside Blender. Blender's threading rule is "while threads are running, no
code (including the main thread) may use bpy", and its operators release the GIL: a fit on a worker thread
ran Python inside every undo step the user pushed during a fit, and about one full test run in four crashed
in ``bpy.ops.ed.undo_push`` that way. The main thread snapshots the input into an ``Observation`` first,
sends it to the process, then calls ``poll()`` (from a modal timer, or in a waiting loop for blocking runs)
to receive progress, the latest preview and the outcome, and applies them to the scene itself. Every fit
Blender starts, interactive or blocking, runs through ``FitJob``.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from multiprocessing.connection import Client
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..core.errors import NeuRepError
from ..core.observation import Observation
from . import worker
from .kinds import JobState
from .cases import Complete, FillHoles, TrainPrior
from .protocol import Cancel, Kind, Request
from .wording import user_message

if TYPE_CHECKING:  # annotations only: the engine (torch) never loads in this process
    from ..core.config import FitConfig
    from ..core.results import StepInfo
    from ..core.results import Completion
    from ..core.fit_settings import PriorChoice

RUNNING, FINISHED, CANCELLED, FAILED = JobState


_idle: tuple | None = None
"""The worker process kept between jobs, torch and the engine loaded: (process, connection, the ``sys.path``
it was started with). A new process takes about 2 s to load them, so only the first fit of a session waits;
it ends with Blender (its connection closes) or when the add-on is disabled (``end_idle_worker``)."""


def _take_worker() -> tuple:
    """The idle worker if it is alive and was started with today's ``sys.path`` (not before PyTorch was
    installed, say), else a new one."""
    global _idle
    taken, _idle = _idle, None
    if taken is not None:
        process, connection, path = taken
        if process.poll() is None and path == sys.path:
            return process, connection
        _discard(process, connection)
    key = os.urandom(32)
    process, address = worker.start(key)
    return process, Client(address, authkey=key)


def _keep(process, connection) -> None:
    global _idle
    if _idle is not None:  # one is enough
        _discard(process, connection)
    else:
        _idle = process, connection, list(sys.path)


def _discard(process, connection) -> None:
    connection.close()  # it sees its connection close, stops what it does after a step, and exits


def end_idle_worker() -> None:
    """End the worker kept between jobs (the add-on is disabled)."""
    global _idle
    if _idle is not None:
        _discard(*_idle[:2])
    _idle = None


@dataclass
class JobUpdate:
    """What arrived since the last ``poll()``.

    progress: the latest ``core.fit.StepInfo`` (a training's ``meta.shape_space.Progress``) or None; preview:
    the latest (vertices world float [V, 3], faces int [F, 3], step) or None; log: the lines the work logged;
    state: RUNNING, FINISHED, CANCELLED or FAILED.
    """

    state: str
    progress: StepInfo | None = None
    preview: tuple[np.ndarray, np.ndarray, int] | None = None
    log: list[str] = field(default_factory=list)


class FitJob:
    """``core.completion.complete`` in a worker process; ``result`` (a ``Completion``) or ``error`` at the end.
    Subclasses change the work by overriding ``_request`` (``FillJob``)."""

    def __init__(self, observation: Observation | Callable[[], Observation], config: FitConfig,
                 prior: PriorChoice = None, device: str = "auto", seed: int = 0, threads: int = 0,
                 after: Callable[[Completion], None] | None = None):
        """``observation`` may be a function that reads it (a file), called when the job starts;
        ``after(completion)`` runs once the fit is done (writing a file), and its error fails the job;
        ``threads`` > 0 limits torch's CPU threads in the process."""
        self.observation, self.config, self.prior = observation, config, prior
        self.device, self.seed, self.threads, self.after = device, seed, threads, after
        self.state = RUNNING
        self.result: Completion | None = None
        self.exception: BaseException | None = None
        """Why the job did not finish: ``FitCancelled``, a user-facing error, or an internal one."""
        self._process = None
        self._connection = None
        self._update = JobUpdate(RUNNING)
        """What arrived and no ``poll()`` has returned yet."""

    def _request(self) -> Request:
        """The work for the process (``jobs.worker``)."""
        observation = self.observation() if callable(self.observation) else self.observation
        return Request(Complete(observation=observation, config=self.config, prior=self.prior, device=self.device,
                                seed=self.seed), self.threads)

    def start(self) -> "FitJob":
        """Start the process and send it the work; a failure to do so ends the job FAILED."""
        try:
            request = self._request()
            self._process, self._connection = _take_worker()
            worker.send(self._connection, request)
        except NeuRepError as exc:
            self._end(FAILED, exc)
        except Exception as exc:  # the traceback goes to the console; the user gets one line
            traceback.print_exc()
            self.kill()  # no process is left waiting for work that will not come
            self._end(FAILED, exc)
        return self

    def kill(self) -> None:
        """End the process at once (when it does not stop on ``cancel``): the job ends FAILED. Nothing happens
        once the job has ended (its process may be serving the next one)."""
        if self.state == RUNNING and self._process is not None and self._process.poll() is None:
            self._process.kill()

    def cancel(self) -> None:
        """Ask the process to stop after its current step (safe to call any number of times)."""
        if self.state == RUNNING and self._connection is not None:
            try:
                worker.send(self._connection, Cancel())
            except OSError:  # it has ended; its outcome (or end) is what poll() reads
                pass

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job's outcome has arrived (reading what comes meanwhile, for the next ``poll``);
        True if it did within ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._receive():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._connection.poll(0.05 if left is None else min(0.05, left))
        return True

    def poll(self) -> JobUpdate:
        """What arrived since the last poll (main thread only): the newest progress and preview, the state."""
        self._receive()
        update, self._update = self._update, JobUpdate(self.state)
        update.state = self.state
        return update

    def _receive(self) -> bool:
        """Read every message waiting; True while the job is still running."""
        while self.state == RUNNING:
            try:
                if not self._connection.poll(0):
                    if self._process.poll() is None:
                        return True
                    if not self._connection.poll(0):  # it ended and has nothing more to say
                        raise EOFError
                reply = worker.receive(self._connection)
            except (EOFError, OSError):
                self._end(FAILED, RuntimeError(f"the fit's process ended unexpectedly "
                                               f"(exit code {self._process.wait()})"))
                break
            except Exception as exc:  # a message that does not unpickle here
                traceback.print_exc()
                self.kill()
                self._end(FAILED, exc)
                break
            if reply.kind is Kind.PROGRESS:
                self._update.progress = reply.payload
            elif reply.kind is Kind.PREVIEW:
                self._update.preview = reply.payload
            elif reply.kind is Kind.LOG:
                self._update.log.append(reply.payload)
            elif reply.kind.ends:
                self._finish(JobState(reply.kind), reply.payload)
        return False

    def _finish(self, kind: JobState, payload) -> None:
        """The outcome: a finished result passes through ``after`` first."""
        if kind == FINISHED and self.after is not None:
            try:
                self.after(payload)
            except NeuRepError as exc:
                kind, payload = FAILED, exc
            except Exception as exc:
                traceback.print_exc()
                kind, payload = FAILED, exc
        _keep(self._process, self._connection)  # it answered: it serves the next job
        self._connection = None
        self._end(kind, payload)

    def _end(self, state: str, payload) -> None:
        self.state = state
        if state == FINISHED:
            self.result = payload
        else:
            self.exception = payload
        if self._connection is not None:  # it did not answer (dead, killed, unreadable): not used again
            _discard(self._process, self._connection)
        self._connection = None

    @property
    def error(self) -> str | None:
        """The user-facing message for a cancelled or failed job (None otherwise)."""
        return None if self.exception is None else user_message(self.exception)


class FillJob(FitJob):
    """``core.fill.fill_holes`` in the worker process; ``result`` is a ``HoleFilling`` (no previews).

    vertices float64 [V, 3] and triangles int64 [F, 3] are snapshots taken on the main thread; the patches
    come back in the same space as ``vertices``. ``max_hole_size`` (None: no limit) and ``selected`` (vertex
    indices, None: every hole) are passed on as they are.
    """

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, config: FitConfig, prior: PriorChoice = None,
                 device: str = "auto", seed: int = 0, threads: int = 0, max_hole_size: float | None = None,
                 selected: np.ndarray | None = None):
        super().__init__(None, config, prior, device, seed, threads)
        self.vertices, self.triangles = vertices, triangles
        self.max_hole_size, self.selected = max_hole_size, selected

    def _request(self) -> Request:
        return Request(FillHoles(vertices=self.vertices, faces=self.triangles, config=self.config, prior=self.prior,
                                 device=self.device, seed=self.seed, max_hole_size=self.max_hole_size,
                                 selected=self.selected), self.threads)


class TrainJob(FitJob):
    """``jobs.training.train_prior`` in the worker process; ``result`` is the new prior's path.

    meshes: (name, world vertices float64 [V, 3], triangles int64 [F, 3]) snapshots taken on the main thread;
    the prior is trained in a temporary folder inside ``folder`` and moved there as ``<name>.safetensors``
    only when the run finishes.
    """

    def __init__(self, meshes: list[tuple[str, np.ndarray, np.ndarray]], folder: str | Path, name: str,
                 minutes: float, device: str = "auto", seed: int = 0, threads: int = 0):
        super().__init__(None, None, None, device, seed, threads)
        self.meshes, self.folder, self.name, self.minutes = meshes, str(folder), name, minutes

    def _request(self) -> Request:
        return Request(TrainPrior(meshes=self.meshes, folder=self.folder, name=self.name, minutes=self.minutes,
                                  device=self.device, seed=self.seed), self.threads)

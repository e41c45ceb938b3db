"""A completion running in a worker thread, talking to Blender's main thread through a queue.

The worker only touches numpy and torch, never ``bpy`` (Blender's threading rule): the main thread
snapshots the input into an ``Observation`` first, then calls ``poll()`` (from a modal timer, or in a
waiting loop for blocking runs) to receive progress, the latest preview and the outcome, and applies
them to the scene itself. Every fit Blender starts, interactive or blocking, runs through ``FitJob``.
"""

from __future__ import annotations

import gc
import queue
import threading
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..core.errors import FitCancelled, NeuRepError
from ..core.observation import Observation
from .package import user_message

if TYPE_CHECKING:  # the fit's types import torch, which loads only once a fit starts
    from ..core.config import FitConfig
    from ..core.fit import StepInfo
    from ..core.pipeline import Completion
    from ..core.prior import Prior

RUNNING = "RUNNING"
FINISHED = "FINISHED"
CANCELLED = "CANCELLED"
FAILED = "FAILED"


@dataclass
class JobUpdate:
    """What arrived since the last ``poll()``.

    progress: the latest ``core.fit.StepInfo`` or None; preview: the latest (vertices world float [V, 3],
    faces int [F, 3], step) or None; state: RUNNING, FINISHED, CANCELLED or FAILED.
    """

    state: str
    progress: StepInfo | None = None
    preview: tuple[np.ndarray, np.ndarray, int] | None = None


class _MainThreadCollection:
    """Python's automatic garbage collection is off while a worker runs, and the main thread collects.

    The cyclic collector runs in whichever thread's allocation trips its threshold; in a worker that is the
    fit's loop, and a collection there can free ``bpy`` objects caught in reference cycles from the wrong
    thread while Blender's main thread is in the middle of an operator (the known hazard of GUI toolkits:
    napari#1029, calibre, pyqtgraph). One of six full runs of the test suite crashed in
    ``bpy.ops.ed.undo_push`` during a fit, with the worker in Python code; this is the likely cause, not a
    proven one. So: ``hold`` when a worker starts, ``collect`` from the main thread's polls, ``release`` when
    the worker has ended; the collector's own setting comes back when the last worker is done.
    """

    def __init__(self) -> None:
        self.running = 0
        self.was_enabled = True

    def hold(self) -> None:
        if self.running == 0:
            self.was_enabled = gc.isenabled()
            gc.disable()
        self.running += 1

    def release(self) -> None:
        self.running -= 1
        if self.running == 0 and self.was_enabled:
            gc.enable()

    def collect(self) -> None:
        if self.running and self.was_enabled:
            gc.collect(1)  # the young generations: what the last poll interval made


MAIN_THREAD_GC = _MainThreadCollection()


class FitJob:
    """``core.pipeline.complete`` on a worker thread; ``result`` (a ``Completion``) or ``error`` at the end.
    Subclasses change the work by overriding ``_compute`` (``FillJob``). While the worker runs, Python's
    automatic garbage collection is off and the main thread's ``poll`` collects instead
    (``MAIN_THREAD_GC``)."""

    def __init__(self, observation: Observation | Callable[[], Observation], config: FitConfig,
                 prior: Prior | None = None, device: str = "auto", seed: int = 0, threads: int = 0,
                 after: Callable[[Completion], None] | None = None):
        """``observation`` may be a function the worker calls to read it (a file); ``after(completion)`` runs
        on the worker once the fit is done (writing a file); ``threads`` > 0 limits torch's CPU threads."""
        self.observation, self.config, self.prior = observation, config, prior
        self.device, self.seed, self.threads, self.after = device, seed, threads, after
        self.state = RUNNING
        self.result: Completion | None = None
        self.exception: BaseException | None = None
        """Why the job did not finish: ``FitCancelled``, a user-facing error, or an internal one."""
        self._messages: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="neurep-fit", daemon=True)
        self._held = False

    def start(self) -> "FitJob":
        MAIN_THREAD_GC.hold()
        self._held = True
        self._thread.start()
        return self

    def _release_when_ended(self) -> None:
        """Give the collection back once the worker has ended (main thread; safe to call again)."""
        if self._held and not self._thread.is_alive():
            self._held = False
            MAIN_THREAD_GC.release()

    def cancel(self) -> None:
        """Ask the worker to stop after its current step (safe to call any number of times)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends; True if it did within ``timeout`` seconds."""
        self._thread.join(timeout)
        self._release_when_ended()
        return not self._thread.is_alive()

    def poll(self) -> JobUpdate:
        """Drain the queue (main thread only); keeps the newest progress and preview, and the outcome."""
        update = JobUpdate(self.state)
        while True:
            try:
                kind, payload = self._messages.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                update.progress = payload
            elif kind == "preview":
                update.preview = payload
            else:
                self.state = kind
                if kind == FINISHED:
                    self.result = payload
                else:
                    self.exception = payload
        update.state = self.state
        if self.state != RUNNING:
            self._thread.join()  # it has put its outcome, its last act
            self._release_when_ended()
        MAIN_THREAD_GC.collect()
        return update

    @property
    def error(self) -> str | None:
        """The user-facing message for a cancelled or failed job (None otherwise)."""
        return None if self.exception is None else user_message(self.exception)

    def _compute(self):
        """The work itself, on the worker thread: the completion."""
        from ..core.pipeline import complete  # imports torch: only once a fit starts

        observation = self.observation() if callable(self.observation) else self.observation
        return complete(observation, self.config, self.prior, device=self.device, seed=self.seed,
                        progress=lambda info: self._messages.put(("progress", info)),
                        preview=lambda v, f, step: self._messages.put(("preview", (v, f, step))),
                        cancel=self._cancel)

    def _run(self) -> None:
        try:
            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            result = self._compute()
            if self.after is not None:
                self.after(result)
            self._messages.put((FINISHED, result))
        except FitCancelled as exc:
            self._messages.put((CANCELLED, exc))
        except NeuRepError as exc:
            self._messages.put((FAILED, exc))
        except Exception as exc:  # the traceback goes to the console; the user gets one line
            traceback.print_exc()
            self._messages.put((FAILED, exc))



class FillJob(FitJob):
    """``core.pipeline.fill_holes`` on a worker thread; ``result`` is a ``HoleFilling`` (no previews).

    vertices float64 [V, 3] and triangles int64 [F, 3] are snapshots taken on the main thread; the patches
    come back in the same space as ``vertices``. ``max_hole_size`` (None: no limit) and ``selected`` (vertex
    indices, None: every hole) are passed on as they are.
    """

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, config: FitConfig, prior: Prior | None = None,
                 device: str = "auto", seed: int = 0, threads: int = 0, max_hole_size: float | None = None,
                 selected: np.ndarray | None = None):
        super().__init__(None, config, prior, device, seed, threads)
        self.vertices, self.triangles = vertices, triangles
        self.max_hole_size, self.selected = max_hole_size, selected

    def _compute(self):
        from ..core.pipeline import fill_holes  # imports torch: only once a fit starts

        return fill_holes(self.vertices, self.triangles, self.config, self.prior, device=self.device,
                          seed=self.seed, progress=lambda info: self._messages.put(("progress", info)),
                          cancel=self._cancel, max_hole_size=self.max_hole_size, selected=self.selected)

"""Running a list of requests on the main thread, each in a ``FitJob`` process of its own: waited for
(``run_all_blocking``, the batch mode's ``run_blocking``) or ticked by a modal timer (``CompletionRun``);
the results are placed (``placing``) once every job has ended.
"""

from __future__ import annotations

import json

from bpy.app.handlers import persistent

from ..core.errors import NeuRepError
from ..jobs.job import CANCELLED, FAILED, FINISHED, RUNNING, FitJob
from ..jobs.wording import user_message
from . import scene_io
from .placing import output_collection, place_all

BLOCKING_POLL_SECONDS = 0.1


def run_blocking(request, progress=None):
    """One request in the worker process the modal path uses, waited for; returns the ``Completion``.

    ``progress`` receives the latest ``StepInfo`` on this thread. Raises what the fit raised (a
    ``NeuRepError``, or an internal error); Ctrl+C cancels the worker before it propagates.
    """
    job = request.new_job().start()
    try:
        while True:
            finished = job.wait(BLOCKING_POLL_SECONDS)
            update = job.poll()
            if progress is not None and update.progress is not None:
                progress(update.progress)
            if finished:
                break
    except KeyboardInterrupt:
        job.cancel()
        job.wait()
        raise
    if job.state != FINISHED:
        raise job.exception
    return job.result


def run_all_blocking(requests: list, progress=None, view_layer=None) -> tuple[list[dict], list[str]]:
    """Every request in turn, waited for; then the results are placed. Returns (summaries, failures).

    ``progress(fraction, text)`` gets the run's overall progress. A request that fails is named in
    ``failures`` and the run goes on; results appear only once all fits are done.
    """
    done, failures = [], []
    for index, request in enumerate(requests):
        def step(info, index=index, request=request):
            if progress is not None:
                progress(overall_fraction(index, len(requests), info), progress_text(info, request, index,
                                                                                     len(requests)))
        try:
            done.append((request, run_blocking(request, step)))
        except NeuRepError as exc:
            failures.append(f"{request.label}: {user_message(exc)}")
    return place_all(done, view_layer, failures), failures


def overall_fraction(index: int, count: int, info) -> float:
    return (index + info.step / max(info.total_steps, 1)) / max(count, 1)


def record_result(window_manager, summaries: list[dict], failures: list[str] = ()) -> None:
    window_manager.neurep_job.last_result = json.dumps({"results": summaries, "failures": list(failures)})


def progress_text(info, request=None, index: int = 0, count: int = 1) -> str:
    where = f"{request.label} ({index + 1} of {count}): " if request is not None and count > 1 else \
        (f"{request.label}: " if request is not None else "")
    return f"NeuRep: {where}step {info.step}/{info.total_steps}, loss {info.loss:.4f}, {info.eta:.0f} s left"


class CompletionRun:
    """The main-thread side of an interactive run: its requests' FitJobs one after another, the current
    one's preview object, then every result at once.

    ``tick()`` is what the modal operator calls on each timer event; it returns RUNNING, then FINISHED
    (at least one result), FAILED (none) or CANCELLED, and leaves the scene as before unless FINISHED.
    """

    def __init__(self, requests: list):
        self.requests = list(requests)
        self.index = 0
        self.job: FitJob | None = None
        self.done: list = []
        self.failures: list[str] = []
        self.summaries: list[dict] = []
        self.cancelled = False
        self.cancel_reason = "cancelled"

    @property
    def preview_name(self) -> str | None:
        return self.requests[self.index].preview_name if self.index < len(self.requests) else None

    @property
    def summary(self) -> dict | None:
        return self.summaries[-1] if self.summaries else None

    def start(self) -> "CompletionRun":
        global _active
        _active = self
        self.job = self.requests[0].new_job().start()
        return self

    def tick(self, window_manager, view_layer=None) -> str:
        update = self.job.poll()
        state = window_manager.neurep_job
        request = self.requests[self.index]
        if update.progress is not None:
            state.progress = overall_fraction(self.index, len(self.requests), update.progress)
            state.status = progress_text(update.progress, request, self.index, len(self.requests))
        if update.preview is not None and update.state == RUNNING and request.preview_name:
            vertices, faces, _ = update.preview
            scene_io.show_preview(request.preview_name, output_collection(request), vertices, faces)
        if update.state == RUNNING:
            return RUNNING
        if request.preview_name:
            scene_io.remove_preview(request.preview_name)
        if update.state == FINISHED:
            self.done.append((request, self.job.result))
        elif update.state == CANCELLED or self.cancelled:
            self.cancelled = True
        else:
            self.failures.append(f"{request.label}: {self.job.error}")
        self.index += 1
        if self.index < len(self.requests) and not self.cancelled:
            self.job = self.requests[self.index].new_job().start()
            return RUNNING
        self.end()
        if self.cancelled:
            return CANCELLED
        if not self.done:
            return FAILED
        self.summaries = place_all(self.done, view_layer, self.failures)
        if not self.summaries:
            return FAILED
        record_result(window_manager, self.summaries, self.failures)
        state.progress = 1.0
        return FINISHED

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the run; ``error`` then says ``reason``."""
        self.cancelled, self.cancel_reason = True, reason
        if self.job is not None:
            self.job.cancel()

    @property
    def error(self) -> str | None:
        """Why the run ended without results: cancelled, or each failure."""
        if self.cancelled:
            return self.cancel_reason
        return "; ".join(self.failures) if self.failures else None

    def end(self) -> None:
        """Remove the preview and forget this run (its worker has ended or was told to stop)."""
        global _active
        scene_io.remove_previews()
        if _active is self:
            _active = None


_active: CompletionRun | None = None


def active_completion() -> CompletionRun | None:
    """The interactive run in progress, if any (only one at a time)."""
    return _active


def stop_running_fit(reason: str = "cancelled") -> None:
    """Stop the interactive run, wait for its worker, and remove its preview (disable, file load); the
    console says ``reason`` (the operator that ran it is ended by Blender, without a report)."""
    live = _active
    if live is not None:
        print(f"NeuRep: {reason}")
        live.cancel(reason)
        if live.job is not None and not live.job.wait(timeout=30.0):
            live.job.kill()  # it did not stop after a step (a long extraction): Blender is waiting
        live.end()


@persistent
def stop_before_load(_file_path) -> None:
    stop_running_fit("cancelled: another file was loaded; nothing was added to the file that was open")


@persistent
def remove_stale_previews(*_args) -> None:
    """After an undo, a redo or a file load: no preview but the running one's survives (undo steps pushed
    during a fit hold its preview object; this makes the preview invisible to undo)."""
    live = _active
    scene_io.remove_previews(keep=live.preview_name if live is not None else None)


HANDLERS = {"load_pre": stop_before_load, "load_post": remove_stale_previews,
            "undo_post": remove_stale_previews, "redo_post": remove_stale_previews}

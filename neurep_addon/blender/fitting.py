"""Main-thread steps of a completion, shared by the operator (blocking and modal) and the batch mode.

    prepare_request (selection -> Observation + settings) -> core.pipeline.complete on a FitJob's worker,
    waited for (run_blocking) or driven by a modal timer (LiveCompletion.tick) -> place_result
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import bpy
from bpy.app.handlers import persistent

from ..core.errors import InputError
from ..core.observation import Observation
from . import dependencies, scene_io
from .job import FINISHED, RUNNING, FitJob

if TYPE_CHECKING:  # the fit's types import torch, which loads only once a fit starts
    from ..core.config import FitConfig
    from ..core.prior import Prior

BLOCKING_POLL_SECONDS = 0.1


@dataclass
class FitRequest:
    """Everything a fit needs, snapshotted on the main thread; objects are kept by name (undo-safe)."""

    observation: Observation
    config: FitConfig
    prior: Prior | None
    device: str
    seed: int
    source_name: str
    scene_name: str


def prepare_request(objects, active, scene, depsgraph, settings, device: str) -> FitRequest:
    """Read the selection and the panel's or operator's settings; raises ``NeuRepError`` with a user-facing
    message."""
    missing = dependencies.missing_modules()
    if missing:
        raise InputError(dependencies.missing_message(missing))
    config, prior = settings.fit_settings()
    return make_request(objects, active, scene, depsgraph, config, prior, device, settings.seed)


def make_request(objects, active, scene, depsgraph, config: FitConfig, prior: Prior | None, device: str,
                 seed: int) -> FitRequest:
    """Snapshot ``objects`` (world space, modifiers applied) into the request of one fit."""
    source = scene_io.primary_source(objects, active)
    observation = scene_io.observation_from_objects(objects, depsgraph, seed=seed)
    return FitRequest(observation, config, prior, device, seed, source.name, scene.name)


def run_blocking(request: FitRequest, progress=None):
    """The fit on the worker thread the modal path uses, waited for; returns the ``Completion``.

    ``progress`` receives the latest ``StepInfo`` on this thread. Raises what the fit raised (a
    ``NeuRepError``, or an internal error); Ctrl+C cancels the worker before it propagates.
    """
    job = FitJob(request.observation, request.config, request.prior, request.device, request.seed).start()
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


def output_collection(request: FitRequest):
    """The source's collection, or its scene's if the source was deleted during the fit."""
    scene = bpy.data.scenes.get(request.scene_name) or bpy.context.scene
    source = bpy.data.objects.get(request.source_name)
    return scene_io.target_collection(source, scene) if source is not None else scene.collection


def place_result(request: FitRequest, completion, view_layer=None):
    """The completed mesh as ``<source>_completed`` next to the source, selected and active; returns it."""
    result = scene_io.create_result_object(f"{request.source_name}_completed", output_collection(request),
                                           completion.vertices, completion.faces, completion.distance)
    if view_layer is not None:
        for ob in view_layer.objects.selected:
            ob.select_set(False, view_layer=view_layer)
        result.select_set(True, view_layer=view_layer)
        view_layer.objects.active = result
    return result


def result_summary(result_object, completion) -> dict:
    """The figures shown in the panel and returned by the batch mode: core stats, notes, object name."""
    return {**completion.stats.to_dict(), "object": result_object.name, "notes": list(completion.notes)}


def record_result(window_manager, summary: dict) -> None:
    window_manager.neurep_job.last_result = json.dumps(summary)


def progress_text(info) -> str:
    return f"NeuRep: step {info.step}/{info.total_steps}, loss {info.loss:.4f}, {info.eta:.0f} s left"


class LiveCompletion:
    """The main-thread side of an interactive completion: a FitJob, its preview object, then the result.

    ``tick()`` is what the modal operator calls on each timer event; it returns the job state
    (RUNNING, FINISHED, CANCELLED or FAILED) and leaves the scene as before unless FINISHED.
    """

    def __init__(self, request: FitRequest):
        self.request = request
        self.job = FitJob(request.observation, request.config, request.prior, request.device, request.seed)
        self.preview_name = f"{request.source_name}_preview"
        self.result_object = None
        self.summary: dict | None = None

    def start(self) -> "LiveCompletion":
        global _active
        _active = self
        self.job.start()
        return self

    def tick(self, window_manager, view_layer=None) -> str:
        update = self.job.poll()
        state = window_manager.neurep_job
        if update.progress is not None:
            state.progress = update.progress.step / max(update.progress.total_steps, 1)
            state.status = progress_text(update.progress)
        if update.preview is not None and update.state == RUNNING:
            vertices, faces, _ = update.preview
            scene_io.show_preview(self.preview_name, output_collection(self.request), vertices, faces)
        if update.state == RUNNING:
            return RUNNING
        self.end()
        if update.state == FINISHED:
            self.result_object = place_result(self.request, self.job.result, view_layer)
            self.summary = result_summary(self.result_object, self.job.result)
            record_result(window_manager, self.summary)
        return update.state

    def cancel(self) -> None:
        self.job.cancel()

    @property
    def error(self) -> str | None:
        return self.job.error

    def end(self) -> None:
        """Remove the preview and forget this job (the worker has ended or was told to stop)."""
        global _active
        scene_io.remove_preview(self.preview_name)
        if _active is self:
            _active = None


_active: LiveCompletion | None = None


def active_completion() -> LiveCompletion | None:
    """The interactive completion in progress, if any (only one at a time)."""
    return _active


def stop_running_fit() -> None:
    """Stop the interactive fit, wait for its worker, and remove its preview (disable, file load)."""
    live = _active
    if live is not None:
        live.cancel()
        live.job.wait(timeout=30.0)
        live.end()


@persistent
def stop_before_load(_file_path) -> None:
    stop_running_fit()


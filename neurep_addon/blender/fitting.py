"""Main-thread steps of a completion run, shared by the operators (blocking and modal) and the batch mode.

A run is a list of requests done one after another in a ``FitJob`` process each:

    prepare_requests (selection -> one FitRequest per object, or one for all when merging;
                      Fill Holes mode: one FillRequest per mesh object)
    files_requests   (files -> one FileRequest per file, read when its job starts, written when it ends)
    -> run_all_blocking (waited for) or CompletionRun.tick() (a modal timer) -> results placed at the end

Object results are placed together in the step that ends the run, so the whole run is one undo step, and
a cancelled run leaves the scene as it was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import bpy
import numpy as np
from bpy.app.handlers import persistent
from mathutils import Matrix

from ..core.errors import InputError, NeuRepError, OutputError
from ..core.observation import Observation
from ..jobs.job import CANCELLED, FAILED, FINISHED, RUNNING, FillJob, FitJob
from ..jobs.kinds import Mode
from ..jobs.naming import preview_name, result_file_names, result_name
from ..jobs.wording import user_message
from ..setup import dependencies
from . import scene_io

if TYPE_CHECKING:  # the fit's types import torch, which loads only once a fit starts
    from ..core.config import FitConfig
    from ..core.prior import Prior

BLOCKING_POLL_SECONDS = 0.1


@dataclass(kw_only=True)
class ObjectRequest:
    """What every fit of a scene object needs, snapshotted on the main thread. Objects are kept by session id
    and name, never by reference (undo and file loads free them)."""

    config: FitConfig
    prior: Prior | None
    device: str
    seed: int
    source_name: str
    scene_name: str
    matrix_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    """The source's transform when the fit started: the result gets it (vertices in its local space)."""
    threads: int = 0
    source_uid: int = 0
    """The placing object's ``session_uid``: found again after a rename or an undo (0: by name only)."""

    @property
    def label(self) -> str:
        return self.source_name


@dataclass(kw_only=True)
class FitRequest(ObjectRequest):
    """One object's completion; ``sources`` records what each object read looked like at the start."""

    observation: Observation
    material_names: tuple[str | None, ...] = ()
    invented_factor: float | None = 4.0
    """Faces farther than this many point spacings from the scan get the invented material (None: off)."""
    sources: tuple[tuple[int, str, int], ...] = ()
    """(session_uid, name, ``scene_io.source_fingerprint``) of every object read, to tell an edit."""
    warnings: list[str] = field(default_factory=list)
    """What happened to the sources during the fit, said when the result is placed."""

    @property
    def preview_name(self) -> str | None:
        return preview_name(self.source_name)

    def new_job(self) -> FitJob:
        return FitJob(self.observation, self.config, self.prior, self.device, self.seed, self.threads)

    def place(self, completion, view_layer=None):
        return place_result(self, completion, view_layer)

    def summary(self, placed, completion) -> dict:
        return {**result_summary(placed, completion), "warnings": list(self.warnings)}


@dataclass(kw_only=True)
class FillRequest(ObjectRequest):
    """One mesh object's hole filling, in the object's local space.

    vertices/triangles are what ``scene_io.hole_filling_input`` read (the mesh's own vertex order); the result
    is a copy of the same mesh with the patches appended, so the fit never sees the n-gons it keeps.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    max_hole_size: float | None = None
    """Local units; None: no limit."""
    selected: np.ndarray | None = None
    """Vertex indices whose holes are filled; None: every hole."""
    mark_invented: bool = True

    preview_name = None

    def new_job(self) -> FillJob:
        return FillJob(self.vertices, self.triangles, self.config, self.prior, self.device, self.seed,
                       self.threads, self.max_hole_size, self.selected)

    def place(self, filling, view_layer=None):
        return place_filled(self, filling)

    def summary(self, placed, filling) -> dict:
        return fill_summary(placed, filling)


@dataclass
class FileRequest:
    """One file's fit: read, completed (in the job's process) and written, as the command line does."""

    path: str
    destination: str
    config: FitConfig
    prior: Prior | None
    device: str
    seed: int
    threads: int = 0

    @property
    def label(self) -> str:
        return os.path.basename(self.path)

    preview_name = None

    def new_job(self) -> FitJob:
        from ..core.io import read_observation, write_mesh

        return FitJob(lambda: read_observation(self.path, seed=self.seed), self.config, self.prior, self.device,
                      self.seed, self.threads,
                      after=lambda completion: write_mesh(self.destination, completion.vertices, completion.faces))

    def place(self, completion, view_layer=None):
        return self.destination

    def summary(self, destination, completion) -> dict:
        return {**completion.stats.to_dict(), "object": None, "input": self.path, "output": destination,
                "notes": list(completion.notes)}


def prepare_requests(objects, active, scene, depsgraph, settings, device: str, threads: int = 0) -> list[FitRequest]:
    """The run for the selection and the panel's or operator's settings: one request per usable object, or
    one for all of them when ``settings.merge_selected``. Raises ``NeuRepError`` with a user-facing message."""
    missing = dependencies.missing_modules()
    if missing:
        raise InputError(dependencies.missing_message(missing))
    config, prior = settings.fit_settings()
    if settings.chosen_mode is Mode.FILL_HOLES:
        return fill_requests(objects, scene, depsgraph, config, prior, device, settings.seed, threads=threads,
                             max_hole_size=settings.max_hole_size or None,
                             only_selected=settings.only_selected_holes, mark_invented=settings.mark_invented)
    invented = settings.invented_spacing if settings.mark_invented else None
    if settings.merge_selected:
        groups = [(list(objects), active)]
    else:
        usable = sorted(scene_io.usable_objects(objects), key=lambda ob: ob.name)
        groups = [([ob], ob) for ob in usable]
    return [make_request(group, group_active, scene, depsgraph, config, prior, device, settings.seed,
                         threads=threads, invented_factor=invented) for group, group_active in groups]


def make_request(objects, active, scene, depsgraph, config: FitConfig, prior: Prior | None, device: str,
                 seed: int, threads: int = 0, invented_factor: float | None = 4.0) -> FitRequest:
    """Snapshot ``objects`` (world space, modifiers applied) into the request of one fit, placed like
    ``active`` (or the first usable object by name)."""
    source = scene_io.primary_source(objects, active)
    observation = scene_io.observation_from_objects(objects, depsgraph, seed=seed)
    materials = tuple(m.name if m is not None else None for m in getattr(source.data, "materials", ()))
    sources = tuple((ob.session_uid, ob.name, scene_io.source_fingerprint(ob))
                    for ob in scene_io.usable_objects(objects))
    return FitRequest(observation=observation, config=config, prior=prior, device=device, seed=seed,
                      source_name=source.name, scene_name=scene.name,
                      matrix_world=np.array(source.matrix_world, dtype=np.float64), material_names=materials,
                      threads=threads, invented_factor=invented_factor, source_uid=source.session_uid,
                      sources=sources)


def fill_requests(objects, scene, depsgraph, config: FitConfig, prior: Prior | None, device: str, seed: int,
                  threads: int = 0, max_hole_size: float | None = None, only_selected: bool = False,
                  mark_invented: bool = True) -> list[FillRequest]:
    """One hole filling per selected mesh, by name; every object is checked before any fit (a point cloud
    or a mesh without faces raises ``InputError`` pointing to Complete). Objects of other types are skipped,
    as Complete skips them."""
    requests = []
    for ob in sorted(scene_io.usable_objects(objects), key=lambda ob: ob.name):
        vertices, triangles, selected = scene_io.hole_filling_input(ob, depsgraph)
        chosen = None
        if only_selected:
            chosen = np.flatnonzero(selected)
            if not len(chosen):
                raise InputError(f"'{ob.name}': Only Selected Holes is on but no vertex is selected; select "
                                 "vertices on the holes' borders in Edit Mode, or turn it off")
        requests.append(FillRequest(vertices=vertices, triangles=triangles, config=config, prior=prior,
                                    device=device, seed=seed, source_name=ob.name, scene_name=scene.name,
                                    matrix_world=np.array(ob.matrix_world, dtype=np.float64), threads=threads,
                                    max_hole_size=max_hole_size, selected=chosen, mark_invented=mark_invented,
                                    source_uid=ob.session_uid))
    return requests


def files_requests(paths: list[str], output_dir: str, config: FitConfig, prior: Prior | None, device: str,
                   seed: int, threads: int = 0) -> list[FileRequest]:
    """One request per file, written to ``output_dir`` under ``naming.result_file_names``, as the command
    line names a folder's outputs. Checked before any work."""
    from ..core.io import READ_SUFFIXES, check_writable

    if not paths:
        raise InputError("no files are chosen; pick one or more scans in the file browser")
    out = Path(output_dir)
    if not output_dir or not out.is_dir():
        raise OutputError(f"{output_dir or 'the output folder'}: not an existing folder; choose where results go")
    requests = []
    for path, name in zip(paths, result_file_names(paths)):
        if Path(path).suffix.lower() not in READ_SUFFIXES:
            raise InputError(f"{path}: cannot read {Path(path).suffix or 'files without a suffix'}; "
                             f"use one of {', '.join(READ_SUFFIXES)}")
        destination = check_writable(out / name)
        if any(destination.resolve() == Path(p).resolve() for p in paths):
            raise OutputError(f"{destination}: is one of the inputs; choose another output folder")
        requests.append(FileRequest(path, str(destination), config, prior, device, seed, threads))
    return requests


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


def place_all(done: list, view_layer=None, failures: list | None = None) -> list[dict]:
    """Place every finished request's result (one undo step when called from a finishing operator); one that
    cannot be placed (its source changed during the fit) is named in ``failures``."""
    summaries, placed_objects = [], []
    for request, completion in done:
        try:
            placed = request.place(completion)
        except NeuRepError as exc:
            if failures is None:
                raise
            failures.append(f"{request.label}: {user_message(exc)}")
            continue
        summaries.append(request.summary(placed, completion))
        if isinstance(placed, bpy.types.Object):
            placed_objects.append(placed)
    if view_layer is not None and placed_objects:
        select_only(view_layer, placed_objects)
    return summaries


def select_only(view_layer, objects: list) -> None:
    """Select ``objects`` alone and make the last one active. The selection may still list an object
    deleted during the fit (as None) until the view layer is next synced: it is skipped."""
    for ob in view_layer.objects.selected:
        if ob is not None:
            ob.select_set(False, view_layer=view_layer)
    for ob in objects:
        ob.select_set(True, view_layer=view_layer)
    view_layer.objects.active = objects[-1]


def overall_fraction(index: int, count: int, info) -> float:
    return (index + info.step / max(info.total_steps, 1)) / max(count, 1)


def output_collection(request: FitRequest):
    """The source's collection, or its scene's if the source was deleted during the fit."""
    scene = bpy.data.scenes.get(request.scene_name) or bpy.context.scene
    source = scene_io.find_object(request.source_uid, request.source_name)
    return scene_io.target_collection(source, scene) if source is not None else scene.collection


def source_changes(request: FitRequest) -> list[str]:
    """What happened to the request's objects since it was made: deleted, renamed, moved or edited.
    The result always completes them as they were when the fit started."""
    changes = []
    for uid, name, fingerprint in request.sources:
        ob = scene_io.find_object(uid, name)
        if ob is None:
            changes.append(f"'{name}' was deleted during the fit")
            continue
        if ob.name != name:
            changes.append(f"'{name}' was renamed '{ob.name}' during the fit")
        if scene_io.source_fingerprint(ob) != fingerprint:
            changes.append(f"'{ob.name}' was moved or edited during the fit")
    if changes:
        changes.append("the result completes the scan as it was when the fit started")
    return ["; ".join(changes)] if changes else []


def place_result(request: FitRequest, completion, view_layer=None):
    """The completed mesh as ``<source>_completed``: the source's transform, collection and materials, plus
    the invented slot; selected and active when ``view_layer`` is given. Returns the object."""
    threshold = None
    if request.invented_factor is not None:
        threshold = scene_io.invented_threshold(request.observation.points, request.config.resolution,
                                                request.invented_factor)
    materials = [bpy.data.materials.get(name) if name else None for name in request.material_names]
    source = scene_io.find_object(request.source_uid, request.source_name)
    request.warnings = source_changes(request)
    if source is None:
        request.warnings.append(f"the result is in the scene's main collection, as '{request.source_name}' "
                                "is gone")
    name = source.name if source is not None else request.source_name
    surface = None  # UVs and colours come from the one source, unchanged since the fit started
    if source is not None and len(request.sources) == 1 and not request.warnings:
        surface = scene_io.source_surface(source, bpy.context.evaluated_depsgraph_get())
    result = scene_io.create_result_object(result_name(name), output_collection(request),
                                           completion.vertices, completion.faces, completion.distance,
                                           matrix_world=request.matrix_world, materials=materials,
                                           invented_threshold=threshold, surface=surface)
    if view_layer is not None:
        select_only(view_layer, [result])
    return result


def place_filled(request: FillRequest, filling):
    """The filled mesh as ``<source>_filled``: a copy of the source's mesh (its own vertices, faces and
    attributes first, unchanged) with the patches appended as triangles in the "NeuRep: invented" slot;
    the source's transform and collection. Raises ``InputError`` when the source changed during the fit."""
    source = scene_io.find_object(request.source_uid, request.source_name)
    if source is None or source.type != "MESH":
        raise InputError(f"'{request.source_name}' was deleted during the fit; its holes were not filled")
    depsgraph = bpy.context.evaluated_depsgraph_get()
    name = result_name(source.name, Mode.FILL_HOLES)
    mesh = scene_io.copy_source_mesh(source, depsgraph, name)
    kept = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", kept)
    if len(mesh.vertices) != len(request.vertices) or \
            not np.array_equal(kept.reshape(-1, 3).astype(np.float64), request.vertices):
        bpy.data.meshes.remove(mesh)
        raise InputError(f"'{source.name}' was edited during the fit; fill its holes again")
    count = len(request.vertices)
    added = scene_io.append_triangles(mesh, filling.vertices[count:], filling.faces[filling.input_faces:])
    if request.mark_invented and added.any():
        scene_io.mark_invented(mesh, added)
    result = bpy.data.objects.new(name, mesh)
    result.matrix_basis = Matrix(request.matrix_world.tolist())  # no parent: the basis is the world transform
    output_collection(request).objects.link(result)
    return result


def fill_summary(result_object, filling) -> dict:
    """The hole filling's figures (core stats with holes closed, left open and added area), the reasons
    holes stayed open, notes and the object's name."""
    return {**filling.stats.to_dict(), "mode": Mode.FILL_HOLES.value, "object": result_object.name,
            "open_holes": [hole.reason for hole in filling.holes if not hole.closed],
            "invented_faces": int(filling.stats.added_faces), "notes": list(filling.notes)}


def result_summary(result_object, completion) -> dict:
    """The figures shown in the panel and returned by the batch mode: core stats, notes, object name."""
    summary = {**completion.stats.to_dict(), "object": result_object.name, "notes": list(completion.notes)}
    if scene_io.INVENTED_ATTRIBUTE in result_object.data.attributes:
        flags = np.zeros(len(result_object.data.polygons), dtype=bool)
        result_object.data.attributes[scene_io.INVENTED_ATTRIBUTE].data.foreach_get("value", flags)
        summary["invented_faces"] = int(flags.sum())
    return summary


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

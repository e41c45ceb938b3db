"""What a run does, snapshotted from the scene on the main thread: one request per fit, each knowing the job
it runs (``new_job``) and nothing of where its result goes (``placing``).

    prepare_requests (selection -> one FitRequest per object, or one for all when merging;
                      Fill Holes mode: one FillRequest per mesh object)
    files_requests   (files -> one FileRequest per file, read when its job starts, written when it ends)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import InputError, OutputError
from ..core.observation import Observation
from ..jobs.job import FillJob, FitJob
from ..jobs.kinds import Mode
from ..jobs.naming import preview_name, result_file_names
from ..setup import dependencies
from . import scene_io

if TYPE_CHECKING:  # annotations only: the engine (torch) never loads in this process
    from ..core.config import FitConfig
    from ..core.fit_settings import PriorChoice

@dataclass(kw_only=True)
class ObjectRequest:
    """What every fit of a scene object needs, snapshotted on the main thread. Objects are kept by session id
    and name, never by reference (undo and file loads free them)."""

    config: FitConfig
    prior: PriorChoice
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

    @property
    def preview_name(self) -> str | None:
        return preview_name(self.source_name)

    def new_job(self) -> FitJob:
        return FitJob(self.observation, self.config, self.prior, self.device, self.seed, self.threads)


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


@dataclass
class FileRequest:
    """One file's fit: read, completed (in the job's process) and written, as the command line does."""

    path: str
    destination: str
    config: FitConfig
    prior: PriorChoice
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


def make_request(objects, active, scene, depsgraph, config: FitConfig, prior: PriorChoice, device: str,
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


def fill_requests(objects, scene, depsgraph, config: FitConfig, prior: PriorChoice, device: str, seed: int,
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


def files_requests(paths: list[str], output_dir: str, config: FitConfig, prior: PriorChoice, device: str,
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

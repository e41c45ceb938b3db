"""Reading observations from files and writing meshes, with trimesh doing the format work.

Readable: PLY (points, points + normals, or a mesh), OBJ, OFF, STL, XYZ (``x y z [nx ny nz]`` per line),
NPY (N x 3 or N x 6). Meshes contribute area-weighted surface samples carrying their face normals.
Writable: PLY and OBJ, chosen by suffix; files are written to a temporary name and renamed, so a failed
or interrupted write never leaves a half-written output.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import trimesh

from .errors import InputError
from .observation import Observation

MESH_SAMPLES = 100_000
"""Surface samples drawn from a mesh input (area-weighted)."""

READ_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".xyz", ".npy")
WRITE_SUFFIXES = (".ply", ".obj")


def read_observation(path: str | os.PathLike, seed: int = 0, mesh_samples: int = MESH_SAMPLES) -> Observation:
    """The observation stored in ``path``; raises ``InputError`` with the reason when it cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if suffix not in READ_SUFFIXES:
        raise InputError(f"{path}: unknown format {suffix or '(no suffix)'!r}; "
                         f"readable formats are {', '.join(READ_SUFFIXES)}")
    try:
        if suffix == ".npy":
            return _from_array(np.load(path, allow_pickle=False), path)
        if suffix == ".xyz":
            return _from_array(np.loadtxt(path, dtype=np.float64, comments="#", ndmin=2), path)
        loaded = trimesh.load(path, process=False)
    except InputError:
        raise
    except Exception as exc:  # every reader failure becomes one clear message
        raise InputError(f"{path}: cannot be read as {suffix[1:].upper()} ({exc})") from exc
    return _from_trimesh(loaded, path, seed, mesh_samples)


def _from_array(array: np.ndarray, path: Path) -> Observation:
    if array.ndim != 2 or array.shape[1] not in (3, 6):
        raise InputError(f"{path}: expected N x 3 (points) or N x 6 (points and normals) values, "
                         f"got shape {array.shape}")
    array = np.asarray(array, dtype=np.float64)
    return Observation(array[:, :3], array[:, 3:6] if array.shape[1] == 6 else None)


def _from_trimesh(loaded, path: Path, seed: int, mesh_samples: int) -> Observation:
    if isinstance(loaded, trimesh.Scene):
        geometries = list(loaded.dump()) if loaded.geometry else []
        meshes = [g for g in geometries if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if meshes:
            loaded = trimesh.util.concatenate(meshes)
        elif geometries and isinstance(geometries[0], trimesh.PointCloud):
            loaded = geometries[0]
        else:
            raise InputError(f"{path}: the file holds no points or faces")
    if isinstance(loaded, trimesh.Trimesh) and len(loaded.faces) > 0:
        return _sample_mesh(loaded, path, seed, mesh_samples)
    if isinstance(loaded, (trimesh.Trimesh, trimesh.PointCloud)):
        points = np.asarray(loaded.vertices, dtype=np.float64)
        return Observation(points, _ply_normals(loaded))
    raise InputError(f"{path}: the file holds no points or faces")


def _sample_mesh(mesh: trimesh.Trimesh, path: Path, seed: int, count: int) -> Observation:
    areas = mesh.area_faces
    if not np.isfinite(areas).all() or areas.sum() <= 0:
        raise InputError(f"{path}: the mesh has no faces with area; it cannot be sampled")
    points, faces = trimesh.sample.sample_surface(mesh, count, seed=seed)
    normals = np.asarray(mesh.face_normals, dtype=np.float64)[faces]
    return Observation(np.asarray(points, dtype=np.float64), normals,
                       (f"sampled {count:,} points from a mesh of {len(mesh.faces):,} faces",))


def _ply_normals(cloud) -> np.ndarray | None:
    vertex = (cloud.metadata.get("_ply_raw") or {}).get("vertex", {}).get("data")
    # Binary PLY gives a structured array, ASCII PLY a dict of columns.
    if isinstance(vertex, dict):
        names = set(vertex)
    else:
        names = set(getattr(getattr(vertex, "dtype", None), "names", None) or ())
    if not {"nx", "ny", "nz"} <= names:
        return None
    return np.stack([np.ravel(vertex[c]) for c in ("nx", "ny", "nz")], axis=1).astype(np.float64)


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray,
               vertex_attributes: dict[str, np.ndarray] | None = None) -> Path:
    """Write a triangle mesh to ``path`` (``.ply`` or ``.obj``) atomically; returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise InputError(f"{path}: cannot write {suffix or '(no suffix)'!r}; "
                         f"writable formats are {', '.join(WRITE_SUFFIXES)}")
    if not path.parent.exists():
        raise InputError(f"{path.parent}: output folder does not exist")
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False,
                           vertex_attributes=vertex_attributes or {})
    data = mesh.export(file_type=suffix[1:], include_attributes=True) if suffix == ".ply" else \
        mesh.export(file_type=suffix[1:])
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path

"""Files: reading observations and meshes from paths, writing meshes and reports, and the suffix rules.

The formats themselves are parsed and written in ``formats`` (bytes <-> arrays); here a path is checked
(it exists, is a file of a known suffix, is not empty; an output's folder accepts new files) and read or
written. A reader raises ``InputError`` and a writer ``OutputError``, saying what is wrong and where.

Hole filling reads a mesh as it is (``read_mesh``: vertices, triangles, and for PLY every element and
property) and writes it back with the patches appended (``write_filled_mesh``, see ``formats``).

Files go to a visible temporary ``NAME.XXXXXXXX.part`` next to the output and are renamed when complete
(``write_atomically``), so a failed or interrupted write never leaves a half-written output; new files get
the permissions the user's umask gives.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from plyfile import PlyData

from .errors import InputError, OutputError
from .formats import filled_mesh_bytes, mesh_bytes, parse_mesh, parse_observation
from .observation import MESH_SAMPLES, Observation

READ_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".xyz", ".npy")
WRITE_SUFFIXES = (".ply", ".obj")
MESH_SUFFIXES = (".ply", ".obj", ".off", ".stl")
"""Formats that can hold a mesh (hole filling needs one)."""


def read_observation(path: str | os.PathLike, seed: int = 0, mesh_samples: int = MESH_SAMPLES) -> Observation:
    """The observation stored in ``path``; raises ``InputError`` with the reason when it cannot be read."""
    path, data = _read_bytes(path, READ_SUFFIXES)
    with _open(path) as stream:
        return parse_observation(data, path.suffix.lower(), str(path), seed, mesh_samples, stream)


def _read_bytes(path: str | os.PathLike, suffixes: tuple[str, ...]) -> tuple[Path, bytes]:
    """The path and the bytes of a non-empty file of one of ``suffixes``, or ``InputError``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if suffix not in suffixes:
        raise InputError(f"{path}: unknown format {suffix or '(no suffix)'!r}; "
                         f"readable formats are {', '.join(suffixes)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not data.strip():
        raise InputError(f"{path}: the file is empty")
    return path, data


def _open(path: Path) -> BinaryIO:
    """``path`` open for reading, for the formats to memory-map (``formats.parse_observation``)."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc


def check_writable(path: str | os.PathLike, suffixes: tuple[str, ...] | None = WRITE_SUFFIXES) -> Path:
    """``path`` if a file can be written there, else ``OutputError``: a known suffix (any when ``suffixes`` is
    ``None``), not a folder or device, in an existing folder that accepts new files (tried, not guessed)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffixes is not None and suffix not in suffixes:
        raise OutputError(f"{path}: cannot write {suffix or '(no suffix)'!r}; "
                          f"writable formats are {', '.join(suffixes)}")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: is not a regular file")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: the folder {path.parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: cannot write files in the folder {path.parent} ({exc.strerror})") from exc
    return path


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write a triangle mesh to ``path`` (``.ply`` or ``.obj``) atomically, coordinates exact; returns the path."""
    path = check_writable(path)
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    bad = np.flatnonzero(~np.isfinite(vertices).all(axis=1))
    if len(bad):
        raise OutputError(f"{path}: not written; vertex {bad[0]} of the mesh is not finite")
    write_atomically(path, mesh_bytes(path.suffix.lower(), vertices, faces))
    return path


def write_json(path: str | os.PathLike, content) -> Path:
    """Write ``content`` as indented JSON to ``path`` atomically; returns the path."""
    path = check_writable(path, suffixes=None)
    write_atomically(path, json.dumps(content, indent=2).encode("utf-8"))
    return path


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``NAME.XXXXXXXX.part`` beside ``path``, then rename it to ``path``; the temporary file
    never outlives a failure (``OutputError``), and a reader never sees a half-written ``path``."""
    path = Path(path)
    temp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
    try:
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        raise


# --- Meshes kept whole, for hole filling ------------------------------------------------------

@dataclass
class MeshFile:
    """A mesh as its file holds it, kept so that it can be written back unchanged with patches added.

    vertices: float64 [V, 3], the file's values exactly; faces: int64 [F, 3], polygons split into fans in
    file order; data: the file's bytes (an OBJ is written back from them); ply: a PLY file as plyfile reads it,
    every element, property, type, value and comment.
    """

    path: Path
    vertices: np.ndarray
    faces: np.ndarray
    data: bytes
    ply: PlyData | None = None


def read_mesh(path: str | os.PathLike) -> MeshFile:
    """The mesh in ``path`` (PLY, OBJ, OFF or STL, ``formats.parse_mesh``), or ``InputError`` saying why it
    is not a usable mesh."""
    path, data = _read_bytes(path, MESH_SUFFIXES)
    with _open(path) as stream:
        vertices, faces, ply = parse_mesh(data, path.suffix.lower(), str(path), stream)
    return MeshFile(path, vertices, faces, data, ply)


def write_filled_mesh(path: str | os.PathLike, mesh: MeshFile, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write ``mesh`` with patches appended (``formats.filled_mesh_bytes``), atomically; returns the path.

    vertices: float64 [V + N, 3] and faces: int [F + P, 3] begin with ``mesh``'s V vertices and F faces, which
    are written as the file had them: to the input's format, its text (OBJ) or elements (PLY) are kept.
    """
    path = check_writable(path)
    new_vertices = np.asarray(vertices, dtype=np.float64)[len(mesh.vertices):]
    new_faces = np.asarray(faces, dtype=np.int64)[len(mesh.faces):]
    if not np.isfinite(new_vertices).all():
        raise OutputError(f"{path}: not written; a patch vertex is not finite")
    same = path.suffix.lower() == mesh.path.suffix.lower()
    write_atomically(path, filled_mesh_bytes(path.suffix.lower(), mesh.vertices, mesh.faces, new_vertices,
                                             new_faces, mesh.data if same else None, mesh.ply if same else None))
    return path

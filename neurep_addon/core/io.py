"""Reading observations from files and writing meshes.

Readable: PLY (points, points + normals, or a mesh), OBJ, OFF, STL, and point tables in XYZ text or NPY
(``x y z``, ``x y z nx ny nz``, ``x y z r g b``, ``x y z nx ny nz r g b`` or ``x y z r g b nx ny nz``; colours
are recognised and ignored). Meshes contribute area-weighted surface samples carrying their face normals.
trimesh parses PLY, OFF and STL; the checks it does not make (declared counts, face indices, finite
coordinates) are made here. OBJ is read here, since trimesh misreads relative (negative) face indices.
A reader returns finite N x 3 points or raises ``InputError`` saying what is wrong and where.

Writable: PLY (binary, double precision) and OBJ (17 significant digits), so coordinates round-trip
exactly. Files go to a visible temporary ``NAME.XXXXXXXX.part`` next to the output and are renamed when
complete, so a failed or interrupted write never leaves a half-written output; new files get the
permissions the user's umask gives.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import tempfile
import warnings
from pathlib import Path

import numpy as np
import trimesh

from .errors import InputError, OutputError
from .observation import Observation

MESH_SAMPLES = 100_000
"""Surface samples drawn from a mesh input (area-weighted)."""

READ_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".xyz", ".npy")
WRITE_SUFFIXES = (".ply", ".obj")

PLY_TYPE_BYTES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2,
                  "uint16": 2, "int": 4, "uint": 4, "float": 4, "int32": 4, "uint32": 4, "float32": 4,
                  "double": 8, "float64": 8}
PLY_FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")


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
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not data.strip():
        raise InputError(f"{path}: the file is empty")
    if suffix in (".npy", ".xyz"):
        return _from_table(_parse_table(data, suffix, path), path)
    if suffix == ".obj":
        vertices, faces = _parse_obj(data, path)
        return _from_geometry(vertices, faces, path, seed, mesh_samples)
    if suffix == ".ply":
        _check_ply_layout(data, path)
    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=suffix[1:], process=False)
    except Exception as exc:  # every parser failure becomes one clear message
        raise InputError(f"{path}: cannot be read as {suffix[1:].upper()} ({exc})") from exc
    return _from_trimesh(loaded, path, seed, mesh_samples)


def _parse_table(data: bytes, suffix: str, path: Path) -> np.ndarray:
    """The numbers of an NPY or XYZ file as a 2-D float64 array."""
    try:
        if suffix == ".npy":
            array = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            with warnings.catch_warnings():  # a file of comments only is reported below, not warned about
                warnings.simplefilter("ignore", UserWarning)
                array = np.loadtxt(io.BytesIO(data), dtype=np.float64, comments="#", ndmin=2)
    except Exception as exc:  # every parser failure becomes one clear message
        raise InputError(f"{path}: cannot be read as {suffix[1:].upper()} ({exc})") from exc
    if not isinstance(array, np.ndarray):
        raise InputError(f"{path}: holds several arrays (an .npz archive?); save one N x 3 array with np.save")
    if array.dtype.kind not in "iuf":
        raise InputError(f"{path}: holds values of type {array.dtype}; coordinates must be real numbers "
                         "(float or int)")
    if array.size == 0:
        raise InputError(f"{path}: the file holds no points")
    if array.ndim != 2:
        raise InputError(f"{path}: expected a table of N rows, got an array of shape {array.shape}")
    return array.astype(np.float64)


def _from_table(table: np.ndarray, path: Path) -> Observation:
    """Points, normals and ignored colours from 3, 6 or 9 columns (see the module docstring)."""
    if table.shape[1] not in (3, 6, 9):
        raise InputError(f"{path}: expected 3 columns (x y z), 6 (plus nx ny nz, or r g b) or 9 (plus both), "
                         f"got {table.shape[1]}")
    points, triples = table[:, :3], [table[:, start:start + 3] for start in range(3, table.shape[1], 3)]
    _check_finite(points, "point", path)
    colour = [_looks_like_colour(triple) for triple in triples]
    if len(triples) == 2 and colour.count(True) != 1:
        raise InputError(f"{path}: 9 columns need one triple of unit normals and one of colours (0-255); "
                         "columns 4-6 and 7-9 cannot be told apart")
    notes = tuple(f"columns {3 * i + 4}-{3 * i + 6} look like colours (0-255, not unit normals); "
                  "they were ignored" for i, is_colour in enumerate(colour) if is_colour)
    normals = next((triple for triple, is_colour in zip(triples, colour) if not is_colour), None)
    return Observation(points, normals, notes)


def _looks_like_colour(triple: np.ndarray) -> bool:
    """Colour values lie in [0, 255] and, unlike normals, are mostly not unit vectors."""
    unit = np.abs(np.linalg.norm(triple, axis=1) - 1.0) < 1e-2
    return bool(((triple >= 0) & (triple <= 255)).all() and unit.mean() < 0.9)


def _parse_obj(data: bytes, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices [V, 3] and triangles [F, 3] (polygons fanned) of an OBJ file; other records are ignored.

    A face refers to vertices defined before it: ``i`` counts from the first (1), ``-i`` back from the last
    (-1), the OBJ rule that trimesh breaks for files that interleave vertices and faces.
    """
    vertices: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    text = data.decode("utf-8", errors="replace").replace("\\\n", " ")
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0] not in ("v", "f"):
            continue
        if words[0] == "v":
            try:
                vertices.append([float(w) for w in words[1:4]])
            except ValueError:
                raise InputError(f"{path}: line {number}: {line.strip()!r} is not a vertex 'v X Y Z'") from None
            if len(vertices[-1]) != 3:
                raise InputError(f"{path}: line {number}: a vertex needs three coordinates, got {line.strip()!r}")
            continue
        corners = [_obj_index(word, len(vertices), number, path) for word in words[1:]]
        if len(corners) < 3:
            raise InputError(f"{path}: line {number}: a face needs at least 3 vertices, got {line.strip()!r}")
        faces += [(corners[0], a, b) for a, b in zip(corners[1:], corners[2:])]
    return np.array(vertices, dtype=np.float64).reshape(-1, 3), np.array(faces, dtype=np.int64).reshape(-1, 3)


def _obj_index(word: str, defined: int, line: int, path: Path) -> int:
    """The 0-based vertex of a face corner ``i``, ``i/t``, ``i//n`` or ``i/t/n``."""
    try:
        index = int(word.split("/")[0])
    except ValueError:
        raise InputError(f"{path}: line {line}: face corner {word!r} is not a vertex number") from None
    if index == 0:
        raise InputError(f"{path}: line {line}: vertex number 0 is invalid; OBJ counts from 1 (or back from -1)")
    if not -defined <= index <= defined:
        raise InputError(f"{path}: line {line}: a face refers to vertex {index}, but only {defined} vertices "
                         "are defined before it")
    return index - 1 if index > 0 else defined + index


def _check_ply_layout(data: bytes, path: Path) -> None:
    """Check that a PLY header is well formed and that the body holds the rows, values or bytes it declares.

    trimesh silently drops or misreads ASCII rows that do not match the header, and a huge declared count
    in a small binary file would make it allocate without bound; both are refused here.
    """
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise InputError(f"{path}: not a PLY file (it must start with 'ply' and its header end with 'end_header')")
    body = data[data.find(b"\n", end) + 1:] if b"\n" in data[end:] else b""
    fmt, elements = None, []  # elements: (name, count, [(property, bytes, is_list), ...])
    for line in data[:end].decode("ascii", errors="replace").splitlines()[1:]:
        words = line.split()
        if words[:1] == ["format"]:
            fmt = words[1] if len(words) > 1 else ""
        elif words[:1] == ["element"]:
            if len(words) != 3 or not words[2].isdigit():
                raise InputError(f"{path}: header line {line.strip()!r} is not 'element NAME COUNT'")
            elements.append((words[1], int(words[2]), []))
        elif words[:1] == ["property"] and elements:
            is_list = words[1:2] == ["list"]
            kind = words[1 + is_list] if len(words) > 1 + is_list else ""
            if kind not in PLY_TYPE_BYTES:
                raise InputError(f"{path}: header line {line.strip()!r} has an unknown property type")
            elements[-1][2].append((words[-1], PLY_TYPE_BYTES[kind], is_list))
    if fmt not in PLY_FORMATS:
        raise InputError(f"{path}: PLY format {fmt!r} is unknown; expected one of {', '.join(PLY_FORMATS)}")
    for name, _, properties in elements:
        if name == "vertex" and not {"x", "y", "z"} <= {p[0] for p in properties}:
            raise InputError(f"{path}: the vertex element has no x, y and z properties")
    declared = ", ".join(f"{count:,} {name}" for name, count, _ in elements) or "no"
    if fmt == "ascii":
        _check_ascii_rows(body.decode("ascii", errors="replace").splitlines(), elements, declared, path)
        return
    needed = sum(count * sum(p[1] for p in properties) for _, count, properties in elements)
    fixed = not any(p[2] for _, _, properties in elements for p in properties)
    if needed > len(body) or (fixed and needed != len(body)):
        raise InputError(f"{path}: the header declares {declared} rows ({needed:,} bytes{'' if fixed else ' or more'}), "
                         f"but {len(body):,} bytes follow it; the file is truncated or its header is wrong")


def _check_ascii_rows(lines: list[str], elements: list, declared: str, path: Path) -> None:
    """Each element's rows in turn, each with the values its properties need (a list: its length, then items)."""
    rows = [line.split() for line in lines if line.strip()]
    if len(rows) != sum(count for _, count, _ in elements):
        raise InputError(f"{path}: the header declares {declared} rows, but {len(rows):,} rows follow it")
    start = 0
    for name, count, properties in elements:
        for number, words in enumerate(rows[start:start + count]):
            needed = 0
            for _, _, is_list in properties:
                if is_list and not (needed < len(words) and words[needed].isdigit()):
                    raise InputError(f"{path}: {name} {number} does not start its list with a length")
                needed += 1 + (int(words[needed]) if is_list else 0)
            if needed != len(words):
                raise InputError(f"{path}: {name} {number} has {len(words)} values, but its header and list "
                                 f"lengths call for {needed}")
        start += count


def _from_trimesh(loaded, path: Path, seed: int, mesh_samples: int) -> Observation:
    parts = list(loaded.geometry.values()) if isinstance(loaded, trimesh.Scene) else [loaded]
    parts = [p for p in parts if isinstance(p, (trimesh.Trimesh, trimesh.PointCloud))]
    if not parts:
        raise InputError(f"{path}: the file holds no points or faces")
    meshes = [p for p in parts if isinstance(p, trimesh.Trimesh) and len(p.faces)]
    if not meshes:
        cloud = parts[0]
        return _from_geometry(np.asarray(cloud.vertices, dtype=np.float64).reshape(-1, 3), np.zeros((0, 3), int),
                              path, seed, mesh_samples, _ply_normals(cloud))
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    vertices = np.concatenate([np.asarray(m.vertices, dtype=np.float64) for m in meshes])
    faces = np.concatenate([np.asarray(m.faces, dtype=np.int64) + offset for m, offset in zip(meshes, offsets)])
    return _from_geometry(vertices, faces, path, seed, mesh_samples)


def _from_geometry(vertices: np.ndarray, faces: np.ndarray, path: Path, seed: int, mesh_samples: int,
                   normals: np.ndarray | None = None) -> Observation:
    """Surface samples of a mesh, or the vertices themselves when there are no faces."""
    if len(vertices) == 0:
        raise InputError(f"{path}: the file holds no points or faces")
    _check_finite(vertices, "vertex", path)
    if len(faces) == 0:
        return Observation(vertices, normals)
    _check_faces(faces, len(vertices), path)
    return _sample_mesh(vertices, faces, path, seed, mesh_samples)


def _check_finite(points: np.ndarray, what: str, path: Path) -> None:
    bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if len(bad):
        raise InputError(f"{path}: {what} {bad[0]} is not finite ({', '.join(map(str, points[bad[0]]))}); "
                         f"{len(bad)} of {len(points)} {what} rows hold NaN or Inf")
    with np.errstate(over="ignore"):
        extent = np.ptp(points, axis=0)
    if not np.isfinite(extent).all():
        raise InputError(f"{path}: the coordinates span more than a double can hold; rescale the input")


def _check_faces(faces: np.ndarray, vertex_count: int, path: Path) -> None:
    bad = np.flatnonzero(((faces < 0) | (faces >= vertex_count)).any(axis=1))
    if len(bad):
        face = faces[bad[0]]
        vertex = face[(face < 0) | (face >= vertex_count)][0]
        raise InputError(f"{path}: face {bad[0]} refers to vertex {vertex}, but the file has {vertex_count:,} "
                         f"vertices (numbered 0 to {vertex_count - 1:,})")


def _sample_mesh(vertices: np.ndarray, faces: np.ndarray, path: Path, seed: int, count: int) -> Observation:
    """Area-weighted samples, drawn on a unit-sized copy so that face areas neither overflow nor underflow."""
    center = (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    scale = float(np.abs(vertices - center).max()) or 1.0
    mesh = trimesh.Trimesh((vertices - center) / scale, faces, process=False)
    if not mesh.area_faces.sum() > 0:
        raise InputError(f"{path}: all {len(faces):,} faces have zero area; the mesh cannot be sampled")
    points, index = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return Observation(np.asarray(points, dtype=np.float64) * scale + center,
                       np.asarray(mesh.face_normals, dtype=np.float64)[index],
                       (f"sampled {count:,} points from a mesh of {len(faces):,} faces",))


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
    if path.suffix.lower() == ".obj":
        text = io.StringIO()
        np.savetxt(text, vertices, fmt="v %.17g %.17g %.17g")
        np.savetxt(text, faces + 1, fmt="f %d %d %d")
        data = text.getvalue().encode("ascii")
    else:
        header = (f"ply\nformat binary_little_endian 1.0\nelement vertex {len(vertices)}\n"
                  "property double x\nproperty double y\nproperty double z\n"
                  f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
        rows = np.zeros(len(faces), dtype=[("count", "u1"), ("corners", "<i4", (3,))])
        rows["count"], rows["corners"] = 3, faces
        data = header.encode("ascii") + vertices.astype("<f8").tobytes() + rows.tobytes()
    _write_atomically(path, data)
    return path


def write_json(path: str | os.PathLike, content) -> Path:
    """Write ``content`` as indented JSON to ``path`` atomically; returns the path."""
    path = check_writable(path, suffixes=None)
    _write_atomically(path, json.dumps(content, indent=2).encode("utf-8"))
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to ``NAME.XXXXXXXX.part`` beside ``path``, then rename; the temporary file never outlives a failure."""
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

"""Reading observations from files and writing meshes.

Readable: PLY (points, points + normals, or a mesh), OBJ, OFF, STL, and point tables in XYZ text or NPY
(``x y z``, ``x y z nx ny nz``, ``x y z r g b``, ``x y z nx ny nz r g b`` or ``x y z r g b nx ny nz``; colours
are recognised and ignored). Meshes contribute area-weighted surface samples carrying their face normals.
trimesh parses PLY, OFF and STL; the checks it does not make (declared counts, face indices, finite
coordinates) are made here. OBJ is read here, since trimesh misreads relative (negative) face indices.
A reader returns finite N x 3 points or raises ``InputError`` saying what is wrong and where.

Writable: PLY (binary, double precision) and OBJ (17 significant digits), so coordinates round-trip
exactly.

Hole filling reads a mesh as it is (``read_mesh``: vertices, triangles, and for PLY every element and
property) and writes it back with the patches appended (``write_filled_mesh``): a PLY keeps each element,
property, type and value and gains the face property ``neurep_invented``; an OBJ keeps its text verbatim
(``vt``, ``vn``, groups, materials, comments) and gains a group ``neurep_invented``. Files go to a visible temporary ``NAME.XXXXXXXX.part`` next to the output and are renamed when
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from .errors import InputError, OutputError
from .observation import Observation

MESH_SAMPLES = 100_000
"""Surface samples drawn from a mesh input (area-weighted)."""

READ_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".xyz", ".npy")
WRITE_SUFFIXES = (".ply", ".obj")
MESH_SUFFIXES = (".ply", ".obj", ".off", ".stl")
"""Formats that can hold a mesh (hole filling needs one)."""
INVENTED = "neurep_invented"
"""Name of the PLY face property and the OBJ group that mark the faces hole filling added."""

PLY_TYPES = {"char": "i1", "uchar": "u1", "int8": "i1", "uint8": "u1", "short": "i2", "ushort": "u2",
             "int16": "i2", "uint16": "u2", "int": "i4", "uint": "u4", "int32": "i4", "uint32": "u4",
             "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}
"""numpy type of each PLY property type."""
PLY_TYPE_NAMES = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
                  "f4": "float", "f8": "double"}
"""The PLY type written for each numpy type."""
PLY_FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")


def read_observation(path: str | os.PathLike, seed: int = 0, mesh_samples: int = MESH_SAMPLES) -> Observation:
    """The observation stored in ``path``; raises ``InputError`` with the reason when it cannot be read."""
    path, data = _read_bytes(path, READ_SUFFIXES)
    suffix = path.suffix.lower()
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


def _ply_header(data: bytes, path: Path) -> tuple[str, list[str], list[tuple], bytes]:
    """The format, comment lines, elements and body of a PLY file; ``InputError`` for a malformed header.

    elements: (name, count, [(property, numpy type, numpy type of the list length or None), ...]).
    """
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise InputError(f"{path}: not a PLY file (it must start with 'ply' and its header end with 'end_header')")
    body = data[data.find(b"\n", end) + 1:] if b"\n" in data[end:] else b""
    fmt, comments, elements = None, [], []
    for line in data[:end].decode("ascii", errors="replace").splitlines()[1:]:
        words = line.split()
        if words[:1] == ["format"]:
            fmt = words[1] if len(words) > 1 else ""
        elif words[:1] in (["comment"], ["obj_info"]):
            comments.append(line.strip())
        elif words[:1] == ["element"]:
            if len(words) != 3 or not words[2].isdigit():
                raise InputError(f"{path}: header line {line.strip()!r} is not 'element NAME COUNT'")
            elements.append((words[1], int(words[2]), []))
        elif words[:1] == ["property"] and elements:
            kinds = words[2:4] if words[1:2] == ["list"] else words[1:2]
            if len(kinds) < (2 if words[1:2] == ["list"] else 1) or not all(k in PLY_TYPES for k in kinds):
                raise InputError(f"{path}: header line {line.strip()!r} has an unknown property type")
            item, length = (PLY_TYPES[kinds[1]], PLY_TYPES[kinds[0]]) if len(kinds) == 2 else (PLY_TYPES[kinds[0]], None)
            elements[-1][2].append((words[-1], item, length))
    if fmt not in PLY_FORMATS:
        raise InputError(f"{path}: PLY format {fmt!r} is unknown; expected one of {', '.join(PLY_FORMATS)}")
    return fmt, comments, elements, body


def _check_ply_layout(data: bytes, path: Path) -> None:
    """Check that a PLY header is well formed and that the body holds the rows, values or bytes it declares.

    trimesh silently drops or misreads ASCII rows that do not match the header, and a huge declared count
    in a small binary file would make it allocate without bound; both are refused here.
    """
    fmt, _, elements, body = _ply_header(data, path)
    for name, _, properties in elements:
        if name == "vertex" and not {"x", "y", "z"} <= {p[0] for p in properties}:
            raise InputError(f"{path}: the vertex element has no x, y and z properties")
    declared = ", ".join(f"{count:,} {name}" for name, count, _ in elements) or "no"
    if fmt == "ascii":
        _check_ascii_rows(body.decode("ascii", errors="replace").splitlines(), elements, declared, path)
        return
    needed = sum(count * sum(np.dtype(length or item).itemsize for _, item, length in properties)
                 for _, count, properties in elements)
    fixed = not any(length for _, _, properties in elements for _, _, length in properties)
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
            for _, _, length in properties:
                if length is not None and not (needed < len(words) and words[needed].isdigit()):
                    raise InputError(f"{path}: {name} {number} does not start its list with a length")
                needed += 1 + (int(words[needed]) if length is not None else 0)
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
    try:
        return sample_mesh(vertices, faces, mesh_samples, seed)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


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


def sample_mesh(vertices: np.ndarray, faces: np.ndarray, count: int = MESH_SAMPLES, seed: int = 0) -> Observation:
    """``count`` area-weighted samples of a mesh (vertices float64 [V, 3], faces int [F, 3]) with their face
    normals, drawn on a unit-sized copy so that face areas neither overflow nor underflow."""
    center = (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    scale = float(np.abs(vertices - center).max()) or 1.0
    mesh = trimesh.Trimesh((vertices - center) / scale, faces, process=False)
    if not mesh.area_faces.sum() > 0:
        raise InputError(f"all {len(faces):,} faces have zero area; the mesh cannot be sampled")
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


# --- Meshes kept whole, for hole filling --------------------------------------------------------------

@dataclass
class PlyElement:
    """One element of a PLY file, every property kept with its type.

    properties: (name, numpy type, numpy type of the list length or None for a scalar) in file order;
    columns: a scalar property's values [count], a list property's (lengths int64 [count], items [sum]).
    """

    name: str
    count: int
    properties: list[tuple[str, str, str | None]]
    columns: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]]


@dataclass
class MeshFile:
    """A mesh as its file holds it, kept so that it can be written back unchanged with patches added.

    vertices: float64 [V, 3], the file's values exactly; faces: int64 [F, 3], polygons split into fans in
    file order; data: the file's bytes (an OBJ is written back from them); ply_comments and ply_elements: a
    PLY file's header comments and elements, every property and value.
    """

    path: Path
    vertices: np.ndarray
    faces: np.ndarray
    data: bytes
    ply_comments: list[str] = field(default_factory=list)
    ply_elements: list[PlyElement] = field(default_factory=list)


def read_mesh(path: str | os.PathLike) -> MeshFile:
    """The mesh in ``path`` (PLY, OBJ, OFF or STL), or ``InputError`` saying why it is not a usable mesh.

    STL stores each triangle's corners apart, so its equal corners are merged into shared vertices.
    """
    path, data = _read_bytes(path, MESH_SUFFIXES)
    suffix, comments, elements = path.suffix.lower(), [], []
    if suffix == ".obj":
        vertices, faces = _parse_obj(data, path)
    elif suffix == ".ply":
        _check_ply_layout(data, path)
        comments, elements = _parse_ply(data, path)
        vertices, faces = _ply_geometry(elements, path)
    else:
        try:
            loaded = trimesh.load(io.BytesIO(data), file_type=suffix[1:], force="mesh", process=suffix == ".stl")
        except Exception as exc:  # every parser failure becomes one clear message
            raise InputError(f"{path}: cannot be read as {suffix[1:].upper()} ({exc})") from exc
        vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
        faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
    if len(vertices) == 0:
        raise InputError(f"{path}: the file holds no points or faces")
    _check_finite(vertices, "vertex", path)
    if len(faces) == 0:
        raise InputError(f"{path}: holds {len(vertices):,} points but no faces; hole filling keeps a mesh's "
                         "faces and adds what is missing, so it needs a mesh. To make a surface from points, "
                         "use the complete mode")
    _check_faces(faces, len(vertices), path)
    return MeshFile(path, vertices, faces, data, comments, elements)


def write_filled_mesh(path: str | os.PathLike, mesh: MeshFile, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write ``mesh`` with patches appended, atomically; returns the path.

    vertices: float64 [V + N, 3] and faces: int [F + P, 3] begin with ``mesh``'s V vertices and F faces, which
    are written as the file had them. To the same format as the input: a PLY keeps every element and property
    and its faces gain ``neurep_invented`` (1 on the patches); an OBJ keeps its text and the patches follow in
    the group and material ``neurep_invented``. To another format, the geometry is written with that mark.
    """
    path = check_writable(path)
    new_vertices = np.asarray(vertices, dtype=np.float64)[len(mesh.vertices):]
    new_faces = np.asarray(faces, dtype=np.int64)[len(mesh.faces):]
    if not np.isfinite(new_vertices).all():
        raise OutputError(f"{path}: not written; a patch vertex is not finite")
    same = path.suffix.lower() == mesh.path.suffix.lower()
    if path.suffix.lower() == ".obj":
        text = mesh.data if same else _obj_text(mesh.vertices, mesh.faces)
        data = text + (b"" if text.endswith(b"\n") else b"\n") + _obj_text(new_vertices, new_faces, len(mesh.vertices))
    else:
        elements = mesh.ply_elements if same else _plain_ply_elements(mesh.vertices, mesh.faces)
        data = _encode_ply(mesh.ply_comments if same else [], _with_patches(elements, new_vertices, new_faces))
    _write_atomically(path, data)
    return path


def _obj_text(vertices: np.ndarray, faces: np.ndarray, first_index: int | None = None) -> bytes:
    """OBJ lines for vertices [V, 3] and faces [F, 3]; with ``first_index`` (vertices already in the file) they
    are the patches: the group and material ``INVENTED``, faces numbered after those vertices."""
    text = io.StringIO()
    if first_index is not None:
        text.write(f"g {INVENTED}\nusemtl {INVENTED}\n")
    np.savetxt(text, vertices, fmt="v %.17g %.17g %.17g")
    np.savetxt(text, faces + 1, fmt="f %d %d %d")
    return text.getvalue().encode("ascii")


def _parse_ply(data: bytes, path: Path) -> tuple[list[str], list[PlyElement]]:
    """The comments and elements of a PLY file whose layout ``_check_ply_layout`` accepted."""
    fmt, comments, header, body = _ply_header(data, path)
    if fmt == "ascii":
        rows = [line.split() for line in body.decode("ascii", errors="replace").splitlines() if line.strip()]
    order, offset, start, elements = "<" if fmt == "binary_little_endian" else ">", 0, 0, []
    for name, count, properties in header:
        if fmt == "ascii":
            columns = _ascii_columns(rows[start:start + count], properties)
            start += count
        else:
            columns, offset = _binary_columns(body, offset, count, properties, order, path)
        elements.append(PlyElement(name, count, properties, columns))
    return comments, elements


def _ascii_columns(rows: list[list[str]], properties: list) -> dict:
    """Columns (see ``PlyElement``) of ASCII rows already checked against the properties."""
    values: dict[str, list] = {name: [] for name, _, _ in properties}
    lengths: dict[str, list] = {name: [] for name, _, length in properties if length is not None}
    for words in rows:
        at = 0
        for name, _, length in properties:
            if length is None:
                values[name].append(words[at])
                at += 1
            else:
                size = int(words[at])
                lengths[name].append(size)
                values[name] += words[at + 1:at + 1 + size]
                at += 1 + size
    return {name: _typed(values[name], item) if length is None
            else (np.array(lengths[name], dtype=np.int64), _typed(values[name], item))
            for name, item, length in properties}


def _typed(words: list[str], kind: str) -> np.ndarray:
    return np.array(words, dtype=np.float64 if kind[0] == "f" else np.int64).astype(kind)


def _binary_columns(body: bytes, offset: int, count: int, properties: list, order: str,
                    path: Path) -> tuple[dict, int]:
    """Columns of one binary element starting at ``offset``, and the offset after it.

    Rows are read at once when every list has the length of the first row's (triangle meshes), else one by one.
    """
    def row_type(sizes: list[int]) -> np.dtype:
        fields, lists = [], iter(sizes)
        for name, item, length in properties:
            if length is None:
                fields.append((name, order + item))
            else:
                fields += [(f"{name}/length", order + length), (name, order + item, (next(lists),))]
        return np.dtype(fields)

    def first_row_sizes(at: int) -> list[int]:
        sizes = []
        for _, item, length in properties:
            if length is None:
                at += np.dtype(item).itemsize
            else:
                size = int(np.frombuffer(body, order + length, 1, at)[0])
                sizes.append(size)
                at += np.dtype(length).itemsize + size * np.dtype(item).itemsize
        return sizes

    try:
        kind = row_type(first_row_sizes(offset) if count else [0] * len(properties))
        if offset + count * kind.itemsize <= len(body):
            rows = np.frombuffer(body, kind, count, offset)
            if all((rows[f"{name}/length"] == rows.dtype[name].shape[0]).all()
                   for name, _, length in properties if length is not None):
                return {name: rows[name].astype(item) if length is None
                        else (np.full(count, rows.dtype[name].shape[0], dtype=np.int64),
                              rows[name].reshape(-1).astype(item))
                        for name, item, length in properties}, offset + count * kind.itemsize
        pieces = []
        for _ in range(count):
            kind = row_type(first_row_sizes(offset))
            pieces.append(np.frombuffer(body, kind, 1, offset))
            offset += kind.itemsize
    except (ValueError, IndexError) as exc:
        raise InputError(f"{path}: the binary rows do not match the header ({exc}); the file is truncated") from None
    return {name: np.array([p[name][0] for p in pieces], dtype=item) if length is None
            else (np.array([p.dtype[name].shape[0] for p in pieces], dtype=np.int64),
                  np.concatenate([p[name].reshape(-1) for p in pieces] or [np.zeros(0)]).astype(item))
            for name, item, length in properties}, offset


def _ply_geometry(elements: list[PlyElement], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices float64 [V, 3] and fan-triangulated faces int64 [F, 3] (in row order) of PLY elements."""
    by_name = {element.name: element for element in elements}
    vertex = by_name["vertex"]
    vertices = np.stack([vertex.columns[c].astype(np.float64) for c in "xyz"], axis=1)
    face = by_name.get("face")
    lists = [name for name, _, length in (face.properties if face else []) if length is not None]
    if not lists:
        return vertices, np.zeros((0, 3), dtype=np.int64)
    lengths, items = face.columns["vertex_indices" if "vertex_indices" in lists else lists[0]]
    short = np.flatnonzero(lengths < 3)
    if len(short):
        raise InputError(f"{path}: face {short[0]} has {lengths[short[0]]} corners; a face needs at least 3")
    return vertices, _fans(lengths, items.astype(np.int64))


def _fans(lengths: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Triangles int64 [sum(lengths - 2), 3]: each polygon (corners in ``items``, ``lengths`` [F] each) as a fan
    (c0, ci, ci+1), in polygon order."""
    starts = np.cumsum(lengths) - lengths
    polygon = np.repeat(np.arange(len(lengths)), lengths - 2)
    corner = np.arange(len(polygon)) - np.repeat(np.cumsum(lengths - 2) - (lengths - 2), lengths - 2) + 1
    first = starts[polygon]
    return np.stack([items[first], items[first + corner], items[first + corner + 1]], axis=1)


def _plain_ply_elements(vertices: np.ndarray, faces: np.ndarray) -> list[PlyElement]:
    """The elements of a PLY holding only double vertices [V, 3] and triangles [F, 3]."""
    return [PlyElement("vertex", len(vertices), [(c, "f8", None) for c in "xyz"],
                       {c: vertices[:, i] for i, c in enumerate("xyz")}),
            PlyElement("face", len(faces), [("vertex_indices", "i4", "u1")],
                       {"vertex_indices": (np.full(len(faces), 3, dtype=np.int64), faces.reshape(-1))})]


def _with_patches(elements: list[PlyElement], new_vertices: np.ndarray, new_faces: np.ndarray) -> list[PlyElement]:
    """The elements with the patches' vertices [N, 3] and triangles [P, 3] appended as new rows.

    New rows get their coordinates (in the file's coordinate type) and indices, 0 in the other properties and
    empty other lists; faces get ``INVENTED`` (uchar, 1 on the new rows) if they do not have it yet.
    """
    grown = []
    for element in elements:
        added = {"vertex": len(new_vertices), "face": len(new_faces)}.get(element.name, 0)
        properties, columns = list(element.properties), dict(element.columns)
        if element.name == "face" and INVENTED not in columns:
            properties.append((INVENTED, "u1", None))
            columns[INVENTED] = np.zeros(element.count, dtype=np.uint8)
        index_list = next((n for n, _, length in properties if length is not None and n == "vertex_indices"),
                          next((n for n, _, length in properties if length is not None), None))
        for position, (name, item, length) in enumerate(properties):
            if length is None:
                tail = np.zeros(added, dtype=item)
                if element.name == "vertex" and name in ("x", "y", "z"):
                    tail = new_vertices[:, "xyz".index(name)].astype(item)
                elif element.name == "face" and name == INVENTED:
                    tail = np.ones(added, dtype=item)
                columns[name] = np.concatenate([columns[name], tail])
                continue
            lengths, items = columns[name]
            tail_lengths, tail_items = np.zeros(added, dtype=np.int64), np.zeros(0, dtype=item)
            if element.name == "face" and name == index_list:
                tail_lengths, tail_items = np.full(added, 3, dtype=np.int64), new_faces.reshape(-1)
                needed = max(int(new_faces.max(initial=0)), int(items.max(initial=0)))
                if np.issubdtype(np.dtype(item), np.integer) and np.iinfo(item).max < needed:
                    item = "i4"
                    properties[position] = (name, item, length)
            columns[name] = (np.concatenate([lengths, tail_lengths]),
                             np.concatenate([items, tail_items]).astype(item))
        grown.append(PlyElement(element.name, element.count + added, properties, columns))
    return grown


def _encode_ply(comments: list[str], elements: list[PlyElement]) -> bytes:
    """A binary little-endian PLY of the elements, each property in its own type."""
    header = ["ply", "format binary_little_endian 1.0", *comments]
    for element in elements:
        header.append(f"element {element.name} {element.count}")
        header += [f"property {PLY_TYPE_NAMES[item]} {name}" if length is None
                   else f"property list {PLY_TYPE_NAMES[length]} {PLY_TYPE_NAMES[item]} {name}"
                   for name, item, length in element.properties]
    return "\n".join(header + ["end_header", ""]).encode("ascii") + b"".join(map(_encode_rows, elements))


def _encode_rows(element: PlyElement) -> bytes:
    """The binary rows of one element. Rows with the same list lengths are packed together, then put in place."""
    lists = [name for name, _, length in element.properties if length is not None]
    if not lists:
        packed = np.zeros(element.count, dtype=[(name, "<" + item) for name, item, _ in element.properties])
        for name, _, _ in element.properties:
            packed[name] = element.columns[name]
        return packed.tobytes()
    shapes = np.stack([element.columns[name][0] for name in lists], axis=1)
    starts = {name: np.cumsum(element.columns[name][0]) - element.columns[name][0] for name in lists}
    kinds = {shape: np.dtype([field for name, item, length in element.properties for field in (
        [(name, "<" + item)] if length is None else
        [(name + "/length", "<" + length), (name, "<" + item, (shape[lists.index(name)],))])])
        for shape in set(map(tuple, shapes.tolist()))}
    sizes = np.array([kinds[tuple(shape)].itemsize for shape in shapes.tolist()], dtype=np.int64)
    offsets = np.cumsum(sizes) - sizes
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    unique, group = np.unique(shapes, axis=0, return_inverse=True)
    for number, shape in enumerate(unique):
        rows = np.flatnonzero(group.reshape(-1) == number)
        kind = kinds[tuple(shape.tolist())]
        packed = np.zeros(len(rows), dtype=kind)
        for name, _, length in element.properties:
            if length is None:
                packed[name] = element.columns[name][rows]
            else:
                size = int(shape[lists.index(name)])
                packed[name + "/length"] = size
                if size:
                    packed[name] = element.columns[name][1][starts[name][rows][:, None] + np.arange(size)]
        out[offsets[rows][:, None] + np.arange(kind.itemsize)] = packed.view(np.uint8).reshape(len(rows), -1)
    return out.tobytes()

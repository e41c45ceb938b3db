"""Reading observations from files and writing meshes.

Readable: PLY (points, points + normals, or a mesh), OBJ, OFF, STL, and point tables in XYZ text or NPY
(``x y z``, ``x y z nx ny nz``, ``x y z r g b``, ``x y z nx ny nz r g b`` or ``x y z r g b nx ny nz``; colours
are recognised and ignored). Meshes contribute area-weighted surface samples carrying their face normals.
plyfile parses PLY and trimesh OFF and STL; the checks they do not make (nothing after the declared rows,
face indices, finite coordinates) are made here. OBJ is read here, since trimesh misreads relative (negative)
face indices.
A reader returns finite N x 3 points or raises ``InputError`` saying what is wrong and where.

Writable: PLY (binary, double precision) and OBJ (17 significant digits), so coordinates round-trip
exactly.

Hole filling reads a mesh as it is (``read_mesh``: vertices, triangles, and for PLY every element and
property) and writes it back with the patches appended (``write_filled_mesh``): a PLY keeps each element,
property, type and value and gains the face property ``neurep_invented``; an OBJ keeps its text verbatim
(``vt``, ``vn``, groups, materials, comments) and gains a group ``neurep_invented``.

Files go to a visible temporary ``NAME.XXXXXXXX.part`` next to the output and are renamed when complete,
so a failed or interrupted write never leaves a half-written output; new files get the permissions the
user's umask gives.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from plyfile import PlyData, PlyElement, PlyElementParseError, PlyHeaderParseError, PlyListProperty, PlyParseError

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

TRIANGLE_LISTS = {"face": {"vertex_indices": 3, "vertex_index": 3}}
"""Lets plyfile map a binary triangle mesh's faces at once; other faces it reads row by row."""


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
        ply, vertices, faces = _read_ply(path, data)
        vertex = ply["vertex"].data
        normals = None
        if all(c in vertex.dtype.names and vertex.dtype[c] != object for c in ("nx", "ny", "nz")):
            normals = np.stack([vertex[c] for c in ("nx", "ny", "nz")], axis=1).astype(np.float64)
        return _from_geometry(vertices, faces, path, seed, mesh_samples, normals)
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


def _read_ply(path: Path, data: bytes) -> tuple[PlyData, np.ndarray, np.ndarray]:
    """A PLY file's elements, its vertices float64 [V, 3] and its faces int64 [F, 3] (polygons fanned in file
    order), or ``InputError``. plyfile reads it; what plyfile does not check, that nothing follows the rows the
    header declares, is checked here on ``data``, the file's bytes."""
    try:
        with open(path, "rb") as stream:
            try:
                ply = PlyData.read(stream, known_list_len=TRIANGLE_LISTS)
            except PlyElementParseError as exc:
                if exc.message != "unexpected list length":
                    raise
                stream.seek(0)
                ply = PlyData.read(stream, mmap=False)
            left = 0 if ply.text else len(data) - stream.tell()
    except PlyParseError as exc:
        raise InputError(_ply_error(exc, path)) from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise InputError(f"{path}: cannot be read as PLY ({exc or 'out of memory'}); the file is damaged or its "
                         "header declares more rows than it holds") from None
    declared = ", ".join(f"{element.count:,} {element.name}" for element in ply.elements) or "no"
    if ply.text:
        rows = sum(1 for line in data.partition(b"end_header")[2].splitlines()[1:] if line.strip())
        if rows != sum(element.count for element in ply.elements):
            raise InputError(f"{path}: the header declares {declared} rows, but {rows:,} rows follow it")
    elif left:
        raise InputError(f"{path}: {left:,} bytes follow the {declared} rows the header declares; the header is "
                         "wrong or the file damaged")
    vertex = ply["vertex"].data if "vertex" in ply else None
    if vertex is None or not all(c in vertex.dtype.names and vertex.dtype[c] != object for c in "xyz"):
        raise InputError(f"{path}: the file has no vertex element with x, y and z properties")
    vertices = np.stack([vertex[c] for c in "xyz"], axis=1).astype(np.float64)
    index_list = _face_index_list(ply)
    if index_list is None:
        return ply, vertices, np.zeros((0, 3), dtype=np.int64)
    corners = ply["face"][index_list]
    if corners.dtype == object:  # lists of varying lengths
        lengths = np.array([len(face) for face in corners], dtype=np.int64)
        corners = np.concatenate([face.ravel() for face in corners] or [np.zeros(0)])
    else:  # [F, k], read at once when every face is a triangle
        lengths = np.full(len(corners), corners.shape[1], dtype=np.int64)
    short = np.flatnonzero(lengths < 3)
    if len(short):
        raise InputError(f"{path}: face {short[0]} has {lengths[short[0]]} corners; a face needs at least 3")
    return ply, vertices, _fans(lengths, corners.ravel().astype(np.int64))


def _ply_error(exc: PlyParseError, path: Path) -> str:
    """The message for a PLY file plyfile refuses."""
    if isinstance(exc, PlyHeaderParseError):
        return f"{path}: not a PLY file, or its header is malformed (header line {exc.line}: {exc.message})"
    element, row = exc.element, exc.row
    if exc.message == "early end-of-file":
        return (f"{path}: the header declares {element.count:,} {element.name} rows, but only {row:,} follow; "
                "the file is truncated or its header is wrong")
    where = f"{element.name} {row}" + (f" ({exc.prop.name})" if exc.prop else "")
    return f"{path}: cannot be read as PLY ({where}: {exc.message})"


def _face_index_list(ply: PlyData) -> str | None:
    """The name of the face element's corner list: ``vertex_indices``, else its first list property."""
    face = ply["face"] if "face" in ply else None
    lists = [p.name for p in (face.properties if face else ()) if isinstance(p, PlyListProperty)]
    return "vertex_indices" if "vertex_indices" in lists else next(iter(lists), None)


def _from_trimesh(loaded, path: Path, seed: int, mesh_samples: int) -> Observation:
    parts = list(loaded.geometry.values()) if isinstance(loaded, trimesh.Scene) else [loaded]
    parts = [p for p in parts if isinstance(p, (trimesh.Trimesh, trimesh.PointCloud))]
    if not parts:
        raise InputError(f"{path}: the file holds no points or faces")
    meshes = [p for p in parts if isinstance(p, trimesh.Trimesh) and len(p.faces)]
    if not meshes:
        cloud = parts[0]
        return _from_geometry(np.asarray(cloud.vertices, dtype=np.float64).reshape(-1, 3), np.zeros((0, 3), int),
                              path, seed, mesh_samples)
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
    data = _obj_text(vertices, faces) if path.suffix.lower() == ".obj" else _ply_bytes(_plain_ply(vertices, faces))
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
    """The mesh in ``path`` (PLY, OBJ, OFF or STL), or ``InputError`` saying why it is not a usable mesh.

    STL stores each triangle's corners apart, so its equal corners are merged into shared vertices.
    """
    path, data = _read_bytes(path, MESH_SUFFIXES)
    suffix, ply = path.suffix.lower(), None
    if suffix == ".obj":
        vertices, faces = _parse_obj(data, path)
    elif suffix == ".ply":
        ply, vertices, faces = _read_ply(path, data)
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
    return MeshFile(path, vertices, faces, data, ply)


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
        data = _ply_bytes(_with_patches(mesh.ply if same else _plain_ply(mesh.vertices, mesh.faces),
                                        new_vertices, new_faces))
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


def _fans(lengths: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Triangles int64 [sum(lengths - 2), 3]: each polygon (corners in ``items``, ``lengths`` [F] each) as a fan
    (c0, ci, ci+1), in polygon order."""
    starts = np.cumsum(lengths) - lengths
    polygon = np.repeat(np.arange(len(lengths)), lengths - 2)
    corner = np.arange(len(polygon)) - np.repeat(np.cumsum(lengths - 2) - (lengths - 2), lengths - 2) + 1
    first = starts[polygon]
    return np.stack([items[first], items[first + corner], items[first + corner + 1]], axis=1)


def _plain_ply(vertices: np.ndarray, faces: np.ndarray) -> PlyData:
    """A PLY of double vertices [V, 3] and int triangles [F, 3]."""
    vertex = np.zeros(len(vertices), dtype=[(c, "f8") for c in "xyz"])
    face = np.zeros(len(faces), dtype=[("vertex_indices", "i4", (3,))])
    for i, c in enumerate("xyz"):
        vertex[c] = vertices[:, i]
    face["vertex_indices"] = faces
    return PlyData([PlyElement.describe(vertex, "vertex"), PlyElement.describe(face, "face")], byte_order="<")


def _with_patches(ply: PlyData, new_vertices: np.ndarray, new_faces: np.ndarray) -> PlyData:
    """``ply`` with the patches' vertices [N, 3] and triangles [P, 3] appended as new rows.

    New rows get their coordinates (in the file's coordinate type) and corners, 0 in the other properties and
    empty other lists; faces get ``INVENTED`` (uchar, 1 on the new rows) if they do not have it yet. A corner
    list whose type cannot number every vertex is widened to int.
    """
    index_list, vertex_count = _face_index_list(ply), ply["vertex"].count + len(new_vertices)
    elements = []
    for element in ply.elements:
        rows, added, values = element.data, 0, {}
        lists = {p.name: p for p in element.properties if isinstance(p, PlyListProperty)}
        val_types = {name: p.val_dtype for name, p in lists.items()}
        fields = [(name, rows.dtype[name].newbyteorder("=")) for name in rows.dtype.names]
        if element.name == "vertex":
            added, values = len(new_vertices), {c: new_vertices[:, i] for i, c in enumerate("xyz")}
        elif element.name == "face":
            added, values = len(new_faces), {index_list: new_faces, INVENTED: 1}
            fields += [] if INVENTED in rows.dtype.names else [(INVENTED, np.dtype("u1"))]
            kind = np.dtype(val_types[index_list])
            if kind.kind in "iu" and np.iinfo(kind).max < vertex_count:
                val_types[index_list] = "i4"
                fields = [(n, np.dtype(("i4", t.shape)) if n == index_list and t != object else t) for n, t in fields]
        grown = np.zeros(len(rows) + added, dtype=fields)
        for name in rows.dtype.names:
            grown[name][:len(rows)] = rows[name]
        for name, dtype in fields:
            new = grown[name][len(rows):]
            if dtype != object:
                new[...] = values.get(name, 0)
                continue
            for row in range(added):  # each row holds its own list
                new[row] = values[name][row] if name in values else np.zeros(0)
        elements.append(PlyElement.describe(grown, element.name, {n: p.len_dtype for n, p in lists.items()},
                                            val_types, element.comments))
    return PlyData(elements, byte_order="<", comments=ply.comments, obj_info=ply.obj_info)


def _ply_bytes(ply: PlyData) -> bytes:
    """The bytes of a PLY file."""
    stream = io.BytesIO()
    ply.write(stream)
    return stream.getvalue()

"""Fill holes only: keep every scanned triangle, add patches on the fitted surface where the scan is open.

The input mesh is never modified: its vertices and faces come back first and bit-identical, and each
hole's patch is appended after them. A hole is a boundary loop (edges used by exactly one face), walked
in the hole's own orientation and split into simple loops where it touches itself. Each loop is closed
in the manner of Liepa 2003 ("Filling holes in meshes"):

1. a minimal-area triangulation of the loop (Barequet & Sharir's dynamic programme), no new vertices;
2. refinement: a triangle is split at its centroid while the centroid lies farther than the target edge
   length / ``SPLIT_FACTOR`` from all three corners, followed by Delaunay edge flips; the target is the loop's mean
   edge length, so the patch matches the scan's triangle size. This runs twice: first on the flat
   triangulation as it lies, whose new vertices then all go to the field's zero level set together
   (Newton steps along the gradient); then on that lifted patch, each new vertex projected at once, so
   sizes are measured on the surface being filled (a round cap bulging out of the loop's span is reached
   without long steep edges that no flip removes);
3. tangential relaxation (umbrella steps with the normal component removed), re-projected each time, so
   the patch meets the scan without a crease.

Step 1 alone is ``fill_holes_minimal_area``, the baseline the evaluation compares against. A patch that
fails a check (an edge used three times, a crossing with the scan or itself, a triangle facing against
the field, a projection that does not converge) is dropped and its loop stays open, with the reason.

Which loops are filled at all is decided first, by ``find_holes``, on the boundary alone (no field, no
torch: Blender's panel lists the holes with it before a run). Artists keep some openings on purpose:
``keep_open`` "largest" leaves the largest loop open (a scan's outer border, a statue's base), "planar"
every planar cut (``is_planar_cut``); ``max_size`` and ``max_percent`` leave open the loops larger than a
size in mesh units or a percentage of the mesh's own size.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field as dataclass_field
from typing import Callable, Iterable

import numpy as np

from .config import KEEP_OPEN_CHOICES
from .errors import InputError

Field = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""Maps points float64 [M, 3], in the mesh's units, to signed distances [M] (negative inside) and their
gradients [M, 3]."""

SPLIT_FACTOR = 1.6
"""A triangle is split while SPLIT_FACTOR times each centroid-corner distance exceeds the target edge length.
Liepa's sqrt(2) left the median patch edge 10% longer than the loop's on a holed icosphere; 1.6 makes it 5%
shorter."""
NEWTON_STEPS = 8
PROJECTION_TOLERANCE = 1e-3
"""A projected vertex must end with |f| below this fraction of the target edge length."""
MAX_REFINEMENT_ROUNDS = 30
RELAXATION_STEPS = 10
MAX_FLIPS_PER_EDGE = 4
MAX_TRIANGLES_PER_LOOP_VERTEX_SQUARED = 1.0
"""A round disk with n boundary edges of the target length needs about 0.18 n^2 triangles; a patch
growing past n^2 is chasing a surface that does not close the loop."""
CROSSING_BLOCK = 256
"""Edges tested at once against all nearby triangles (bounds the memory of the crossing test)."""
KEY_BASE = 1 << 31
"""A directed edge a -> b is the integer a * KEY_BASE + b (vertex indices stay below 2^31)."""
PLANAR_FLATNESS = 0.05
"""A planar cut's loop lies within this fraction of its size (bounding-box diagonal) of its best-fit plane."""
PLANAR_MIN_ANGLE = 40.0
"""...and the faces along it meet that plane at this angle (degrees) or more, on average: a cut leaves the
surface at an angle to the cut plane (90 degrees for a statue's straight sides), while a hole in a smooth
surface, however round, continues its neighbours (0 degrees for a hole in a flat wall; on a sphere, the
angle a round hole spans seen from the centre). Measured on a triangulated 32 x 16 UV sphere: its cut-off
bottom (z < -0.5) 62, its cut-off cap (z > 0.7) 51, a hole of four quads in its side 18 (flat within
1.7%); the 5-face hole around a vertex of a level-3 icosphere 8, a hole in a flat side 0."""


class _Rejected(Exception):
    """A patch failed a check; the message is the reason its loop stays open."""


@dataclass
class Hole:
    """One boundary loop and what became of it.

    vertices: int64 [n], the loop's vertex indices in the hole's orientation (the reverse of the scan's
    boundary edges); size: the bounding-box diagonal of those vertices, in mesh units; share: that size as a
    fraction of the mesh's own bounding-box diagonal; planar: whether it is a planar cut (``is_planar_cut``).
    ``reason`` says why it stays open: set by ``find_holes`` for a hole left open on purpose, or by the
    filling for a patch that failed a check.
    """

    vertices: np.ndarray
    perimeter: float
    size: float
    share: float = 0.0
    planar: bool = False
    closed: bool = False
    reason: str = ""
    added_faces: int = 0
    added_area: float = 0.0

    def to_dict(self) -> dict:
        """Its figures as plain values (the command line's report, Blender's result summary)."""
        return {"edges": len(self.vertices), "perimeter": self.perimeter, "size": self.size, "share": self.share,
                "planar": self.planar, "closed": self.closed, "reason": self.reason,
                "added_faces": self.added_faces, "added_area": self.added_area}


@dataclass
class Boundary:
    """A mesh's boundary edges (used by exactly one face), each directed as a patch must run there (against
    its face), with the unit normal of that face: edges int64 [B, 2], normals float64 [B, 3].

    ``boundary_of`` reads it from triangles; Blender's panel reads the same from a mesh's own edges."""

    edges: np.ndarray
    normals: np.ndarray


@dataclass
class HoleFill:
    """The input mesh with patches appended: vertices[:V] and faces[:F] are the input's, unchanged.

    vertices: float64 [V + N, 3]; faces: int64 [F + P, 3], the patches' faces are faces[input_faces:].
    """

    vertices: np.ndarray
    faces: np.ndarray
    input_faces: int
    holes: list[Hole] = dataclass_field(default_factory=list)

    @property
    def added(self) -> np.ndarray:
        """Boolean [F + P]: True for the patches' faces."""
        return np.arange(len(self.faces)) >= self.input_faces

    @property
    def holes_closed(self) -> int:
        return sum(hole.closed for hole in self.holes)

    @property
    def holes_left_open(self) -> int:
        return len(self.holes) - self.holes_closed

    @property
    def added_area(self) -> float:
        return float(sum(hole.added_area for hole in self.holes))


def fill_holes(vertices: np.ndarray, faces: np.ndarray, field: Field, max_size: float | None = None,
               selected: Iterable[int] | None = None, keep_open: str = "none",
               max_percent: float | None = None) -> HoleFill:
    """Close the holes of a triangle mesh with patches that lie on the zero level set of ``field``.

    vertices: float [V, 3]; faces: int [F, 3]. The loops to fill are chosen by ``find_holes`` (``max_size``,
    ``selected``, ``keep_open``, ``max_percent``). Raises ``InputError`` for a mesh that cannot be read as
    triangles.
    """
    return _fill(vertices, faces, lambda points, forbidden: _field_patch(points, forbidden, field),
                 dict(max_size=max_size, selected=selected, keep_open=keep_open, max_percent=max_percent))


def fill_holes_minimal_area(vertices: np.ndarray, faces: np.ndarray, max_size: float | None = None,
                            selected: Iterable[int] | None = None, keep_open: str = "none",
                            max_percent: float | None = None) -> HoleFill:
    """The baseline: each loop gets its minimal-area triangulation, without new vertices or a field.

    Same arguments, checks and result as ``fill_holes``.
    """
    return _fill(vertices, faces, lambda points, forbidden: (np.zeros((0, 3)),
                                                             _minimal_area_triangulation(points, forbidden)),
                 dict(max_size=max_size, selected=selected, keep_open=keep_open, max_percent=max_percent))


def boundary_of(vertices: np.ndarray, faces: np.ndarray) -> Boundary:
    """The ``Boundary`` of a triangle mesh (vertices [V, 3], faces int [F, 3])."""
    directed = faces[:, [1, 0, 2, 1, 0, 2]].reshape(-1, 2)  # every face edge, reversed
    low, high = directed.min(axis=1), directed.max(axis=1)
    _, inverse, counts = np.unique(low * KEY_BASE + high, return_inverse=True, return_counts=True)
    on_boundary = np.flatnonzero(counts[inverse.ravel()] == 1)
    corners = np.asarray(vertices, dtype=np.float64)[faces[on_boundary // 3]]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    return Boundary(directed[on_boundary], np.divide(normals, lengths, out=np.zeros_like(normals),
                                                     where=lengths > 0))


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """The boundary of a triangle mesh as simple loops: a list of int64 [n] vertex indices, n >= 3.

    Boundary edges are those used by exactly one face. Each loop runs against its faces' orientation
    (the way a patch must run to be consistently oriented). A vertex met twice on one walk (two holes
    touching at a vertex, or a loop touching itself) is where the walk is cut into simple loops.
    """
    count = int(faces.max()) + 1 if len(faces) else 0
    return [loop for loop, _ in _walk(boundary_of(np.zeros((count, 3)), faces).edges)]


def _walk(edges: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Directed boundary edges [B, 2] as simple loops: (vertex indices int64 [n], the index in ``edges`` of
    the edge from each of those vertices to the next) for every loop of n >= 3 (see ``boundary_loops``)."""
    outgoing = defaultdict(list)
    for index, start in enumerate(edges[:, 0].tolist()):
        outgoing[start].append(index)
    used = np.zeros(len(edges), dtype=bool)
    loops = []
    for first in range(len(edges)):
        if used[first]:
            continue
        path, path_edges, position, edge = [int(edges[first, 0])], [], {int(edges[first, 0]): 0}, first
        while True:
            used[edge] = True
            path_edges.append(edge)
            vertex = int(edges[edge, 1])
            if vertex in position:
                cut = position[vertex]
                if len(path) - cut >= 3:
                    loops.append((np.array(path[cut:], dtype=np.int64), np.array(path_edges[cut:], dtype=np.int64)))
                for dropped in path[cut + 1:]:
                    del position[dropped]
                path, path_edges = path[:cut + 1], path_edges[:cut]
            else:
                position[vertex] = len(path)
                path.append(vertex)
            remaining = [index for index in outgoing[vertex] if not used[index]]
            if not remaining:
                break
            edge = remaining[0]
    return loops


def find_holes(vertices: np.ndarray, boundary: Boundary, keep_open: str = "none", max_size: float | None = None,
               max_percent: float | None = None, selected: Iterable[int] | None = None) -> list[Hole]:
    """Every boundary loop of a mesh (vertices [V, 3], its ``Boundary``) as a ``Hole``, with the ``reason``
    set on those to leave open.

    ``keep_open`` (``config.KEEP_OPEN_CHOICES``): "largest" leaves the loop of the largest size open, "planar" every planar
    cut; ``max_size`` (mesh units) and ``max_percent`` (of the mesh's bounding-box diagonal) leave open the
    loops larger than that; ``selected`` (vertex indices) fills only the loops that contain one of them,
    whatever ``keep_open`` says (an artist who picks a hole wants it closed). Raises ``InputError`` for a
    selected vertex that does not exist.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if keep_open not in KEEP_OPEN_CHOICES:
        raise ValueError(f"keep_open must be one of {', '.join(KEEP_OPEN_CHOICES)}, got {keep_open!r}")
    wanted = None if selected is None else _checked_selection(selected, len(vertices))
    diagonal = float(np.linalg.norm(np.ptp(vertices, axis=0))) if len(vertices) else 0.0
    holes = []
    for loop, edges in _walk(boundary.edges):
        points = vertices[loop]
        lengths = np.linalg.norm(points - np.roll(points, -1, axis=0), axis=1)
        size = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
        flatness, angle = planarity(points, boundary.normals[edges], lengths)
        hole = Hole(loop, float(lengths.sum()), size, size / diagonal if diagonal > 0 else 0.0,
                    bool(flatness <= PLANAR_FLATNESS and angle >= PLANAR_MIN_ANGLE))
        if hole.planar:
            hole.reason = (f"a planar cut (flat within {flatness:.1%} of its size; the surface meets it at "
                           f"{angle:.0f} degrees)")
        holes.append(hole)
    largest = max(holes, key=lambda hole: (hole.size, hole.perimeter), default=None)
    for hole in holes:
        if wanted is not None:
            hole.reason = "" if wanted.intersection(hole.vertices.tolist()) else "not selected"
        elif keep_open == "largest":
            hole.reason = "the largest opening" if hole is largest else ""
        elif keep_open == "none" or not hole.planar:
            hole.reason = ""
        if hole.reason:
            continue
        if max_size is not None and hole.size > max_size:
            hole.reason = f"larger than max size ({hole.size:.4g} > {max_size:.4g})"
        elif max_percent is not None and 100 * hole.share > max_percent:
            hole.reason = (f"larger than max percent ({100 * hole.share:.3g}% > {max_percent:.3g}% of the "
                           "mesh's size)")
    return holes


def planarity(points: np.ndarray, normals: np.ndarray, lengths: np.ndarray) -> tuple[float, float]:
    """How planar a loop is: (the largest distance of its points [n, 3] from their best-fit plane, as a
    fraction of the loop's bounding-box diagonal; the mean angle in degrees, weighted by the edge ``lengths``
    [n], at which the faces along it (unit ``normals`` [n]) meet that plane). A planar cut is flat (small
    first figure) and met steeply (large second one): ``PLANAR_FLATNESS``, ``PLANAR_MIN_ANGLE``."""
    size = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    centred = points - points.mean(axis=0)
    plane = np.linalg.svd(centred, full_matrices=False)[2][-1]
    flatness = float(np.abs(centred @ plane).max()) / size if size > 0 else 0.0
    weights = lengths / lengths.sum() if lengths.sum() > 0 else np.full(len(lengths), 1.0 / len(lengths))
    cosine = float(np.clip(np.abs(normals @ plane) @ weights, 0.0, 1.0))
    return flatness, float(np.degrees(np.arccos(cosine)))


def _fill(vertices: np.ndarray, faces: np.ndarray,
          make_patch: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
          choice: dict) -> HoleFill:
    """Shared driver: find the loops, decide which to fill (``find_holes`` with ``choice``), patch them one by
    one, check each patch.

    make_patch(loop points [n, 3], forbidden chords bool [n, n]) returns new points [K, 3] and faces
    [P, 3] indexing the loop (0..n-1) and then the new points (n..n+K-1).
    """
    vertices, faces = check_mesh(vertices, faces)
    holes = find_holes(vertices, boundary_of(vertices, faces), **choice)
    all_points, all_faces = [vertices], [faces]
    vertex_count = len(vertices)
    edge_keys = _edge_keys(faces)
    directed = set(edge_keys.tolist())
    for hole in holes:
        if hole.reason:
            continue
        loop = hole.vertices
        points = vertices[loop]
        lengths = np.linalg.norm(points - np.roll(points, -1, axis=0), axis=1)
        try:
            new_points, local_faces = make_patch(points, _existing_chords(loop, edge_keys))
            index = np.concatenate([loop, vertex_count + np.arange(len(new_points))])
            patch = index[local_faces]
            combined = np.concatenate(all_points + [new_points])
            keys = _checked_edges(patch, loop, directed)
            _check_crossings(combined, np.concatenate(all_faces), patch, float(lengths.mean()))
        except _Rejected as rejected:
            hole.reason = str(rejected)
            continue
        directed.update(keys.tolist())
        edge_keys = np.concatenate([edge_keys, keys])
        all_points.append(new_points)
        all_faces.append(patch)
        vertex_count += len(new_points)
        hole.closed, hole.added_faces = True, len(patch)
        hole.added_area = float(_areas(combined[patch]).sum())
    return HoleFill(np.concatenate(all_points), np.concatenate(all_faces), len(faces), holes)


def check_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh as float64 [V, 3] vertices and int64 [F, 3] triangles, or ``InputError`` saying why it cannot be
    filled (not triangles, no faces, non-finite vertices, faces out of range or using a vertex twice)."""
    vertices, faces = np.asarray(vertices), np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise InputError(f"vertices must be an array of 3D points [V, 3], got shape {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        corners = faces.shape[1] if faces.ndim == 2 else "?"
        raise InputError(f"hole filling needs a triangle mesh; the faces have {corners} corners (shape {faces.shape})")
    if len(faces) == 0:
        raise InputError("the mesh has no faces, so it has no holes to fill")
    if not np.issubdtype(faces.dtype, np.integer):
        raise InputError(f"faces must hold integer vertex indices, got {faces.dtype}")
    bad = np.flatnonzero(~np.isfinite(vertices).all(axis=1))
    if len(bad):
        raise InputError(f"{len(bad)} vertices are NaN or infinite (the first is vertex {bad[0]})")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise InputError(f"faces refer to vertex {faces.max() if faces.max() >= len(vertices) else faces.min()}, "
                         f"but the mesh has {len(vertices)} vertices")
    repeated = np.flatnonzero((faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 2] == faces[:, 0]))
    if len(repeated):
        raise InputError(f"{len(repeated)} faces use a vertex twice (the first is face {repeated[0]}); "
                         "merge or remove degenerate faces first")
    return vertices.astype(np.float64, copy=False), faces.astype(np.int64, copy=False)


def _checked_selection(selected: Iterable[int], vertex_count: int) -> set[int]:
    chosen = np.asarray(list(selected), dtype=np.int64)
    outside = chosen[(chosen < 0) | (chosen >= vertex_count)]
    if len(outside):
        raise InputError(f"selected vertex {outside[0]} does not exist; the mesh has {vertex_count} vertices")
    return set(chosen.tolist())


def _edge_keys(faces: np.ndarray) -> np.ndarray:
    """int64 [3F]: the key of each directed face edge."""
    directed = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    return directed[:, 0] * KEY_BASE + directed[:, 1]


def _existing_chords(loop: np.ndarray, edge_keys: np.ndarray) -> np.ndarray:
    """Boolean [n, n]: pairs of loop positions whose vertices the mesh (edge_keys [E]) already joins.

    The loop's own sides come out True too; the triangulation never asks about them.
    """
    starts, ends = edge_keys // KEY_BASE, edge_keys % KEY_BASE
    inside = np.isin(starts, loop) & np.isin(ends, loop)
    position = np.full(int(loop.max()) + 1, -1)
    position[loop] = np.arange(len(loop))
    forbidden = np.zeros((len(loop), len(loop)), dtype=bool)
    forbidden[position[starts[inside]], position[ends[inside]]] = True
    return forbidden | forbidden.T


def _checked_edges(patch: np.ndarray, loop: np.ndarray, directed: set[int]) -> np.ndarray:
    """Keys of the patch's directed edges, after checking that the mesh stays manifold and oriented.

    Each side of the loop must get exactly one patch face, running against the scan's face there, and
    every other patch edge must be new to the mesh and shared by exactly two patch faces.
    """
    keys = _edge_keys(patch)
    if len(np.unique(keys)) < len(keys) or directed.intersection(keys.tolist()):
        raise _Rejected("the patch would make an edge non-manifold or flip an orientation")
    loop_sides = set((loop * KEY_BASE + np.roll(loop, -1)).tolist())
    reversed_keys = (keys % KEY_BASE) * KEY_BASE + keys // KEY_BASE
    on_loop = np.array([key in loop_sides for key in keys.tolist()])
    if on_loop.sum() != len(loop) or not np.isin(reversed_keys[~on_loop], keys).all():
        raise _Rejected("the patch does not close the loop as a disk")
    return keys


def _check_crossings(points: np.ndarray, faces: np.ndarray, patch: np.ndarray, edge_length: float) -> None:
    """Reject a patch whose edges cross a nearby triangle, or whose triangles are crossed by a scan edge."""
    low, high = points[patch].min(axis=(0, 1)) - edge_length, points[patch].max(axis=(0, 1)) + edge_length
    corners = points[faces]
    near = faces[((corners >= low) & (corners <= high)).all(axis=2).any(axis=1)]
    patch_edges = np.unique(np.sort(patch[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    near_edges = np.unique(np.sort(near[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    if _any_crossing(points, patch_edges, np.concatenate([near, patch])) or _any_crossing(points, near_edges, patch):
        raise _Rejected("the patch intersects the scan or itself")


def _any_crossing(points: np.ndarray, edges: np.ndarray, triangles: np.ndarray) -> bool:
    """Whether a segment edges [E, 2] passes through the interior of a triangle [T, 3] it shares no vertex with.

    Möller & Trumbore's ray-triangle test, restricted to the segment, in blocks of edges.
    """
    corner = points[triangles]  # [T, 3, 3]
    side_1, side_2 = corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0]
    for block in range(0, len(edges), CROSSING_BLOCK):
        pairs = edges[block:block + CROSSING_BLOCK]
        start = points[pairs[:, 0]][:, None]  # [B, 1, 3]
        direction = points[pairs[:, 1]][:, None] - start
        p = np.cross(direction, side_2[None])  # [B, T, 3]
        determinant = np.einsum("btk,tk->bt", p, side_1)
        usable = np.abs(determinant) > 1e-14
        inverse = np.where(usable, 1.0 / np.where(usable, determinant, 1.0), 0.0)
        s = start - corner[None, :, 0]
        u = np.einsum("btk,btk->bt", s, p) * inverse
        q = np.cross(s, side_1[None])
        v = np.einsum("btk,bk->bt", q, direction[:, 0]) * inverse
        t = np.einsum("btk,tk->bt", q, side_2) * inverse
        shares = (pairs[:, None, :, None] == triangles[None, :, None, :]).any(axis=(2, 3))
        eps = 1e-9
        hit = usable & ~shares & (u > eps) & (v > eps) & (u + v < 1 - eps) & (t > eps) & (t < 1 - eps)
        if hit.any():
            return True
    return False


def _areas(triangles: np.ndarray) -> np.ndarray:
    """Areas [T] of triangles given by their corners [T, 3, 3]."""
    return 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)


def _minimal_area_triangulation(points: np.ndarray, forbidden: np.ndarray) -> np.ndarray:
    """Triangles int64 [n - 2, 3] (indices into the loop) of least total area spanning the loop points [n, 3].

    Barequet & Sharir's O(n^3) dynamic programme over sub-polygons i..j, vectorized over i and the apex k;
    chords marked in ``forbidden`` [n, n] (edges the mesh already has) are never used. Triangles (i, k, j),
    i < k < j, follow the loop's orientation.
    """
    n = len(points)
    cost = np.zeros((n, n))
    apex = np.zeros((n, n), dtype=np.int64)
    for gap in range(2, n):
        i = np.arange(n - gap)
        j = i + gap
        k = i[:, None] + np.arange(1, gap)[None]  # [n - gap, gap - 1]
        area = _areas(np.stack([np.broadcast_to(points[i][:, None], k.shape + (3,)), points[k],
                                np.broadcast_to(points[j][:, None], k.shape + (3,))], axis=2).reshape(-1, 3, 3))
        total = cost[i[:, None], k] + cost[k, j[:, None]] + area.reshape(k.shape)
        best = np.argmin(total, axis=1)
        cost[i, j] = total[i, best]
        apex[i, j] = k[i, best]
        if gap < n - 1:
            cost[i[forbidden[i, j]], j[forbidden[i, j]]] = np.inf
    if not np.isfinite(cost[0, n - 1]):
        raise _Rejected("every triangulation of the loop would repeat an edge the mesh already has")
    triangles, pending = [], [(0, n - 1)]
    while pending:
        i, j = pending.pop()
        if j - i < 2:
            continue
        k = int(apex[i, j])
        triangles.append((i, k, j))
        pending += [(i, k), (k, j)]
    return np.array(triangles, dtype=np.int64)


def _field_patch(loop_points: np.ndarray, forbidden: np.ndarray, field: Field) -> tuple[np.ndarray, np.ndarray]:
    """Refined, projected and relaxed patch of one loop [n, 3]; new points [K, 3], faces [P, 3] (see ``_fill``)."""
    n = len(loop_points)
    target = float(np.linalg.norm(loop_points - np.roll(loop_points, -1, axis=0), axis=1).mean())
    tolerance = PROJECTION_TOLERANCE * target
    # First refined as it lies (Liepa's refinement of the spanning triangulation), then lifted onto the
    # field as a whole, then refined again on the field: splitting with every new point already on a
    # surface that bulges far out of the loop's span (a round cap) left long edges the flips could not
    # remove, and the patch grew without end.
    points, triangles = _refine(loop_points.copy(), _minimal_area_triangulation(loop_points, forbidden), n,
                                target, lambda centroids: centroids)
    points[n:] = _project(field, points[n:], tolerance)
    points, triangles = _refine(points, triangles, n, target, lambda centroids: _project(field, centroids, tolerance))
    for _ in range(RELAXATION_STEPS):
        points[n:] = _project(field, _tangential_step(points, triangles, n, field), tolerance)
        triangles = _delaunay_flips(points, triangles, n)
    _check_orientation(points, triangles, field, target)
    return points[n:], triangles


def _refine(points: np.ndarray, triangles: np.ndarray, n: int, target: float,
            place: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Split triangles at their centroids (``place`` maps them to the new points) until none is larger than
    ``target`` allows (``SPLIT_FACTOR``), with Delaunay flips after each round; the first ``n`` points, the
    loop's, are never joined by a new chord. Rejects a patch that grows past
    ``MAX_TRIANGLES_PER_LOOP_VERTEX_SQUARED``."""
    for _ in range(MAX_REFINEMENT_ROUNDS):
        corners = points[triangles]
        centroids = corners.mean(axis=1)
        split = (SPLIT_FACTOR * np.linalg.norm(corners - centroids[:, None], axis=2) > target).all(axis=1)
        if not split.any():
            break
        if len(triangles) + 2 * split.sum() > MAX_TRIANGLES_PER_LOOP_VERTEX_SQUARED * n**2 + n:
            raise _Rejected(f"the patch kept growing past {len(triangles)} triangles without reaching the "
                            "scan's triangle size: the fitted surface spans no disk across this loop, or the "
                            "hole is deep for its width")
        middle = len(points) + np.arange(split.sum())
        points = np.concatenate([points, place(centroids[split])])
        a, b, c = triangles[split].T
        triangles = np.concatenate([triangles[~split], np.stack([a, b, middle], axis=1),
                                    np.stack([b, c, middle], axis=1), np.stack([c, a, middle], axis=1)])
        triangles = _delaunay_flips(points, triangles, n)
    return points, triangles


def _project(field: Field, points: np.ndarray, tolerance: float) -> np.ndarray:
    """Newton steps x <- x - f(x) g(x) / |g(x)|^2 onto the zero level set; rejects if |f| stays above tolerance."""
    for _ in range(NEWTON_STEPS):
        values, gradients = field(points)
        squared = np.einsum("ij,ij->i", gradients, gradients)
        points = points - (values / np.maximum(squared, 1e-12))[:, None] * gradients
    values, _ = field(points)
    if not np.isfinite(points).all() or not (np.abs(values) <= tolerance).all():
        worst = np.nanmax(np.abs(values)) if np.isfinite(values).any() else np.nan
        raise _Rejected(f"projection onto the fitted surface did not converge (|f| up to {worst:.3g}, "
                        f"tolerance {tolerance:.3g})")
    return points


def _tangential_step(points: np.ndarray, triangles: np.ndarray, fixed: int, field: Field) -> np.ndarray:
    """Interior points [K, 3] moved to their neighbours' mean, less the move along the field's gradient."""
    edges = triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)  # each interior edge appears once per direction
    total = np.zeros_like(points)
    count = np.zeros(len(points))
    np.add.at(total, edges[:, 0], points[edges[:, 1]])
    np.add.at(count, edges[:, 0], 1.0)
    interior = points[fixed:]
    move = total[fixed:] / count[fixed:, None] - interior
    _, gradients = field(interior)
    normal = gradients / np.maximum(np.linalg.norm(gradients, axis=1, keepdims=True), 1e-12)
    return interior + move - np.einsum("ij,ij->i", move, normal)[:, None] * normal


def _check_orientation(points: np.ndarray, triangles: np.ndarray, field: Field, target: float) -> None:
    """Reject a patch with a degenerate triangle or a triangle facing against the field's gradient."""
    corners = points[triangles]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    if (np.linalg.norm(normals, axis=1) < 1e-6 * target**2).any():
        raise _Rejected("the patch has a degenerate triangle")
    _, gradients = field(corners.mean(axis=1))
    facing = np.einsum("ij,ij->i", normals, gradients)
    # The loop runs against the scan's faces, so a patch that continues the scan faces the way it does:
    # outwards when the scan is oriented outwards. Which way that is comes from the patch as a whole.
    wrong = np.flatnonzero(np.sign(facing) != np.sign(facing.sum()))
    if len(wrong):
        raise _Rejected(f"{len(wrong)} of {len(triangles)} patch triangles face against the fitted surface")


def _delaunay_flips(points: np.ndarray, triangles: np.ndarray, fixed: int) -> np.ndarray:
    """Flip interior edges until every one is locally Delaunay (opposite angles summing to at most pi).

    Edges joining two loop vertices (indices below ``fixed``) are never created, so a flip cannot add a
    chord the scan may already have. Triangles keep their orientation. On a folded patch flips can cycle
    (the criterion is planar, the patch is not), so they stop after ``MAX_FLIPS_PER_EDGE`` per edge.
    """
    triangles = [list(t) for t in triangles.tolist()]
    faces_of = defaultdict(list)
    for index, (a, b, c) in enumerate(triangles):
        for edge in ((a, b), (b, c), (c, a)):
            faces_of[frozenset(edge)].append(index)
    pending = list(faces_of)
    flips_left = MAX_FLIPS_PER_EDGE * len(faces_of)
    while pending and flips_left:
        edge = pending.pop()
        owners = faces_of.get(edge, [])
        if len(owners) != 2:
            continue
        first, second = (_rotated(triangles[owners[0]], edge), _rotated(triangles[owners[1]], edge))
        x, y, c = first
        if second[:2] != [y, x]:
            continue
        d = second[2]
        if (c < fixed and d < fixed) or frozenset((c, d)) in faces_of:
            continue
        if _angle(points, c, x, y) + _angle(points, d, y, x) <= np.pi + 1e-9:
            continue
        new_first, new_second = [x, d, c], [d, y, c]
        if np.dot(_normal(points, new_first), _normal(points, new_second)) <= 0:
            continue
        f, s = owners
        flips_left -= 1
        triangles[f], triangles[s] = new_first, new_second
        del faces_of[edge]
        faces_of[frozenset((y, c))] = [s if o == f else o for o in faces_of[frozenset((y, c))]]
        faces_of[frozenset((x, d))] = [f if o == s else o for o in faces_of[frozenset((x, d))]]
        faces_of[frozenset((c, d))] = [f, s]
        pending += [frozenset((x, d)), frozenset((d, y)), frozenset((y, c)), frozenset((c, x))]
    return np.array(triangles, dtype=np.int64)


def _rotated(triangle: list[int], edge: frozenset) -> list[int]:
    """The triangle's corners rotated so that its third corner is the one opposite ``edge``."""
    while triangle[2] in edge:
        triangle = triangle[1:] + triangle[:1]
    return triangle


def _angle(points: np.ndarray, apex: int, a: int, b: int) -> float:
    u, v = points[a] - points[apex], points[b] - points[apex]
    return float(np.arctan2(np.linalg.norm(np.cross(u, v)), np.dot(u, v)))


def _normal(points: np.ndarray, triangle: list[int]) -> np.ndarray:
    a, b, c = points[triangle]
    return np.cross(b - a, c - a)

"""Normals for points-only scans: noise-adaptive plane fits, then a consistent, visibility-checked orientation.

Estimation. A plane fitted to k = 16 neighbours is fine on clean scans, but on time-of-flight scans the
noise is as large as the point spacing and such a plane is mostly noise (20-37 % of the normals of the
ABC scans faced the wrong way). Each point therefore fits planes at several neighbourhood sizes (k, 2k,
4k, 8k) and keeps the one with the lowest surface variation lambda_0 / (lambda_0 + lambda_1 + lambda_2)
(Pauly et al. 2002): where noise dominates a larger patch averages it out, while near a crease a larger
patch bends and its variation grows, so the small patch is kept there. No per-scan setting is needed.

Orientation. Hoppe et al. 1992 ("Surface reconstruction from unorganized points") propagate the sign of
one trusted normal along a minimum spanning tree of the kNN graph whose edge cost is 1 - |n_i . n_j|, so
the sign crosses flat regions first and sharp creases last; one wrong step there flips a whole subtree,
and on noisy scans of thin CAD walls such steps are common. Hoppe's propagation is therefore only the
starting guess. Visibility then votes: a ray from a point along its outward normal leaves the object
without meeting other points, one along the inward normal meets the far side when it was seen (rays
marched through an occupancy grid of the points, starting beyond the point's own noisy patch). Each side
casts 17 rays, out to 40 degrees from the normal, so a vote measures how open the hemisphere is rather than
whether one noisy direction slips through; the grid's cells are three point spacings wide (32 to 128 per
side), so a sparse or noisy scan's occupancy has no holes for rays to leak through. The votes
spread over the kNN graph: each point takes the sign that its own vote and its neighbours' signs
(through n_i . n_j) agree on, for a fixed number of rounds. Given viewpoint directions (a depth camera's)
vote too: a point seen by a camera faces it. Measured on the six ABC time-of-flight scans against the
true normals: 11-38 % wrong-facing before (k = 16, Hoppe), 4.8 % now; see docs/BENCHMARKS.md.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from .config import NORMAL_NEIGHBOURS
from .observation import Normalization, Observation

MAX_NEIGHBOURS = 128
"""Neighbourhood of the noisiest scans (bounds memory and time on large scans)."""
NOISE_RATIO_CLEAN = 0.1
NOISE_RATIO_NOISY = 0.5
"""Noise ratios (see ``noise_adaptive_k``) at and below which k is kept, and at and above which
``MAX_NEIGHBOURS`` is used."""
SPACING_QUERIES = 4096
"""Points whose nearest neighbour measures a scan's spacing (``point_spacing``)."""
CHUNK = 8192
"""Points whose neighbourhoods are fitted at once."""
VISIBILITY_VOTERS = 12_000
"""Points that cast visibility rays (a random subset on larger scans: the propagation spreads their votes)."""
VOTE_WEIGHT = 4.0
"""Weight of a point's own vote against each neighbour's sign in the propagation."""
SMOOTHING_ROUNDS = 30
VISIBILITY_GRID = 128
"""Most cells per side of the occupancy grid that visibility rays march through ([-1, 1]^3 box)."""
VISIBILITY_GRID_MIN = 32
VISIBILITY_CELL_SPACINGS = 3.0
"""A cell is at least this many point spacings wide (median nearest-neighbour distance), so that the
occupancy of a sparse or noisy scan has no gaps for a ray to slip through."""
VISIBILITY_CONE = ((0.0, 0.0),) + tuple((tilt, azimuth) for tilt in (0.35, 0.7)
                                         for azimuth in np.pi / 4 * np.arange(8))
"""Rays per point and side: (tilt in radians from the normal, azimuth). Rays out to 40 degrees sample the
open half-space, not only the normal's noisy direction (out to 57 degrees the thin parts of a scan block
more of them: fewer wrong normals on average, worse completions)."""


def estimate_normals(points: np.ndarray, k: int = NORMAL_NEIGHBOURS,
                     viewpoints: np.ndarray | None = None) -> np.ndarray:
    """Unit normals float64 [N, 3] for ``points`` [N, 3] (in the [-1, 1]^3 box), oriented outwards.

    k: the neighbourhood of clean scans; noisy ones use up to ``MAX_NEIGHBOURS`` (``noise_adaptive_k``).
    viewpoints: optional camera directions [V, 3] (from the object towards the camera) of the views the
    points were seen from.
    """
    k = max(3, min(k, len(points) - 1))
    tree = cKDTree(points)
    k_fit = noise_adaptive_k(points, tree, k)
    normals, spread = _plane_normals(points, tree, k_fit)
    _, neighbours = tree.query(points, k=k + 1, workers=-1)
    # The spanning tree alone orients clean scans right; its errors come with noise, and so do the votes'
    # uses (2-view scans, wrong-facing share with the tree alone / with the votes: spot 0.0% / 6.0%,
    # torus 0.0% / 11.8%, fandisk 20.4% / 15.4%; the noisy ABC scans 28% / 5.7% on average).
    vote = k_fit > k or (viewpoints is not None and len(viewpoints) > 0)
    return _orient(points, normals, neighbours, spread, viewpoints if vote else None, vote)


def in_box(observation: Observation, k: int = NORMAL_NEIGHBOURS) -> tuple[Normalization, np.ndarray, np.ndarray]:
    """The one preparation of observed points for a fit: the map into the box, the points there [N, 3], and
    the observation's normals or, when it has none, normals estimated there (``estimate_normals`` with ``k``).

    Completion, hole filling, meta-training tasks, the baselines and the benchmarks all prepare points so.
    """
    normalization = Normalization.fit(observation.points)
    points = normalization.to_box(observation.points)
    if observation.has_normals:
        return normalization, points, np.asarray(observation.normals, dtype=np.float64)
    return normalization, points, estimate_normals(points, k)


def noise_adaptive_k(points: np.ndarray, tree: cKDTree, k: int) -> int:
    """The neighbourhood size for ``points``: ``k`` on clean scans, up to ``MAX_NEIGHBOURS`` on noisy ones.

    The noise ratio is the median spread of k-point patches along their normal over the median spacing
    of the points: about 0.002 on a clean depth scan, 0.6 at a noise of 0.3 % of the diagonal and 0.75-0.87
    on the ABC time-of-flight scans (where a k-point patch is about as thick as it is wide). The size grows
    geometrically from k at ``NOISE_RATIO_CLEAN`` to ``MAX_NEIGHBOURS`` at ``NOISE_RATIO_NOISY``.
    """
    _, spread = _plane_normals(points, tree, k, _spacing_sample(points))
    ratio = float(np.median(spread) / max(point_spacing(points, tree), 1e-12))
    share = np.clip((ratio - NOISE_RATIO_CLEAN) / (NOISE_RATIO_NOISY - NOISE_RATIO_CLEAN), 0.0, 1.0)
    largest = min(max(k, MAX_NEIGHBOURS), len(points) - 1)
    return int(round(k * (largest / k) ** share))


def point_spacing(points: np.ndarray, tree: cKDTree | None = None, queries: int = SPACING_QUERIES) -> float:
    """The typical spacing of ``points`` [N, 3]: the median distance from each of ``queries`` of them (a fixed
    random subset) to its nearest other point; 0 for fewer than two points. ``tree``: ``cKDTree(points)``
    when already built."""
    if len(points) < 2:
        return 0.0
    tree = cKDTree(points) if tree is None else tree
    return float(np.median(tree.query(_spacing_sample(points, queries), k=2, workers=-1)[0][:, 1]))


def _spacing_sample(points: np.ndarray, queries: int = SPACING_QUERIES) -> np.ndarray:
    """A fixed random subset (at most ``queries``) of ``points`` [N, 3] to measure the scan's spacing and noise
    on."""
    return points[np.random.default_rng(0).choice(len(points), min(len(points), queries), replace=False)]


def _plane_normals(points: np.ndarray, tree: cKDTree, k: int,
                   queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The normal [M, 3] of the plane fitted to the k nearest points of each query (default: every point)
    and the standard deviation [M] of that patch along its normal (its thickness: noise and curvature)."""
    queries = points if queries is None else queries
    normals = np.empty((len(queries), 3))
    spread = np.empty(len(queries))
    for start in range(0, len(queries), CHUNK):
        _, neighbours = tree.query(queries[start:start + CHUNK], k=k + 1, workers=-1)
        patches = points[neighbours]  # [C, k+1, 3]
        centred = patches - patches.mean(axis=1, keepdims=True)
        covariance = np.einsum("nki,nkj->nij", centred, centred) / (k + 1)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
        normals[start:start + CHUNK] = eigenvectors[:, :, 0]
        spread[start:start + CHUNK] = np.sqrt(np.maximum(eigenvalues[:, 0], 0))
    return normals, spread


def _orient(points: np.ndarray, normals: np.ndarray, neighbours: np.ndarray, spread: np.ndarray,
            viewpoints: np.ndarray | None, vote: bool = True) -> np.ndarray:
    n, k1 = neighbours.shape
    rows = np.repeat(np.arange(n), k1 - 1)
    cols = neighbours[:, 1:].ravel()
    cost = 1.0 - np.abs(np.einsum("ij,ij->i", normals[rows], normals[cols])) + 1e-6
    graph = coo_matrix((cost, (rows, cols)), shape=(n, n)).tocsr()
    graph = graph.maximum(graph.T)  # symmetric kNN graph
    tree = minimum_spanning_tree(graph)
    tree = tree + tree.T
    _, labels = connected_components(tree, directed=False)

    centroid = points.mean(axis=0)
    propagated = normals.copy()
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        seed = members[np.argmax(np.linalg.norm(points[members] - centroid, axis=1))]
        order, predecessors = breadth_first_order(tree, seed, directed=False)
        children = order[1:]
        flip_edge = np.einsum("ij,ij->i", normals[children], normals[predecessors[children]]) < 0
        flipped = np.zeros(n, dtype=bool)
        flipped[seed] = np.dot(normals[seed], points[seed] - centroid) < 0
        for child, parent, flip in zip(children.tolist(), predecessors[children].tolist(), flip_edge.tolist()):
            flipped[child] = flipped[parent] ^ flip
        propagated[order] = np.where(flipped[order, None], -normals[order], normals[order])

    if not vote:  # each part as a whole faces away from the middle, as its normals mostly say
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            if np.einsum("ij,ij->i", propagated[members], points[members] - centroid).sum() < 0:
                propagated[members] *= -1
        return propagated
    # Robust propagation: every point takes the sign its own visibility vote and its neighbours' signs
    # (through n_i . n_j) agree on, repeated until the signs settle; unvoted regions fill in from voted ones.
    voters = np.random.default_rng(0).choice(n, min(n, VISIBILITY_VOTERS), replace=False)
    votes = np.zeros(n)
    votes[voters] = visibility_votes(points[voters], propagated[voters], spread[voters], points)
    if viewpoints is not None and len(viewpoints):
        votes = votes + _viewpoint_votes(propagated, viewpoints)
    relation = np.einsum("ij,ij->i", propagated[rows], propagated[cols])
    coupling = coo_matrix((relation, (rows, cols)), shape=(n, n)).tocsr()
    coupling = coupling + coupling.T
    sign = np.sign(votes)
    for _ in range(SMOOTHING_ROUNDS):
        sign = np.sign(VOTE_WEIGHT * votes + coupling @ sign)
    oriented = np.where((sign < 0)[:, None], -propagated, propagated)

    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if not np.any(sign[members]):  # nothing seen either way: most normals point away from the middle
            if np.einsum("ij,ij->i", oriented[members], points[members] - centroid).sum() < 0:
                oriented[members] *= -1
    return oriented


def visibility_votes(points: np.ndarray, normals: np.ndarray, spread: np.ndarray,
                     occluders: np.ndarray | None = None) -> np.ndarray:
    """Per point a vote in [-1, 1] [N]: the share of rays along +normal that leave the box without meeting
    the occupancy of ``occluders`` [M, 3] (default: ``points``), minus the share along -normal (positive:
    the normal faces outwards). Rays start beyond the point's own noisy patch (1.5 ``spread`` [N] plus a
    cell, at least two cells)."""
    occluders = points if occluders is None else occluders
    resolution = visibility_grid(occluders)
    cell = 2.0 / resolution
    occupied = np.zeros((resolution,) * 3, dtype=bool)
    index = np.clip(((occluders + 1.0) / cell).astype(np.int64), 0, resolution - 1)
    occupied[tuple(index.T)] = True
    start = np.maximum(1.5 * spread + cell, 2 * cell)
    free = np.zeros((len(points), 2))
    for side, sign in enumerate((1.0, -1.0)):
        for tilt, azimuth in VISIBILITY_CONE:
            direction = sign * _tilted(normals, tilt, azimuth)
            free[:, side] += ~_ray_blocked(points, direction, start, occupied, cell)
    return (free[:, 0] - free[:, 1]) / len(VISIBILITY_CONE)


def visibility_grid(points: np.ndarray) -> int:
    """Cells per side of the occupancy grid of ``points`` [N, 3]: cells ``VISIBILITY_CELL_SPACINGS`` point
    spacings wide, between ``VISIBILITY_GRID_MIN`` and ``VISIBILITY_GRID``."""
    spacing = point_spacing(points)
    if spacing <= 0:
        return VISIBILITY_GRID
    return int(np.clip(round(2.0 / (VISIBILITY_CELL_SPACINGS * spacing)), VISIBILITY_GRID_MIN, VISIBILITY_GRID))


def _tilted(normals: np.ndarray, tilt: float, azimuth: float) -> np.ndarray:
    """Unit directions [N, 3] at angle ``tilt`` from ``normals``, turned by ``azimuth`` about them."""
    if tilt == 0:
        return normals
    helper = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(normals, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(normals, u)
    return (np.cos(tilt) * normals + np.sin(tilt) * (np.cos(azimuth) * u + np.sin(azimuth) * v))


def _ray_blocked(origins: np.ndarray, directions: np.ndarray, start: np.ndarray, occupied: np.ndarray,
                 cell: float) -> np.ndarray:
    """bool [N]: whether each ray origin + t direction, t >= start, meets an occupied cell in the box."""
    resolution = occupied.shape[0]
    blocked = np.zeros(len(origins), dtype=bool)
    active = np.arange(len(origins))
    t = start.copy()
    step = 0.5 * cell
    while len(active):
        position = origins[active] + t[active, None] * directions[active]
        inside = np.all(np.abs(position) < 1.0, axis=1)
        active, position = active[inside], position[inside]
        if not len(active):
            break
        index = np.clip(((position + 1.0) / cell).astype(np.int64), 0, resolution - 1)
        hit = occupied[tuple(index.T)]
        blocked[active[hit]] = True
        active = active[~hit]
        t[active] += step
    return blocked


def _viewpoint_votes(normals: np.ndarray, viewpoints: np.ndarray) -> np.ndarray:
    """+1 where a normal faces one of the cameras (it was seen from there), -1 where it faces none."""
    directions = np.asarray(viewpoints, dtype=np.float64)
    directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    facing = normals @ directions.T
    return np.where((facing > 0).any(axis=1), 1.0, np.where((facing < 0).all(axis=1), -1.0, 0.0))

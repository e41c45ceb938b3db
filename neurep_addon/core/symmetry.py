"""Mirror symmetry: find a global mirror plane in a partial observation, and mirror the observation into
the part the scan missed.

Detection has to work on the partial data itself, so it cannot ask that the mirrored scan cover the scan:
the unseen half maps onto nothing. A candidate plane is scored on what its mirror image of the points says:

- support: mirrored points that land on observed points (within ``Observed.tol``) with consistent normals;
- contradiction: mirrored points that land in observed free space, i.e. clearly in front of the observed
  patches nearest to them (along their normals, within the cone of the sign hints), or on observed points
  whose normals disagree;
- the rest land where nothing was observed and count for neither.

confidence = support / (support + contradiction). A plane must also be pinned (``PIN_SHIFT``) and supported
by points far from it (``MIN_FAR_SUPPORT``): data that end at a plane mirror onto themselves only near it,
which is no evidence of a mirror. Candidate normals are the principal axes, the coordinate
axes and the directions voted by point pairs whose normals are mirror images of each other; each normal
is tried at offsets across the data (the centroid of a partial scan is not on the plane).

The mirrored observation is soft evidence: only mirrored points that land where nothing was observed are
kept (not in free space, not on observed data), and only ``MIRROR_WEIGHT`` of them, so they weigh less than
observed points in every term of the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .normals import point_spacing

MIN_CONFIDENCE = 0.9
"""``auto`` uses a plane only when at least this share of the decided mirrored points support it..."""
MIN_SUPPORT = 0.15
"""... and at least this share of all mirrored points land on observed data."""
MIRROR_WEIGHT = 0.5
"""Share of the usable mirrored points added as evidence (their weight relative to observed points)."""
SAMPLE = 1500
"""Points used to score a plane."""
OFFSETS = 25
"""Offsets tried per candidate normal, across the data's extent along it."""
PAIR_VOTES = 20_000
NORMAL_AGREEMENT = 0.9
"""A mirrored point supports the plane when it lands on an observed point whose normal is within this cosine
of its mirrored normal."""
PIN_SHIFT = 0.1
PIN_RATIO = 0.8
"""A plane counts only if its offset is pinned: moved by ``PIN_SHIFT`` (box units) either way, its support
falls to at most ``PIN_RATIO`` of its own. Walls that cross a plane at right angles mirror onto themselves
whatever its offset; a 2-view scan of fandisk, its flat sides crossing y = 0.13, gave that wrong plane
confidence 1.00 and support 0.40, and 0.48 moved by 0.1 (its mirrored ground truth lies 0.18 from itself).
True planes fall to 0.02-0.48 of their support (a one-sided 2-view scan of a symmetric animal: 0.74)."""
FAR_QUERY = 0.05
THINNED_POINTS = 2000
"""Mirrored points farther than ``FAR_QUERY`` (box units) from the data take their nearest observed points
from about ``THINNED_POINTS`` of them: they are in free space or not by the side of the patches they face,
which a thinned scan shows as well, at a fraction of the search."""
BOUND_DISTANCE = 0.1
BOUND_SHARE = 0.2
MIN_FAR_SUPPORT = 0.1
"""A plane counts only if at least ``MIN_FAR_SUPPORT`` of the mirrored points come from observed points far
from it (farther than ``BOUND_DISTANCE`` box units or ``BOUND_SHARE`` of the data's extent along its
normal, whichever is less) and land on observed points. A scan that ends at a plane supports it only with
the points near the cut, which mirror onto themselves: 60% of a torus kept below a cut across z gave a plane
near the cut 0.36 support and 0.09 of it far; a symmetric shape's planes keep 0.20 (a flat torus's
equator) to 0.65 (a sphere missing its top)."""
SECOND_PLANE_ANGLE = 45.0
"""Degrees between the normals of the first plane and a second one (``detect_planes``)."""
SECOND_PLANE_CONFIDENCE = 0.95
"""A second plane needs this confidence (the first ``MIN_CONFIDENCE``): its evidence comes on top. The
one-sided torus scan's equatorial plane, at 0.93, helped after 25 steps (Chamfer-L1 0.0119 -> 0.0082) and
hurt after 200 (0.0048 -> 0.0067); the holed sphere's (1.00) took its cap from 0.083 to 0.014 off the sphere."""
FREE_SPACE_CONE = 0.3
"""A mirrored point is in observed free space when it lies in front of its nearest observed patches,
within this cosine of their normals (wider than ``losses.SIGN_HINT_CONE``: a wrong plane must show)."""


@dataclass(frozen=True)
class MirrorPlane:
    """The plane {x : normal . x = offset} (box coordinates, unit normal) and the detector's confidence."""

    normal: np.ndarray
    offset: float
    confidence: float
    support: float

    def reflect(self, points: np.ndarray) -> np.ndarray:
        """Mirror images [N, 3] of ``points`` [N, 3]."""
        return points - 2 * (points @ self.normal - self.offset)[:, None] * self.normal

    def reflect_directions(self, directions: np.ndarray) -> np.ndarray:
        return directions - 2 * (directions @ self.normal)[:, None] * self.normal

    def to_dict(self, center: np.ndarray | None = None, scale: float = 1.0) -> dict:
        """The plane in the input's units when given the normalisation (x_box = (x - center) * scale)."""
        offset = self.offset / scale + (float(self.normal @ center) if center is not None else 0.0)
        return {"normal": [round(float(v), 6) for v in self.normal], "offset": round(float(offset), 9),
                "confidence": round(float(self.confidence), 4), "support": round(float(self.support), 4)}


@dataclass(frozen=True)
class Observed:
    """Oriented points (box coordinates) with what scoring a plane needs of them, built once: their tree,
    ``tol`` (distance under which a mirrored point lands on observed data: a few point spacings) and a
    thinned copy for the points far from the data (``FAR_QUERY``)."""

    points: np.ndarray
    normals: np.ndarray
    tree: cKDTree
    tol: float
    thinned: np.ndarray
    thinned_tree: cKDTree

    @classmethod
    def of(cls, points: np.ndarray, normals: np.ndarray) -> "Observed":
        tree = cKDTree(points)
        spacing = point_spacing(points, tree, queries=2000)
        thinned = np.arange(0, len(points), max(1, len(points) // THINNED_POINTS))
        return cls(points, normals, tree, max(0.01, 2 * spacing), thinned, cKDTree(points[thinned]))


def classify(observed: Observed, mirrored: np.ndarray, mirrored_normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per mirrored point [M]: whether it supports the plane and whether it contradicts it (see module)."""
    points, normals, tol = observed.points, observed.normals, observed.tol
    # Scoring a plane queries SAMPLE points: threads would cost more to start than they save (3.3 of 3.6 s).
    workers = -1 if len(mirrored) > 10 * SAMPLE else 1
    # A search for points far from the data visits much of the tree (1500 points 0.3 box units off the
    # spot scan: 12 ms, on it: 2 ms); beyond FAR_QUERY their nearest points come from the thinned copy.
    distance, nearest = observed.tree.query(mirrored, k=4, distance_upper_bound=FAR_QUERY, workers=workers)
    far = ~np.isfinite(distance).all(axis=1)
    if far.any():
        distance[far], found = observed.thinned_tree.query(mirrored[far], k=4, workers=workers)
        nearest[far] = observed.thinned[found]
    close = distance[:, 0] < tol
    agree = np.einsum("ij,ij->i", normals[nearest[:, 0]], mirrored_normals) > NORMAL_AGREEMENT
    offset = mirrored[:, None, :] - points[nearest]
    along = np.einsum("mki,mki->mk", offset, normals[nearest])
    in_front = (along > tol).all(axis=1) & (along >= FREE_SPACE_CONE * np.linalg.norm(offset, axis=2)).all(axis=1)
    return close & agree, (close & ~agree) | (~close & in_front)


def score(plane_normal: np.ndarray, offset: float, observed: Observed, sample: np.ndarray) -> tuple[float, float]:
    """(confidence, support) of one plane, from the mirrored images of the observed points ``sample``."""
    plane = MirrorPlane(plane_normal, offset, 0.0, 0.0)
    supports, contradicts = classify(observed, plane.reflect(observed.points[sample]),
                                     plane.reflect_directions(observed.normals[sample]))
    support, contradiction = supports.mean(), contradicts.mean()
    return float(support / max(support + contradiction, 1e-12)), float(support)


def detect_plane(points: np.ndarray, normals: np.ndarray, seed: int = 0) -> MirrorPlane | None:
    """The best mirror plane of oriented ``points`` [N, 3] (box coordinates), or ``None`` if none is
    confident (``MIN_CONFIDENCE``, ``MIN_SUPPORT``)."""
    planes = detect_planes(points, normals, seed, second=False)
    return planes[0] if planes else None


def detect_planes(points: np.ndarray, normals: np.ndarray, seed: int = 0, second: bool = True) -> list[MirrorPlane]:
    """The best mirror plane (``detect_plane``) and, if ``second``, the confident plane across it (normals
    at least ``SECOND_PLANE_ANGLE`` apart) that adds the most mirrored evidence; [] when none is confident.

    A shape with several planes (a sphere, a torus, a box) often has its best-supported one where the scan
    is already whole: a sphere missing its top is best mirrored across a vertical plane, which maps the hole
    onto itself; the plane across it carries the bottom into the hole."""
    rng = np.random.default_rng(seed)
    observed = Observed.of(points, normals)
    sample = rng.choice(len(points), min(len(points), SAMPLE), replace=False)
    candidates = candidate_normals(points, normals, rng)
    best: MirrorPlane | None = None
    best_on_grid = []  # per candidate: (confidence, support, offset) of its best grid offset, and the spacing
    for plane_normal in candidates:
        along = points @ plane_normal
        grid = np.linspace(along.min(), along.max(), OFFSETS)[1:-1]
        scored = []
        for offset in grid:
            confidence, support = score(plane_normal, offset, observed, sample)
            scored.append((confidence, support, offset))
            if (support >= MIN_SUPPORT and (best is None or (confidence, support) > (best.confidence, best.support))
                    and _pinned(plane_normal, offset, support, observed, sample)
                    and _unbounded(plane_normal, offset, observed, sample)):
                best = MirrorPlane(plane_normal, float(offset), confidence, support)
        best_on_grid.append((max(scored), grid[1] - grid[0]))
    if best is None:
        return []
    best = _refine(best, observed, sample)
    if best.confidence < MIN_CONFIDENCE or not _unbounded(best.normal, best.offset, observed, sample):
        return []
    across = _plane_across(best, candidates, best_on_grid, observed, sample) if second else None
    return [best] + ([across] if across is not None else [])


def _plane_across(first: MirrorPlane, candidates: list[np.ndarray], best_on_grid: list, observed: Observed,
                  sample: np.ndarray) -> MirrorPlane | None:
    """The confident, pinned plane among ``candidates`` across ``first`` whose mirror image adds the most
    points where nothing was observed; each candidate's best offset on the grid (``best_on_grid``) is refined
    first (a coarse offset misses a plane by more than the tolerance)."""
    chosen, most = None, 0
    for plane_normal, ((_, _, offset), spacing) in zip(candidates, best_on_grid):
        if abs(float(plane_normal @ first.normal)) > np.cos(np.radians(SECOND_PLANE_ANGLE)):
            continue
        half = spacing / 2
        confidence, support, offset = max(score(plane_normal, o, observed, sample) + (o,)
                                          for o in offset + np.linspace(-half, half, 9))
        if (confidence < SECOND_PLANE_CONFIDENCE or support < MIN_SUPPORT
                or not _pinned(plane_normal, offset, support, observed, sample)
                or not _unbounded(plane_normal, offset, observed, sample)):
            continue
        plane = MirrorPlane(plane_normal, float(offset), confidence, support)
        added = len(_usable(observed, plane))
        if added > most:
            chosen, most = plane, added
    return chosen


def _pinned(plane_normal: np.ndarray, offset: float, support: float, observed: Observed, sample: np.ndarray) -> bool:
    """Whether the support of the plane falls when its offset moves by ``PIN_SHIFT`` (see there)."""
    shifted = max(score(plane_normal, offset + shift, observed, sample)[1] for shift in (-PIN_SHIFT, PIN_SHIFT))
    return shifted <= PIN_RATIO * support


def far_support(plane_normal: np.ndarray, offset: float, observed: Observed, sample: np.ndarray) -> float:
    """The share of the mirrored ``sample`` points that come from far from the plane (``MIN_FAR_SUPPORT``)
    and support it."""
    along = observed.points @ plane_normal
    bound = min(BOUND_DISTANCE, BOUND_SHARE * float(along.max() - along.min()))
    source = observed.points[sample]
    plane = MirrorPlane(plane_normal, offset, 0.0, 0.0)
    supports, _ = classify(observed, plane.reflect(source), plane.reflect_directions(observed.normals[sample]))
    return float((supports & (np.abs(along[sample] - offset) > bound)).mean())


def _unbounded(plane_normal: np.ndarray, offset: float, observed: Observed, sample: np.ndarray) -> bool:
    """Whether the mirrored data agree with data that the plane does not bound (``MIN_FAR_SUPPORT``)."""
    return far_support(plane_normal, offset, observed, sample) >= MIN_FAR_SUPPORT


def _refine(plane: MirrorPlane, observed: Observed, sample: np.ndarray) -> MirrorPlane:
    """A finer offset search around the best plane."""
    step = 2 * observed.tol
    best = plane
    for offset in plane.offset + np.linspace(-step, step, 9):
        confidence, support = score(plane.normal, offset, observed, sample)
        if support >= MIN_SUPPORT and (confidence, support) > (best.confidence, best.support):
            best = MirrorPlane(plane.normal, float(offset), confidence, support)
    return best


def candidate_normals(points: np.ndarray, normals: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Unit plane normals to try: principal axes, coordinate axes, and the three most voted directions of
    point pairs (p_i, p_j) whose normals are mirror images across the plane between them."""
    centred = points - points.mean(axis=0)
    _, _, axes = np.linalg.svd(centred[rng.choice(len(points), min(len(points), 5000), replace=False)],
                               full_matrices=False)
    candidates = list(axes) + list(np.eye(3))
    i, j = rng.integers(len(points), size=(2, PAIR_VOTES))
    chord = points[i] - points[j]
    length = np.linalg.norm(chord, axis=1)
    ok = length > 0.05
    direction = chord[ok] / length[ok, None]
    normal_difference = normals[i[ok]] - normals[j[ok]]
    scale = np.linalg.norm(normal_difference, axis=1)
    mirrored = (scale > 0.2) & (np.abs(np.einsum("ij,ij->i", normal_difference, direction)) > 0.98 * scale)
    direction = direction[mirrored]
    if len(direction):
        direction *= np.where(direction[np.arange(len(direction)), np.argmax(np.abs(direction), axis=1)] < 0,
                              -1.0, 1.0)[:, None]
        # Directions binned on a coarse grid of the sphere; the fullest bins give candidates.
        keys = np.round(direction * 8).astype(np.int64)
        _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        for bin_index in np.argsort(counts)[::-1][:3]:
            mean = direction[inverse.ravel() == bin_index].mean(axis=0)
            candidates.append(mean)
    unique: list[np.ndarray] = []
    for c in candidates:
        c = c / np.linalg.norm(c)
        if all(abs(float(c @ u)) < 0.995 for u in unique):
            unique.append(c)
    return unique


def axis_plane(axis: str, points: np.ndarray, normals: np.ndarray) -> MirrorPlane:
    """The plane normal to ``axis`` ("x", "y" or "z") through the box centre (the input's bounding-box
    centre), scored like a detected one."""
    plane_normal = np.eye(3)["xyz".index(axis)]
    sample = np.random.default_rng(0).choice(len(points), min(len(points), SAMPLE), replace=False)
    confidence, support = score(plane_normal, 0.0, Observed.of(points, normals), sample)
    return MirrorPlane(plane_normal, 0.0, confidence, support)


def planes_for(setting: str, points: np.ndarray, normals: np.ndarray, seed: int = 0) -> list[MirrorPlane]:
    """The planes that ``FitConfig.symmetry`` ``setting`` asks for: none for "off", up to two for "auto"
    (``detect_planes``), the one plane across the named axis for "x", "y", "z"."""
    if setting == "off":
        return []
    if setting == "auto":
        return detect_planes(points, normals, seed)
    return [axis_plane(setting, points, normals)]


def mirrored_evidence(points: np.ndarray, normals: np.ndarray, plane: MirrorPlane,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The mirrored points and normals [M, 3] that land where nothing was observed (neither on observed
    data nor in observed free space), ``MIRROR_WEIGHT`` of them."""
    index = _usable(Observed.of(points, normals), plane)
    index = np.random.default_rng(seed).choice(index, int(round(MIRROR_WEIGHT * len(index))), replace=False)
    return plane.reflect(points[index]), plane.reflect_directions(normals[index])


def _usable(observed: Observed, plane: MirrorPlane) -> np.ndarray:
    """Indices of the observed points whose mirror images land where nothing was observed, inside the box."""
    mirrored, mirrored_normals = plane.reflect(observed.points), plane.reflect_directions(observed.normals)
    distance, _ = observed.tree.query(mirrored, distance_upper_bound=observed.tol, workers=-1)
    supports, contradicts = classify(observed, mirrored, mirrored_normals)
    usable = ~supports & ~contradicts & (distance >= observed.tol) & np.all(np.abs(mirrored) < 1.0, axis=1)
    return np.flatnonzero(usable)

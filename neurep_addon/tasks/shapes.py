"""Shapes that tasks are made from: meshes of a collection (loaded into the unit box) and procedural shapes.

Procedural shapes are implicit functions (negative inside) meshed by marching cubes, drawn from families
(``FAMILIES``, weighted by ``FAMILY_WEIGHTS``): superquadrics, unions of primitives, shapes with handles and
through-holes, thin plates and shells, extruded and revolved profiles with fillets, mirror-symmetric
compositions and smooth organic blobs. Everything is seeded through the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from scipy.interpolate import PchipInterpolator
from scipy.spatial.transform import Rotation
from skimage.measure import marching_cubes

from ..core.config import BOX_HALF_SIZE
from ..core.errors import ConfigError, InputError

MESH_SUFFIXES = (".obj", ".off", ".ply", ".stl")
PROCEDURAL_RESOLUTION = 64
"""Marching-cubes grid of the procedural shapes (over [-1, 1]^3)."""
FAMILY_WEIGHTS = {"superquadric": 0.10, "csg": 0.15, "handles": 0.15, "thin": 0.15,
                  "extruded": 0.10, "revolved": 0.10, "mirrored": 0.15, "blobby": 0.10}
"""Probability of each procedural family (see the family functions below). Unions of primitives, handles
and through-holes (genus > 0), thin plates and shells, and mirror-symmetric compositions weigh most, as
scans of manufactured objects are full of them."""
FAMILIES = tuple(FAMILY_WEIGHTS)


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """A mesh file as one triangle mesh with UV-seam duplicates merged; ``InputError`` if unusable."""
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for bad files
        raise InputError(f"{path}: not a readable mesh ({exc})") from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise InputError(f"{path}: contains no triangles")
    loaded.merge_vertices()
    loaded.remove_unreferenced_vertices()
    return _unit_box(loaded)


def _unit_box(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Centre the bounding box at the origin and scale its longest side to 1."""
    mesh = mesh.copy()
    mesh.apply_translation(-mesh.bounding_box.centroid)
    mesh.apply_scale(1.0 / float(mesh.extents.max()))
    return mesh


def mesh_files(folder: str | Path) -> list[Path]:
    """Mesh files of ``folder`` (not recursive), sorted by name; ``InputError`` if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of meshes")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MESH_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no mesh files ({', '.join(MESH_SUFFIXES)})")
    return files


def split_files(files: list[Path], validation_fraction: float, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """A seeded train/validation split of ``files`` (at least one of each when there are two or more)."""
    if not 0 <= validation_fraction < 1:
        raise ConfigError("val_fraction", f"must be in [0, 1), got {validation_fraction}")
    order = np.random.default_rng(seed).permutation(len(files))
    count = min(max(1, round(validation_fraction * len(files))), len(files) - 1) if validation_fraction else 0
    validation = sorted(files[i] for i in order[:count])
    return [f for f in files if f not in validation], validation


# --- Signed distance functions ---------------------------------------------------------------
# Vectorised after Inigo Quilez's distance functions: points p [..., 3] (or [..., 2]) in, distances [...] out.

def _length(p: np.ndarray) -> np.ndarray:
    return np.linalg.norm(p, axis=-1)


def _from_excess(q: np.ndarray) -> np.ndarray:
    """Signed distance from per-axis signed excesses q [..., k] (sdBox's last line; also extrusions)."""
    return _length(np.maximum(q, 0)) + np.minimum(q.max(axis=-1), 0)


def _box(p: np.ndarray, half: np.ndarray, rounding: float = 0.0) -> np.ndarray:
    """A box of half sizes ``half`` centred at the origin (2D or 3D), its edges rounded by ``rounding``."""
    return _from_excess(np.abs(p) - (np.asarray(half) - rounding)) - rounding


def _cylinder(p: np.ndarray, radius: float, half_height: float) -> np.ndarray:
    """A capped cylinder along z."""
    return _from_excess(np.stack([_length(p[..., :2]) - radius, np.abs(p[..., 2]) - half_height], axis=-1))


def _torus(p: np.ndarray, major: float, minor: float) -> np.ndarray:
    """A torus around the z-axis."""
    return _length(np.stack([_length(p[..., :2]) - major, p[..., 2]], axis=-1)) - minor


def _capsule(p: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """A capsule around the segment from a to b."""
    pa, ba = p - a, b - a
    along = np.clip(pa @ ba / (ba @ ba), 0, 1)
    return _length(pa - along[..., None] * ba) - radius


def _ellipsoid(p: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """An axis-aligned ellipsoid (IQ's bound: exact sign, approximate distance)."""
    k0 = _length(p / radii)
    return k0 * (k0 - 1) / np.maximum(_length(p / radii**2), 1e-9)


def _polygon(q: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Exact signed distance of 2D points q [..., 2] to a simple polygon (vertices [n, 2], any order)."""
    x, y = q[..., 0], q[..., 1]  # by component: numpy is slow at reducing a last axis of 2
    squared = (x - vertices[0, 0]) ** 2 + (y - vertices[0, 1]) ** 2
    sign = np.ones_like(x)
    for (vx, vy), (ux, uy) in zip(vertices, np.roll(vertices, 1, axis=0)):
        ex, ey, wx, wy = ux - vx, uy - vy, x - vx, y - vy
        along = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0, 1)
        squared = np.minimum(squared, (wx - along * ex) ** 2 + (wy - along * ey) ** 2)
        above, below, left = y >= vy, y < uy, ex * wy > ey * wx
        sign[(above & below & left) | ~(above | below | left)] *= -1
    return sign * np.sqrt(squared)


def _extrude(distance_2d: np.ndarray, z: np.ndarray, half_height: float) -> np.ndarray:
    """A 2D shape (its distance at the points' xy) extruded along z over [-half_height, half_height]."""
    return _from_excess(np.stack([distance_2d, np.abs(z) - half_height], axis=-1))


def _smooth_union(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: a union blended over a width of about k."""
    h = np.maximum(k - np.abs(a - b), 0) / k
    return np.minimum(a, b) - h * h * k / 4


def _rotated(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Points in the frame of a random rotation."""
    return p @ Rotation.random(random_state=rng.integers(2**31)).as_matrix()


# --- Procedural shape families -----------------------------------------------------------------
# Each family draws its parameters from rng and returns signed distances, or an inside-outside value,
# (negative inside) at grid points x [..., 3]. Shapes may be axis-aligned: tasks rotate them.

def _superquadric(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inside-outside function of a random superquadric (from star-like to box-like)."""
    a = rng.uniform(0.35, 0.9, size=3)
    e1, e2 = rng.uniform(0.25, 1.6, size=2)
    q = np.abs(x) / a
    radial = (q[..., 0] ** (2 / e2) + q[..., 1] ** (2 / e2)) ** (e2 / e1) + q[..., 2] ** (2 / e1)
    return radial ** (e1 / 2) - 1.0


def _primitive(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Signed distance of a random sphere, box, cylinder, torus or capsule, randomly placed and rotated."""
    centre = rng.uniform(-0.35, 0.35, size=3)
    p = _rotated(x - centre, rng)
    kind = rng.integers(5)
    if kind == 0:
        return _length(p) - rng.uniform(0.2, 0.45)
    if kind == 1:
        return _box(p, rng.uniform(0.1, 0.4, size=3))
    if kind == 2:
        radius = rng.uniform(0.1, 0.3)
        return _cylinder(p, radius, rng.uniform(0.15, 0.45))
    if kind == 3:
        major = rng.uniform(0.2, 0.4)
        return _torus(p, major, rng.uniform(0.05, 0.15))
    half = rng.uniform(0.1, 0.35)
    return _capsule(p, np.array([0, 0, -half]), np.array([0, 0, half]), rng.uniform(0.08, 0.2))


def _csg(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A union of 2-4 primitives, sometimes with one more primitive carved out."""
    value = _primitive(x, rng)
    for _ in range(rng.integers(1, 4)):
        value = np.minimum(value, _primitive(x, rng))
    if rng.random() < 0.4:
        value = np.maximum(value, -_primitive(x, rng))
    return value


def _handles(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Genus one or more: a ring (torus or chain link; round, stadium or square section), a mug-like body
    (open cup or solid) with one or two handles, or a plate or block with 1-4 cylinders carved through."""
    kind = rng.integers(3)
    if kind == 0:
        major = rng.uniform(0.3, 0.6)
        section = np.array([rng.uniform(0.08, min(0.25, major - 0.12)), rng.uniform(0.08, 0.3)])
        p = x.copy()
        elongation = rng.uniform(0, 0.9 - major - section[0]) if rng.random() < 0.5 else 0.0
        p[..., 0] -= np.clip(p[..., 0], -elongation, elongation)
        q = np.stack([_length(p[..., :2]) - major, p[..., 2]], axis=-1)
        return _box(q, section, rng.uniform(0, 1) * section.min())
    if kind == 1:
        radius, half_height, wall = rng.uniform(0.3, 0.45), rng.uniform(0.35, 0.6), rng.uniform(0.07, 0.1)
        body = _cylinder(x, radius, half_height)
        major, minor = rng.uniform(0.2, min(0.3, 0.7 * half_height)), rng.uniform(0.07, 0.1)
        height = rng.uniform(-1, 1) * max(half_height - major - minor, 0)
        side = np.abs(x[..., 0]) if rng.random() < 0.3 else x[..., 0]  # |x|: a handle on each side
        handle = _torus(np.stack([side - radius, x[..., 2] - height, x[..., 1]], axis=-1), major, minor)
        if rng.random() < 0.7:
            body = np.maximum(body, -_cylinder(x - [0, 0, wall], radius - wall, half_height))
        return np.minimum(body, np.maximum(handle, -_cylinder(x, radius, half_height)))
    half = np.array([rng.uniform(0.5, 0.85), rng.uniform(0.4, 0.85), rng.uniform(0.06, 0.4)])
    value = _box(x, half, rng.uniform(0, 0.05))
    for _ in range(rng.integers(1, 5)):
        axis = rng.integers(3)
        across = [a for a in range(3) if a != axis]
        if half[across].min() < 0.3:  # too thin to drill across: drill through the thinnest side
            axis = int(np.argmin(half))
            across = [a for a in range(3) if a != axis]
        radius = rng.uniform(0.08, min(0.2, half[across].min() - 0.12))
        centre = rng.uniform(-1, 1, size=2) * (half[across] - radius - 0.08)
        value = np.maximum(value, radius - _length(x[..., across] - centre))
    return value


def _thin(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thin parts, 0.08-0.16 thick (2.5-5 cells at resolution 64): a flat plate, a bowl (a cap of a
    spherical shell), a bent plate (part of a cylindrical shell) or an L-bracket."""
    half_thickness = rng.uniform(0.04, 0.08)
    kind = rng.integers(4)
    if kind == 0:
        half = [rng.uniform(0.5, 0.85), rng.uniform(0.3, 0.85), half_thickness]
        return _box(x, half, rng.uniform(0, half_thickness))
    if kind == 1:
        radius = rng.uniform(0.5, 0.8)
        shell = np.abs(_length(x) - radius) - half_thickness
        return np.maximum(shell, x[..., 2] - rng.uniform(-0.3, 0.6) * radius)
    if kind == 2:
        radius = rng.uniform(0.45, 1.5)
        half_width = rng.uniform(0.4, min(0.85, 0.95 * radius))
        shell = np.abs(_length(x[..., :2] - [0, -radius]) - radius) - half_thickness
        return np.maximum(shell, np.maximum(np.abs(x[..., 0]) - half_width,
                                            np.abs(x[..., 2]) - rng.uniform(0.3, 0.85)))
    length, height, half_width = rng.uniform(0.4, 0.85, size=3)
    base = _box(x - [0, 0, half_thickness - height], [length, half_width, half_thickness])
    wall = _box(x - [half_thickness - length, 0, 0], [half_thickness, half_width, height])
    return _smooth_union(base, wall, rng.uniform(0.01, 0.08))


def _extruded(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random polygon in the xy-plane (a star-shaped outline of 3-8 vertices, often not convex)
    extruded along z, all its edges rounded by a fillet (sdf - r)."""
    count = rng.integers(3, 9)
    angles = 2 * np.pi * (np.arange(count) + rng.uniform(0.1, 0.9, size=count)) / count
    radii = rng.uniform(0.35, 0.8, size=count) if rng.random() < 0.7 else np.full(count, rng.uniform(0.5, 0.8))
    vertices = radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    fillet, half_height = rng.uniform(0.02, 0.1), rng.uniform(0.12, 0.7)
    return _extrude(_polygon(x[..., :2], vertices), x[..., 2], half_height - fillet) - fillet


def _revolved(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random radius profile r(z) revolved around the z-axis, smooth (vase, bottle) or stepped (spool,
    turned part), its corners filleted; sometimes hollowed into an open vessel."""
    count, half_height = rng.integers(3, 7), rng.uniform(0.4, 0.8)
    heights = np.linspace(-half_height, half_height, count + 1)
    radii = rng.uniform(0.12, 0.7, size=count)
    if rng.random() < 0.5:
        heights = np.linspace(-half_height, half_height, 16)
        radii = PchipInterpolator(np.linspace(-half_height, half_height, count), radii)(heights)
    else:
        heights, radii = np.repeat(heights, 2)[1:-1], np.repeat(radii, 2)
    # The profile mirrored across the axis, so that its 2D distance is exact near the axis too.
    profile = np.concatenate([np.stack([radii, heights], -1), np.stack([-radii, heights], -1)[::-1]])
    fillet = rng.uniform(0.02, 0.08)
    value = _polygon(np.stack([_length(x[..., :2]), x[..., 2]], axis=-1), profile) - fillet
    if rng.random() < 0.35:
        wall = rng.uniform(0.08, 0.12)
        value = np.maximum(np.abs(value + wall / 2) - wall / 2, x[..., 2] - half_height + wall)
    return value


MIRROR = np.array([-1.0, 1.0, 1.0])
"""The mirror of the mirrored family: the plane x = 0."""


def _mirrored(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A body on the plane x = 0 with 1-3 limbs (a strut from inside the body to a sphere, ellipsoid or
    rounded box), united with its mirror image f(Mx): the shape is exactly symmetric about x = 0."""
    p = np.stack([x, x * MIRROR])  # f is drawn once and evaluated at x and Mx together
    centre = np.array([0, *rng.uniform(-0.2, 0.2, size=2)])
    half, rounding = rng.uniform(0.12, 0.4, size=3), rng.uniform(0, 0.1)
    if rng.random() < 0.5:
        value, core = _ellipsoid(p - centre, half), 0.5 * half
    else:
        rounding = min(rounding, half.min())
        value, core = _box(p - centre, half, rounding), half - rounding
    for _ in range(rng.integers(1, 4)):
        anchor = centre + rng.uniform(-1, 1, size=3) * core  # inside the body, so the limb is attached
        end = np.array([rng.uniform(0.3, 0.6), *rng.uniform(-0.55, 0.55, size=2)])
        value = np.minimum(value, _capsule(p, anchor, end, rng.uniform(0.05, 0.12)))
        kind = rng.integers(3)
        if kind == 0:
            piece = _length(p - end) - rng.uniform(0.1, 0.25)
        elif kind == 1:
            piece = _ellipsoid(_rotated(p - end, rng), rng.uniform(0.08, 0.25, size=3))
        else:
            piece = _box(_rotated(p - end, rng), rng.uniform(0.06, 0.2, size=3), rng.uniform(0, 0.05))
        value = np.minimum(value, piece)
    return value.min(axis=0)


def _blobby(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An organic blob: 3-7 ellipsoids and capsules, each near an earlier one, joined by a polynomial
    smooth union (k 0.1-0.2), half the time displaced by a few low-frequency sine waves."""
    k = rng.uniform(0.1, 0.2)
    centres = [np.zeros(3)]
    value = _ellipsoid(_rotated(x, rng), rng.uniform(0.15, 0.35, size=3))
    for _ in range(rng.integers(2, 7)):
        centre = np.clip(centres[rng.integers(len(centres))] + rng.normal(scale=0.2, size=3), -0.45, 0.45)
        if rng.random() < 0.6:
            part = _ellipsoid(_rotated(x - centre, rng), rng.uniform(0.1, 0.3, size=3))
        else:
            end = np.clip(centre + rng.uniform(-0.3, 0.3, size=3), -0.5, 0.5)
            part = _capsule(x, centre, end, rng.uniform(0.06, 0.15))
        value = _smooth_union(value, part, k)
        centres.append(centre)
    if rng.random() < 0.5:
        for _ in range(3):
            wave = rng.normal(size=3)
            wave *= rng.uniform(2, 5) / np.linalg.norm(wave)
            value = value + rng.uniform(0.005, 0.02) * np.sin(x @ wave + rng.uniform(0, 2 * np.pi))
    return value


_FAMILY_SHAPES = {"superquadric": _superquadric, "csg": _csg, "handles": _handles, "thin": _thin,
                  "extruded": _extruded, "revolved": _revolved, "mirrored": _mirrored, "blobby": _blobby}


def random_family(rng: np.random.Generator, families: tuple[str, ...] = FAMILIES) -> str:
    """A name of ``families`` drawn with their ``FAMILY_WEIGHTS`` (renormalised over ``families``)."""
    check_families(families)
    weights = np.array([FAMILY_WEIGHTS[f] for f in families])
    return families[rng.choice(len(families), p=weights / weights.sum())]


def check_families(families: tuple[str, ...]) -> None:
    """``ConfigError`` unless ``families`` is a non-empty selection of ``FAMILIES``."""
    unknown = [f for f in families if f not in FAMILY_WEIGHTS]
    if unknown or not families:
        raise ConfigError("families", f"{', '.join(unknown) or 'none given'}: choose from {', '.join(FAMILIES)}")


def mesh_from_grid(values: np.ndarray, origin, spacing: float) -> trimesh.Trimesh:
    """The zero level set of signed ``values`` [X, Y, Z] (negative inside) sampled on a regular grid of
    ``spacing`` whose first node is at ``origin``: its largest part, facing outward."""
    vertices, faces, _, _ = marching_cubes(values, 0.0, spacing=(spacing,) * 3)
    mesh = trimesh.Trimesh(vertices + origin, faces, process=True)
    mesh = max(mesh.split(only_watertight=False), key=lambda m: m.area)
    if mesh.volume < 0:  # marching cubes' winding depends on the sign convention
        mesh.invert()
    return mesh


def procedural_mesh(rng: np.random.Generator, resolution: int = PROCEDURAL_RESOLUTION,
                    family: str | None = None) -> trimesh.Trimesh:
    """A random shape of ``family`` (drawn by ``FAMILY_WEIGHTS`` when None) as a closed, outward mesh in
    the unit box; ``mesh.metadata["family"]`` names its family."""
    if family is None:
        family = random_family(rng)
    elif family not in _FAMILY_SHAPES:
        raise ConfigError("family", f"{family!r} is unknown; the families are {', '.join(FAMILIES)}")
    axis = np.linspace(-BOX_HALF_SIZE, BOX_HALF_SIZE, resolution + 1)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    for _ in range(8):
        values = _FAMILY_SHAPES[family](grid, rng)
        # The shape must be inside the grid (closed) and large enough to be worth scanning.
        if values.min() < 0 and (values[[0, -1]] > 0).all() and (values[:, [0, -1]] > 0).all() \
                and (values[:, :, [0, -1]] > 0).all() and (values < 0).mean() > 0.01:
            mesh = _unit_box(mesh_from_grid(values, -BOX_HALF_SIZE, axis[1] - axis[0]))
            mesh.metadata["family"] = family
            return mesh
    raise RuntimeError(f"could not draw a closed procedural {family} shape in 8 attempts")

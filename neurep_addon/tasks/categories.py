"""Object categories: seeded procedural families of one kind of object each, the collections a studio has.

A category is a function from a ``numpy.random.Generator`` to one closed mesh of that kind, in the
category's common pose: upright (+z up), its bounding box centred at the origin, at a natural size
(the largest instances about 1 across, the smallest about a third of that). Instances vary in
proportions and in parts, not only in scale, so that a learned shape space has something to learn:

- ``vase``: an open vessel of revolution with a wall and a floor: bottles, jars, bowls and vases;
- ``mug``: a revolved cup (straight or tapered, thick wall and floor) with a handle swept along a
  half-ellipse, of round or flat section;
- ``chair``: a seat, four legs, a back (panel, slats or frame; upright or reclined), sometimes arms
  and stretchers. Chairs face -y: a scan from the front never sees the back of the backrest.

Each shape is a signed distance function (parts joined by ``min``, so the result is one surface with no
inner faces) meshed by marching cubes on a grid of ``SPACING``.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import trimesh
from scipy.interpolate import PchipInterpolator

from ..core.errors import ConfigError
from .shapes import _box, _capsule, _length, _polygon, mesh_from_grid

SPACING = 0.008
"""Marching-cubes cell (the thinnest parts, walls and legs of 0.03, are 4 cells across)."""
MARGIN = 3 * SPACING
"""Empty cells around the shape's bounds, so that the surface is closed inside the grid."""
GRID_PHASE = 0.371
"""Offset of the grid nodes, in cells."""
TEST_FIRST_SEED = 10_000
"""Test instances are seeds from here on; training collections take seeds below it (disjoint by seed)."""
MESH_FORMATS = ("obj", "ply", "stl", "off")


def _mesh(sdf: Callable[[np.ndarray], np.ndarray], half_extents: np.ndarray) -> trimesh.Trimesh:
    """Marching cubes of ``sdf`` (points [..., 3] -> values [...], negative inside) over the box
    ``±half_extents`` (plus ``MARGIN``); the largest part, outward, its bounding box centred at the origin."""
    half = np.asarray(half_extents, dtype=np.float64) + MARGIN
    # The grid is shifted off the round coordinates where parts end (the floor z = 0 of a chair's feet):
    # a face lying on grid nodes gives marching cubes zero-area triangles, and removing them leaves holes.
    axes = [np.arange(-h, h + SPACING / 2, SPACING) + GRID_PHASE * SPACING for h in half]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    mesh = mesh_from_grid(sdf(grid), np.array([a[0] for a in axes]), SPACING)
    mesh.apply_translation(-mesh.bounding_box.centroid)
    return mesh


def _revolve(radii: np.ndarray, heights: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Signed distance of the solid bounded by the profile r(z) (``radii``, ``heights`` [n]) revolved around z."""
    profile = np.concatenate([np.stack([radii, heights], -1), np.stack([-radii, heights], -1)[::-1]])
    return _polygon(np.stack([_length(points[..., :2]), points[..., 2]], axis=-1), profile)


def _open_vessel(solid: np.ndarray, points: np.ndarray, top: float, wall: float) -> np.ndarray:
    """The solid hollowed to a shell ``wall`` thick, its lid above ``top - wall`` cut off: a vessel."""
    return np.maximum(np.abs(solid + wall / 2) - wall / 2, points[..., 2] - top + wall)


# --- Vases -------------------------------------------------------------------------------------

def _vase_profile(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Control radii at heights (fractions of the height) and the height, of one of four kinds."""
    kind = rng.choice(["bottle", "jar", "bowl", "vase"], p=[0.3, 0.25, 0.2, 0.25])
    if kind == "bottle":
        height, body = rng.uniform(0.8, 1.05), rng.uniform(0.14, 0.22)
        shoulder, neck = rng.uniform(0.45, 0.7), rng.uniform(0.05, 0.08)
        fractions = [0, 0.05, shoulder, shoulder + 0.12, min(shoulder + 0.22, 0.9), 1]
        radii = [0.9 * body, body, body, 0.5 * (body + neck), neck, neck * rng.uniform(1.0, 1.3)]
    elif kind == "jar":
        height, body = rng.uniform(0.45, 0.75), rng.uniform(0.22, 0.33)
        mouth = body * rng.uniform(0.6, 0.9)
        fractions = [0, 0.1, rng.uniform(0.4, 0.7), 0.88, 1]
        radii = [0.85 * body, body, body * rng.uniform(1.0, 1.1), mouth, mouth * rng.uniform(1.0, 1.1)]
    elif kind == "bowl":
        height, rim = rng.uniform(0.2, 0.38), rng.uniform(0.33, 0.48)
        foot = rim * rng.uniform(0.35, 0.55)
        fractions = [0, 0.12, rng.uniform(0.45, 0.65), 1]
        radii = [foot, foot * 1.1, rim * rng.uniform(0.85, 0.95), rim]
    else:
        height, foot = rng.uniform(0.7, 1.0), rng.uniform(0.11, 0.18)
        belly, waist = rng.uniform(0.18, 0.3), rng.uniform(0.07, 0.13)
        fractions = [0, rng.uniform(0.25, 0.45), rng.uniform(0.68, 0.8), 1]
        radii = [foot, belly, waist, rng.uniform(0.12, 0.24)]
    return np.asarray(fractions), np.asarray(radii), float(height)


def vase(rng: np.random.Generator) -> trimesh.Trimesh:
    """An open vessel of revolution: a smooth profile through random control radii, a wall and a floor."""
    fractions, radii, height = _vase_profile(rng)
    wall = rng.uniform(0.03, 0.045)
    heights = np.linspace(-height / 2, height / 2, 40)
    profile = PchipInterpolator(fractions * height - height / 2, radii)(heights)

    def sdf(p: np.ndarray) -> np.ndarray:
        return _open_vessel(_revolve(profile, heights, p) - 0.005, p, height / 2, wall)

    reach = profile.max() + 0.01
    return _mesh(sdf, np.array([reach, reach, height / 2 + 0.01]))


# --- Mugs --------------------------------------------------------------------------------------

def _ellipse_distance(q: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Approximate signed distance of 2D points q [..., 2] to an ellipse of ``radii`` (exact sign)."""
    k0 = _length(q / radii)
    return k0 * (k0 - 1) / np.maximum(_length(q / radii**2), 1e-9)


def mug(rng: np.random.Generator) -> trimesh.Trimesh:
    """A revolved cup (from espresso cup to tall mug, straight or tapered) with a handle on +x."""
    height, radius = rng.uniform(0.45, 0.9), rng.uniform(0.2, 0.3)
    top_radius = radius * rng.uniform(0.85, 1.2)
    wall = rng.uniform(0.03, 0.045)
    heights = np.linspace(-height / 2, height / 2, 12)
    radii = np.linspace(radius, top_radius, len(heights))
    # The handle: the outer half of an elliptic ring in the xz-plane, its centre near the wall.
    span = rng.uniform(0.22, 0.38) * height
    centre_z = rng.uniform(-1, 1) * max(0.5 * height - span - 0.06, 0) + 0.04 * height
    wall_x = float(np.interp(centre_z, heights, radii))
    reach = rng.uniform(0.08, 0.17)
    centre_x = wall_x + rng.uniform(-0.2, 0.2) * reach
    section = np.array([rng.uniform(0.018, 0.03), rng.uniform(0.02, 0.045)])
    rounding = section.min() * rng.uniform(0.5, 1.0)

    def sdf(p: np.ndarray) -> np.ndarray:
        solid = _revolve(radii, heights, p) - 0.006
        cup = _open_vessel(solid, p, height / 2, wall)
        ring = _ellipse_distance(np.stack([p[..., 0] - centre_x, p[..., 2] - centre_z], -1),
                                 np.array([reach, span]))
        handle = _box(np.stack([ring, p[..., 1]], -1), section, rounding)
        return np.minimum(cup, np.maximum(handle, -solid))

    outer = max(radius, top_radius) + 0.01
    x_max = max(outer, centre_x + reach + section[0] + 0.01)
    return _mesh(lambda p: sdf(p + [(x_max - outer) / 2, 0, 0]),
                 np.array([(x_max + outer) / 2, outer, height / 2 + 0.01]))


# --- Chairs ------------------------------------------------------------------------------------

def chair(rng: np.random.Generator) -> trimesh.Trimesh:
    """A seat on four legs with a back on +y (panel, slats or frame, sometimes reclined); optional arms
    and stretchers. The chair faces -y; its feet stand at the bottom of the bounding box."""
    width, depth = rng.uniform(0.38, 0.55), rng.uniform(0.36, 0.52)
    seat_height, seat_thickness = rng.uniform(0.38, 0.5), rng.uniform(0.035, 0.07)
    back_height, back_thickness = rng.uniform(0.3, 0.6), rng.uniform(0.03, 0.05)
    tilt = np.radians(rng.uniform(0, 15))
    leg = rng.uniform(0.025, 0.045)
    round_legs = rng.random() < 0.4
    inset = rng.uniform(0, 0.03)
    back_kind = rng.choice(["panel", "slats", "frame"])
    slats = int(rng.integers(2, 5))
    arms = rng.random() < 0.3
    stretchers = rng.random() < 0.4
    rounding = rng.uniform(0.003, 0.01)
    seat_z = seat_height - seat_thickness / 2
    legs_xy = [(sx * (width / 2 - inset - leg), sy * (depth / 2 - inset - leg)) for sx in (-1, 1) for sy in (-1, 1)]

    def sdf(p: np.ndarray) -> np.ndarray:
        value = _box(p - [0, 0, seat_z], [width / 2, depth / 2, seat_thickness / 2], rounding)
        for x, y in legs_xy:
            q = p - [x, y, seat_z / 2]
            if round_legs:
                part = np.maximum(_length(q[..., :2]) - leg, np.abs(q[..., 2]) - seat_z / 2)
            else:
                part = _box(q, [leg, leg, seat_z / 2], rounding)
            value = np.minimum(value, part)
        if stretchers:
            for x in (-1, 1):
                bar = _box(p - [x * (width / 2 - inset - leg), 0, 0.3 * seat_z],
                           [0.6 * leg, depth / 2 - inset - leg, 0.6 * leg], rounding)
                value = np.minimum(value, bar)
        # The back, in a frame leaning back by ``tilt`` around its bottom edge.
        base = p - [0, depth / 2 - back_thickness / 2, seat_height]
        c, s = np.cos(tilt), np.sin(tilt)
        b = np.stack([base[..., 0], c * base[..., 1] - s * base[..., 2], s * base[..., 1] + c * base[..., 2]], -1)
        half_t = back_thickness / 2
        if back_kind == "panel":
            back = _box(b - [0, 0, back_height / 2], [width / 2, half_t, back_height / 2], rounding)
        else:
            posts = _box(np.stack([np.abs(b[..., 0]) - (width / 2 - leg), b[..., 1], b[..., 2] - back_height / 2], -1),
                         [leg, half_t, back_height / 2], rounding)
            rail_half = 0.12 * back_height if back_kind == "slats" else 0.08 * back_height
            back = np.minimum(posts, _box(b - [0, 0, back_height - rail_half], [width / 2, half_t, rail_half],
                                          rounding))
            if back_kind == "slats":
                pitch = (width - 2 * leg) / (slats + 1)
                for i in range(1, slats + 1):
                    x = -width / 2 + leg + i * pitch
                    back = np.minimum(back, _box(b - [x, 0, back_height / 2], [0.2 * pitch, 0.7 * half_t,
                                                                                back_height / 2], rounding))
            else:
                back = np.minimum(back, _box(b - [0, 0, 0.45 * back_height], [width / 2, half_t, rail_half],
                                             rounding))
        value = np.minimum(value, back)
        if arms:
            rest = _box(np.stack([np.abs(p[..., 0]) - (width / 2 - leg), p[..., 1], p[..., 2] - seat_height - 0.2], -1),
                        [leg, depth / 2 - 0.02, 0.6 * leg + 0.005], rounding)
            post = _capsule(np.stack([np.abs(p[..., 0]), p[..., 1], p[..., 2]], -1),
                            np.array([width / 2 - leg, -depth / 2 + 0.06, seat_height]),
                            np.array([width / 2 - leg, -depth / 2 + 0.06, seat_height + 0.2]), 0.7 * leg)
            value = np.minimum(value, np.minimum(rest, post))
        return value

    top = seat_height + back_height * np.cos(tilt) + 0.01
    back_y = depth / 2 + back_height * np.sin(tilt) + 0.01
    centre = np.array([0.0, (back_y - depth / 2) / 2, top / 2])
    return _mesh(lambda p: sdf(p + centre), np.array([width / 2 + 0.01, (back_y + depth / 2) / 2 + 0.01, top / 2]))


CATEGORIES: dict[str, Callable[[np.random.Generator], trimesh.Trimesh]] = {
    "vase": vase, "mug": mug, "chair": chair}
"""Name -> generator of one instance (closed, outward, in the category's common pose)."""


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise ConfigError("category", f"{category!r} is unknown; the categories are {', '.join(CATEGORIES)}")


def make_instance(category: str, seed: int) -> trimesh.Trimesh:
    """Instance ``seed`` of ``category``: the same mesh for the same seed, in the category's common pose;
    ``mesh.metadata`` names its category and seed."""
    _check_category(category)
    mesh = CATEGORIES[category](np.random.default_rng([zlib.crc32(category.encode()), seed]))
    mesh.metadata.update(category=category, seed=seed)
    return mesh


def instance_name(category: str, seed: int, format: str = "obj") -> str:
    """File name of an instance in a written collection."""
    return f"{category}_{seed:05d}.{format}"


def write_collection(category: str, out_dir: str | Path, count: int, first_seed: int,
                     format: str = "obj") -> list[Path]:
    """Write instances ``first_seed`` .. ``first_seed + count - 1`` of ``category`` as mesh files into
    ``out_dir`` (made if missing); the paths written, in seed order."""
    _check_category(category)
    if format not in MESH_FORMATS:
        raise ConfigError("format", f"{format!r}: choose from {', '.join(MESH_FORMATS)}")
    if count < 1:
        raise ConfigError("count", f"must be at least 1, got {count}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(first_seed, first_seed + count):
        path = out / instance_name(category, seed, format)
        make_instance(category, seed).export(str(path), file_type=format)
        paths.append(path)
    return paths

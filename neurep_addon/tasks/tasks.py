"""Meta-learning tasks: a partial observation of a shape, and the complete shape it came from.

A task is made the way a user's scan reaches the engine: a complete mesh is randomly rotated and
(anisotropically) scaled, a partial observation is taken from it (a 1-4 view depth scan with occlusion, or
surface samples minus random balls or beyond a random plane; cameras sometimes only from above, so the
underside is never seen; with given or estimated normals; optionally noisy with stray points), and the box
normalisation is computed from the *partial* points, as ``completion.complete`` does at run time. The ground
truth of the complete shape is expressed in that same box: surface samples with normals, and approximate
signed distances at points spread over the box, so the meta-learner can score how well a fit completes.

Shapes come from a folder of meshes (OBJ/OFF/PLY/STL) and from procedural shapes of several families
(``shapes.FAMILIES``: handles and through-holes, thin plates and shells, extruded and revolved profiles,
mirror-symmetric and blobby shapes, superquadrics, primitive CSG), meshed by marching cubes.
Everything is seeded through the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from ..core.config import BOX_HALF_SIZE, NORMAL_NEIGHBOURS
from ..core.errors import ConfigError, InputError
from ..core.normals import in_box
from ..core.observation import Observation
from .shapes import FAMILIES, check_families, load_mesh, procedural_mesh, random_family
from .synth import depth_scan, holed_samples, random_directions, surface_samples

GROUND_TRUTH_SAMPLES = 60_000
"""Complete-surface samples behind the approximate signed distance of each task."""


@dataclass(frozen=True)
class TaskConfig:
    """How partial observations are drawn; ranges are (low, high), drawn uniformly."""

    scan_probability: float = 0.6
    """Probability of a depth scan; otherwise surface samples with parts removed (balls, or a cut)."""
    cut_probability: float = 0.35
    """Of the surface-sample observations, the share that loses everything beyond a random plane (a part of
    the object missing) rather than random balls."""
    cut_fraction: tuple[float, float] = (0.15, 0.45)
    """Share of the surface samples a cut removes."""
    views: tuple[int, int] = (1, 4)
    scan_resolution: int = 192
    noise_probability: float = 0.3
    noise: tuple[float, float] = (0.0005, 0.004)
    """Gaussian noise of depth scans, as a fraction of the bounding-box diagonal."""
    outliers: tuple[float, float] = (0.0, 0.01)
    """Stray points of a noisy scan (time-of-flight flying pixels), as a fraction of its points."""
    underside_probability: float = 0.3
    """Probability that every camera of a depth scan looks from above, so the underside is never seen
    (an object scanned where it stands)."""
    holes: tuple[int, int] = (1, 4)
    hole_radius: tuple[float, float] = (0.08, 0.22)
    """Ball radius as a fraction of the bounding-box diagonal."""
    given_normals_probability: float = 0.5
    """Probability that the observation keeps exact normals; otherwise they are estimated (k-NN + MST)."""
    normal_neighbours: int = NORMAL_NEIGHBOURS
    anisotropy: float = 0.35
    """Each axis is scaled by a factor in [1 - a, 1 + a] after a random rotation."""
    procedural_fraction: float = 0.3
    """Fraction of tasks built on a procedural shape rather than a mesh of the collection."""
    families: tuple[str, ...] = FAMILIES
    """Procedural families drawn from (by their ``shapes.FAMILY_WEIGHTS``); a subset trains a family prior."""
    observed_points: int = 4096
    """The observation is subsampled to at most this many points (meta-training batches are small)."""
    target_points: int = 8192
    field_points: int = 4096

    def __post_init__(self) -> None:
        for name in ("scan_probability", "cut_probability", "noise_probability", "given_normals_probability",
                     "procedural_fraction", "underside_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(name, f"must be in [0, 1], got {getattr(self, name)}")
        if not 1 <= self.views[0] <= self.views[1]:
            raise ConfigError("views", f"must be a range (low, high) with 1 <= low <= high, got {self.views}")
        if not 0 <= self.anisotropy < 1:
            raise ConfigError("anisotropy", f"must be in [0, 1), got {self.anisotropy}")
        check_families(tuple(self.families))
        if self.observed_points < 256:
            raise ConfigError("observed_points", f"must be at least 256, got {self.observed_points}")


@dataclass
class Task:
    """One partial observation and its complete shape, all float32 in the observation's box.

    points, normals:               [N, 3] observed points and their (given or estimated) unit normals
    target_points, target_normals: [M, 3] samples of the complete surface and their outward normals
    field_points, field_sdf:       [Q, 3] points of the box and [Q] their approximate signed distance
    name: the source shape; kind: how the observation was made (for logs)
    """

    points: np.ndarray
    normals: np.ndarray
    target_points: np.ndarray
    target_normals: np.ndarray
    field_points: np.ndarray
    field_sdf: np.ndarray
    name: str
    kind: str


# --- Tasks -------------------------------------------------------------------------------------

def augment(mesh: trimesh.Trimesh, anisotropy: float, rng: np.random.Generator) -> trimesh.Trimesh:
    """A randomly rotated and anisotropically scaled copy of ``mesh``."""
    transform = np.eye(4)
    scale = rng.uniform(1 - anisotropy, 1 + anisotropy, size=3)
    transform[:3, :3] = np.diag(scale) @ Rotation.random(random_state=rng.integers(2**31)).as_matrix()
    mesh = mesh.copy()
    mesh.apply_transform(transform)
    return mesh


def approximate_sdf(query: np.ndarray, surface: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Signed distance [Q] of ``query`` [Q, 3] to dense samples ``surface`` [S, 3] with outward ``normals``.

    The magnitude is the distance to the nearest sample; the sign says on which side of that sample's
    tangent plane the query lies (exact for closed, densely sampled surfaces away from thin parts).
    """
    distance, nearest = cKDTree(surface).query(query, workers=1)
    side = np.einsum("ij,ij->i", query - surface[nearest], normals[nearest])
    return np.where(side < 0, -distance, distance)


def make_task(mesh: trimesh.Trimesh, config: TaskConfig, rng: np.random.Generator, name: str = "") -> Task:
    """A random partial observation of an augmented ``mesh`` and its complete ground truth."""
    mesh = augment(mesh, config.anisotropy, rng)
    given_normals = rng.random() < config.given_normals_probability
    if rng.random() < config.scan_probability:
        views = int(rng.integers(config.views[0], config.views[1] + 1))
        directions = random_directions(views, rng)
        from_above = rng.random() < config.underside_probability
        if from_above:  # cameras look along -d: d in the upper hemisphere, at least 10 degrees up
            directions[:, 2] = np.maximum(np.abs(directions[:, 2]), 0.17)
        noisy = rng.random() < config.noise_probability
        noise = rng.uniform(*config.noise) if noisy else 0.0
        outliers = rng.uniform(*config.outliers) if noisy else 0.0
        observation = depth_scan(mesh, directions, rng, resolution=config.scan_resolution, noise=noise,
                                 outliers=outliers, with_normals=True)
        kind = f"scan{views}" + ("+above" if from_above else "") + ("+noise" if noisy else "")
    elif rng.random() < config.cut_probability:
        points, normals = surface_samples(mesh, 4 * config.observed_points, rng)
        height = points @ random_directions(1, rng)[0]
        keep = height < np.quantile(height, 1 - rng.uniform(*config.cut_fraction))
        observation = Observation(points[keep], normals[keep])
        kind = "cut"
    else:
        holes = int(rng.integers(config.holes[0], config.holes[1] + 1))
        observation = holed_samples(mesh, 4 * config.observed_points, holes, rng.uniform(*config.hole_radius),
                                    rng, with_normals=True)
        kind = f"holes{holes}"
    points, normals = observation.points, observation.normals
    if len(points) > config.observed_points:
        keep = rng.choice(len(points), size=config.observed_points, replace=False)
        points, normals = points[keep], normals[keep]
    normalization, points, normals = in_box(Observation(points, normals if given_normals else None),
                                            config.normal_neighbours)
    if not given_normals:
        kind += "+estimated"

    dense, dense_normals = surface_samples(mesh, GROUND_TRUTH_SAMPLES, rng)
    dense = normalization.to_box(dense)
    inside_box = (np.abs(dense) < BOX_HALF_SIZE).all(axis=1)
    target = rng.choice(np.flatnonzero(inside_box), size=config.target_points)
    uniform = rng.uniform(-BOX_HALF_SIZE, BOX_HALF_SIZE, size=(config.field_points // 2, 3))
    near = dense[rng.choice(len(dense), size=config.field_points - len(uniform))]
    near = np.clip(near + rng.normal(scale=0.05, size=near.shape), -BOX_HALF_SIZE, BOX_HALF_SIZE)
    field = np.concatenate([uniform, near])
    return Task(
        points=points.astype(np.float32), normals=normals.astype(np.float32),
        target_points=dense[target].astype(np.float32), target_normals=dense_normals[target].astype(np.float32),
        field_points=field.astype(np.float32),
        field_sdf=approximate_sdf(field, dense, dense_normals).astype(np.float32),
        name=name, kind=kind)


class ShapeDistribution:
    """Meshes of a collection plus procedural shapes; ``task(rng)`` draws one task from them.

    meshes: named unit-box meshes (may be empty when ``procedural_fraction`` is 1).
    """

    def __init__(self, meshes: dict[str, trimesh.Trimesh], config: TaskConfig = TaskConfig()) -> None:
        if not meshes and config.procedural_fraction < 1:
            raise InputError("the shape distribution has no meshes; give a folder of meshes "
                             "or set the procedural fraction to 1")
        self.meshes = meshes
        self.names = sorted(meshes)
        self.config = config

    @classmethod
    def from_files(cls, files: list[Path], config: TaskConfig = TaskConfig()) -> "ShapeDistribution":
        return cls({f.stem: load_mesh(f) for f in files}, config)

    def task(self, rng: np.random.Generator) -> Task:
        if not self.names or rng.random() < self.config.procedural_fraction:
            mesh = procedural_mesh(rng, family=random_family(rng, tuple(self.config.families)))
            return make_task(mesh, self.config, rng, name=f"procedural:{mesh.metadata['family']}")
        name = self.names[rng.integers(len(self.names))]
        return make_task(self.meshes[name], self.config, rng, name=name)


def task_seed(seed: int, index: int) -> np.random.Generator:
    """The generator of task ``index`` of a pool seeded ``seed`` (the same on every process)."""
    return np.random.default_rng([seed, index])

"""Every default, preset and paper constant of NeuRep, in one place.

The fitting loop, the command line, the Blender panel and the benchmarks all read their settings
from here, so a number changed here changes everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """How the front ends name, bound and explain one setting; a config field carries it (``setting``).

    label: the panel's name for it (Blender properties, the panel's messages); help: one line for the command
    line and the tooltips; cli: whether the command line has its flag (``flag``); low, high: its bounds (None:
    none), excluded when ``low_open`` / ``high_open``; choices: the values a text setting takes.
    """

    label: str
    help: str
    cli: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    def problem(self, value) -> str | None:
        """What is wrong with ``value``, as ``ConfigError`` words it after the setting's name; None if nothing."""
        if self.choices:
            return None if value in self.choices else f"{value!r} is unknown; choose one of {', '.join(self.choices)}"
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return None if above and below else f"must be {self.bounds}, got {value}"  # NaN is neither

    @property
    def bounds(self) -> str:
        """The allowed values in words: "between 16 and 1024", "in (0, 1]", "positive", "at least 1024"."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            if isinstance(low, int) and isinstance(high, int) and not (self.low_open or self.high_open):
                return f"between {low} and {high}"
            return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if low is not None:
            return "positive" if self.low_open and low == 0 else f"{'above' if self.low_open else 'at least'} {low}"
        return f"{'below' if self.high_open else 'at most'} {high}"


def setting(default, label: str, help: str, **options):
    """A config field with its ``Setting`` (the keyword options); ``check_settings`` checks its value."""
    return field(default=default, metadata={"setting": Setting(label, help, **options)})


def settings_of(config_class) -> dict[str, Setting]:
    """The ``Setting`` of each field of ``config_class`` that has one, in field order."""
    return {f.name: f.metadata["setting"] for f in dataclasses.fields(config_class) if "setting" in f.metadata}


def check_settings(config) -> None:
    """``ConfigError`` naming the first field of ``config`` whose value its ``Setting`` refuses."""
    for name, declared in settings_of(type(config)).items():
        problem = declared.problem(getattr(config, name))
        if problem is not None:
            raise ConfigError(name, problem)


def flag(name: str) -> str:
    """The command-line flag of the setting ``name``: ``points_per_step`` -> ``--points-per-step``."""
    return "--" + name.replace("_", "-")

# --- Paper constants ---------------------------------------------------------------------------
# Sitzmann et al. 2020, "Implicit Neural Representations with Periodic Activation Functions" (SIREN).
SIREN_OMEGA_0 = 30.0
"""Frequency factor w0 of sin(w0 * (Wx + b)); the paper uses 30 for every layer."""
SIREN_HIDDEN_INIT_C = 6.0
"""Hidden weights ~ U(-sqrt(c / fan_in) / w0, +sqrt(c / fan_in) / w0) with c = 6 (paper, Sec. 3.2)."""
SIREN_OFF_SURFACE_ALPHA = 100.0
"""alpha in the off-surface penalty exp(-alpha * |f(x)|) (paper, Eq. 6 and released code)."""

# Tancik et al. 2020, "Fourier Features Let Networks Learn High Frequency Functions".
FOURIER_DEFAULT_SCALE = 4.0
"""Standard deviation sigma of the Gaussian frequency matrix B ~ N(0, sigma^2) for [-1, 1] inputs."""
FOURIER_DEFAULT_FEATURES = 128
"""Number of random frequencies (the embedding has twice as many entries: sin and cos)."""

DEFAULT_PRIOR_PATH = Path(__file__).resolve().parent.parent / "priors" / "default.safetensors"
"""The prior shipped inside the add-on; ``--prior default`` and the panel's Default use it."""

# --- Scene normalisation -----------------------------------------------------------------------
BOX_HALF_SIZE = 1.0
"""The network lives in the cube [-1, 1]^3."""
DATA_HALF_EXTENT = 0.75
"""The longest half side of the observation is mapped to this, leaving room for completed parts."""

DEVICES = ("auto", "cpu", "cuda", "mps")
"""Where a fit may run: ``auto`` picks CUDA, then Apple MPS, then the CPU."""
MAX_SEED = 2**32 - 1
"""Seeds run from 0 to this (numpy and torch both accept the whole range)."""


def check_seed(seed: int) -> int:
    """``seed`` if it is a whole number in [0, ``MAX_SEED``], else ``ConfigError``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError("seed", f"must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return seed


NORMAL_NEIGHBOURS = 16
"""k of the k-nearest-neighbour plane fit that estimates normals of points-only input."""

# --- Input limits ------------------------------------------------------------------------------
MIN_POINTS = 100
"""Fewer observed points than this cannot define a surface worth fitting."""
MAX_POINTS = 200_000
"""Larger inputs are randomly subsampled to this budget (the user is told)."""
MIN_EXTENT_RATIO = 1e-3
"""An observation whose smallest principal extent is below this fraction of its largest is flat."""


@dataclass(frozen=True)
class LossWeights:
    """Weights of the signed-distance objective (see ``losses.sdf_loss`` for each term).

    The first four are the SIREN paper's released weights for SDF fitting (3e3, 1e2, 5e1, 1e2),
    divided by 100 so the total stays near 1-100 (only ratios matter to Adam).
    """

    surface: float = 30.0
    """|f(p)| on observed points: the surface passes through the data."""
    normal: float = 1.0
    """1 - cos(grad f(p), n(p)): the gradient follows the (given or estimated) normals."""
    eikonal: float = 0.5
    """| |grad f(x)| - 1 |: f is a distance function everywhere."""
    off_surface: float = 1.0
    """exp(-alpha |f(x)|) at random points: no zero level set away from the data."""
    near_band: float = 10.0
    """|f(x) - s(x)| in a thin band around the data, s the signed offset along the oriented normal.

    Not in the SIREN paper: it is what points-only scans need, since it fixes the sign on both sides
    of every observed patch and stops the network from growing ghost sheets near the data.
    """
    outside: float = 10.0
    """relu(-f(x)) on the box shell: the far field is outside, so the completed surface closes."""
    hint: float = 10.0
    """|f(x) - s(x) d(x)| at free points with a confident sign hint s and distance d to the data (Hoppe's
    oriented-point signed distance, used only where the point faces observed patches head-on): removes
    ghost surfaces and tunnels."""
    curvature: float = 0.0
    """|grad f(x + h u) - grad f(x)| / h at free points away from the data (a finite-difference Hessian
    norm, in the spirit of the Hessian regularisers of Neural-Singular-Hessian and StEik). Off by default:
    it levelled the evaluation means and cost the asymmetric control (measurements: docs/BENCHMARKS.md,
    "Settings measured")."""
    curvature_variation: float = 0.01
    """|grad f(x + H u) - 2 grad f(x) + grad f(x - H u)| / H^2 at the same points, with the wider step
    H = ``losses.CURVATURE_VARIATION_STEP``: how fast the curvature changes (zero for a constant Hessian),
    so the fill of a hole keeps the curvature around it instead of a flat lid (measurements:
    docs/BENCHMARKS.md, "Settings measured"). Fill-holes raises it to ``fill.FILL_CURVATURE_VARIATION``."""


ENCODINGS = ("siren", "fourier", "relu")
CURVATURE_VARIATION_ENCODINGS = ("siren", "relu")
"""Encodings whose fits take ``LossWeights.curvature_variation``. A Fourier-feature network's gradient
oscillates at its feature frequencies, so its second difference at the term's step is large everywhere and
the term flattened the field (docs/BENCHMARKS.md, "Settings measured")."""
SYMMETRY_CHOICES = ("auto", "off", "x", "y", "z")
KEEP_OPEN_CHOICES = ("largest", "planar", "none")
"""Which openings Fill Holes leaves open on purpose (``holes.find_holes``)."""


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of the coordinate network f: R^3 -> R."""

    encoding: str = setting("siren", "Encoding", "network type: siren (sine activations), fourier (Gaussian "
                            "Fourier features + ReLU MLP) or relu", cli=True, choices=ENCODINGS)
    width: int = setting(128, "Width", "hidden units per layer", cli=True, low=8, high=1024)
    depth: int = setting(3, "Depth", "hidden layers", cli=True, low=1, high=12)
    omega_0: float = setting(SIREN_OMEGA_0, "Omega 0", "the SIREN's frequency factor w0",
                             low=0, low_open=True, high=300)
    fourier_scale: float = setting(FOURIER_DEFAULT_SCALE, "Fourier Scale",
                                   "standard deviation of the Fourier feature frequencies",
                                   low=0, low_open=True, high=100)
    fourier_features: int = setting(FOURIER_DEFAULT_FEATURES, "Fourier Features", "number of Fourier frequencies",
                                    low=1, high=4096)
    sphere_radius: float = setting(0.0, "Sphere Radius", "f(x) = |x| - r + g(x), a sphere's SDF plus the network "
                                   "(geometric initialisation); 0 disables", low=0, high=1, high_open=True)

    def __post_init__(self) -> None:
        check_settings(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FitConfig:
    """Settings of one completion: optimisation, sampling and extraction. Each field's ``Setting`` (its
    label, help, command-line flag and bounds) is read by the command line, the panel and the messages."""

    steps: int = setting(200, "Steps", "optimisation steps", cli=True, low=0, high=100_000)
    points_per_step: int = setting(2048, "Points per Step", "observed points drawn per step; as many "
                                   "off-surface points are drawn besides", cli=True, low=64, high=1_000_000)
    learning_rate: float = setting(5e-4, "Learning Rate", "Adam's learning rate", low=0, low_open=True, high=1,
                                   high_open=True)
    prior_learning_rate_scale: float = setting(
        0.2, "Prior Learning Rate Scale", "a fit from a prior begins its Adam steps at this fraction of the "
        "learning rate", low=0, low_open=True, high=1)
    """A prior is already close to a completion; Adam's first steps at the full rate shook it apart
    (docs/BENCHMARKS.md, "Settings measured")."""
    prior_warmup_steps: int = setting(100, "Prior Warm-up Steps", "steps over which a fit from a prior ramps "
                                      "up linearly to the full rate; 0: it stays at the fraction", low=0)
    """So that later steps still refine detail (docs/BENCHMARKS.md, "Settings measured")."""
    prior_anchor_weight: float = setting(0.0, "Prior Anchor Weight", "weight of the anchor that keeps a prior's "
                                         "completion where there is no data; 0 disables it", low=0)
    """After the prior's learned steps, the field at free points farther than ``prior_anchor_distance`` from
    every observed point is pulled towards the field those steps gave, |f(x) - f_K(x)|, with full weight from
    twice that distance on. Near the data the data terms alone decide. Off: with the shipped prior it hurt
    (docs/BENCHMARKS.md, "Settings measured"; docs/priors.md)."""
    prior_anchor_distance: float = setting(0.05, "Prior Anchor Distance", "distance from the data (box units) "
                                           "beyond which the anchor starts to act", low=0, low_open=True)
    resolution: int = setting(160, "Resolution", "marching-cubes grid resolution over the [-1, 1]^3 box",
                              cli=True, low=16, high=1024)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    preview_every: int = setting(25, "Preview Every", "steps between two coarse preview meshes; 0: none",
                                 low=0)
    preview_resolution: int = setting(48, "Preview Resolution", "grid resolution of the previews", low=8, high=256)
    min_component_fraction: float = setting(0.02, "Smallest Part", "drop connected components with less than "
                                            "this fraction of the total area; 0 keeps all", low=0, high=1,
                                            high_open=True)
    min_component_observed_share: float = setting(
        0.05, "Smallest Observed Share", "drop connected components that carry less than this share of the "
        "observed points", low=0, high=1, high_open=True)
    """Each point counts for the component nearest to it, so one object gives one part; clearly separate
    objects keep a part each. Ignored when ``min_component_fraction`` is 0 (keep every part)."""
    normal_neighbours: int = setting(NORMAL_NEIGHBOURS, "Normal Neighbours", "k of the k-nearest-neighbour plane "
                                     "fit when normals must be estimated", low=3, high=128)
    symmetry: str = setting("auto", "Symmetry", "mirror symmetry: auto uses a plane detected in the scan when "
                            "confident, off none, x, y or z a plane normal to that axis through the centre of the "
                            "input's bounding box", cli=True, choices=SYMMETRY_CHOICES)
    """``core.symmetry``: the mirrored observation is soft evidence where nothing was observed; "auto" may add a
    second plane across the first (``symmetry.detect_planes``). "auto" is the default: it found a plane on the
    symmetric shapes and none on the asymmetric ones, and raised missing recall with no shape losing more
    than 0.001 F@1% (docs/BENCHMARKS.md, "Settings measured")."""
    chunk_size: int = setting(65536, "Chunk Size", "most points evaluated by the network at once", low=1024)
    refine_steps: int = setting(100, "Refine Steps", "steps of the refinement after a shape-space prior's code "
                                "fit, where a residual adds the scan's own detail near the data; 0 keeps the "
                                "code's shape as it is", cli=True, low=0, high=100_000)
    """``shape_fit.refine``."""
    keep_open: str = setting("largest", "Keep Open", "fill holes: the openings left open on purpose: largest (the "
                             "largest hole, such as a scan's border or a statue's base), planar (every planar "
                             "cut, flat and met at an angle by the surface) or none", cli=True,
                             choices=KEEP_OPEN_CHOICES)
    """The default is what artists ask for (the request MeshLab closed as won't-fix): a scan's largest opening
    is its border or the base it stood on, rarely a hole to close. A mesh with a single hole keeps it open too;
    none closes every hole. Holes chosen by their selected vertices are filled whatever this says."""
    max_hole_percent: float = setting(100.0, "Max Hole Percent", "fill holes: leave open the holes whose "
                                      "bounding-box diagonal is larger than this percentage of the mesh's; 100 "
                                      "fills every size", cli=True, low=0, low_open=True, high=100)

    def __post_init__(self) -> None:
        check_settings(self)

    def replace(self, **changes) -> "FitConfig":
        """A copy with some fields changed; ``encoding``, ``width``, ``depth``, ``omega_0`` go to the network."""
        net_keys = {f.name for f in dataclasses.fields(NetworkConfig)}
        net_changes = {k: changes.pop(k) for k in list(changes) if k in net_keys}
        if net_changes:
            changes["network"] = dataclasses.replace(self.network, **net_changes)
        return dataclasses.replace(self, **changes)

    @property
    def loss_weights(self) -> LossWeights:
        """``weights`` as the fit uses them: the curvature-variation term only for the encodings in
        ``CURVATURE_VARIATION_ENCODINGS``."""
        if self.network.encoding in CURVATURE_VARIATION_ENCODINGS or self.weights.curvature_variation == 0:
            return self.weights
        return dataclasses.replace(self.weights, curvature_variation=0.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, FitConfig] = {
    "fast": FitConfig(steps=80, points_per_step=1024, resolution=128, preview_every=20, refine_steps=40),
    "default": FitConfig(),
    "quality": FitConfig(steps=1000, points_per_step=4096, resolution=256, preview_every=50, refine_steps=400),
}
"""Named settings; any field can still be overridden one by one with ``FitConfig.replace``."""


RUN_SETTINGS = {
    "preset": Setting("Preset", "speed/quality trade-off; the settings given one by one override it", cli=True,
                      choices=tuple(PRESETS)),
    "prior": Setting("Prior", "where the network's weights start: the shipped prior, random weights, or a prior "
                              "file", cli=True),
    "device": Setting("Device", "where to fit: auto (CUDA, then MPS, then the CPU) or one of them", cli=True,
                      choices=DEVICES),
    "seed": Setting("Seed", "random seed (same seed, same result on the CPU)", cli=True, low=0, high=MAX_SEED),
    "max_hole_size": Setting("Max Hole Size", "fill holes: leave open the holes whose bounding-box diagonal is "
                                              "larger than this", cli=True, low=0, low_open=True),
}
"""The settings of a run that are not fields of ``FitConfig``: the command line, the panel and the worker
take them beside it."""

SETTINGS: dict[str, Setting] = {**settings_of(FitConfig), **settings_of(NetworkConfig), **RUN_SETTINGS}
"""Every setting a front end shows, by the name ``ConfigError.setting`` gives it."""


def preset(name: str, **overrides) -> FitConfig:
    """The preset ``name`` with the given fields overridden (``None`` values are ignored)."""
    problem = RUN_SETTINGS["preset"].problem(name)
    if problem is not None:
        raise ConfigError("preset", problem)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]

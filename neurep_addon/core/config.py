"""Every default, preset and paper constant of NeuRep, in one place.

The fitting loop, the command line, the Blender panel and the benchmarks all read their settings
from here, so a number changed here changes everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

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
    norm, in the spirit of the Hessian regularisers of Neural-Singular-Hessian and StEik): across holes the
    gradient turns smoothly, so the fill continues the curvature around the hole instead of a flat lid with
    a crease at its rim. Unit sphere missing z > 0.72 (given normals, preset default, default prior): the
    fill's largest distance from the sphere 0.187 at 0, 0.106 at 0.5, 0.110 at 2. Off by default: on the
    12 evaluation cases 0.5 left the means level (Chamfer-L1 0.0109 vs 0.0112, F@1% 0.798 vs 0.802, missing
    recall 0.315 vs 0.323), cost the asymmetric control F (0.745 vs 0.807), and left a ledge at the rim of
    the sphere's top hole that the fill-holes patch could not cross."""
    curvature_variation: float = 0.01
    """|grad f(x + H u) - 2 grad f(x) + grad f(x - H u)| / H^2 at the same points, with the wider step
    H = ``losses.CURVATURE_VARIATION_STEP``: how fast the curvature changes (zero for a constant Hessian),
    so the fill of a hole keeps the curvature around it instead of a flat lid. Preset default + default
    prior, Chamfer-L1 / F@1% / missing recall: on the 12 evaluation cases 0.0115 / 0.814 / 0.339 at 0,
    0.0110 / 0.827 / 0.395 at 0.01, 0.0110 / 0.826 / 0.402 at 0.02; on the 16 held-out shapes of
    ``bench_priors.py`` after 200 steps 0.0098 / 0.818 / 0.491 at 0, 0.0101 / 0.821 / 0.498 at 0.01, 0.0105 /
    0.815 / 0.473 at 0.02 (flat or thin shapes such as fandisk and the boot lose most). Holed torus F 0.957
    -> 0.996 at 0.01. Fill-holes raises it to ``pipeline.FILL_CURVATURE_VARIATION``."""


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of the coordinate network f: R^3 -> R."""

    encoding: str = "siren"
    """"siren" (sine activations), "fourier" (Gaussian Fourier features + ReLU MLP), or "relu"."""
    width: int = 128
    depth: int = 3
    """Number of hidden layers."""
    omega_0: float = SIREN_OMEGA_0
    fourier_scale: float = FOURIER_DEFAULT_SCALE
    fourier_features: int = FOURIER_DEFAULT_FEATURES
    sphere_radius: float = 0.0
    """f(x) = |x| - r + g(x), a sphere's SDF plus the network (geometric initialisation); 0 disables."""

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ConfigError("encoding", f"{self.encoding!r} is unknown; choose one of {', '.join(ENCODINGS)}")
        if not 8 <= self.width <= 1024:
            raise ConfigError("width", f"must be between 8 and 1024, got {self.width}")
        if not 1 <= self.depth <= 12:
            raise ConfigError("depth", f"must be between 1 and 12 hidden layers, got {self.depth}")
        if not 0 < self.omega_0 <= 300:
            raise ConfigError("omega_0", f"must be in (0, 300], got {self.omega_0}")
        if not 0 < self.fourier_scale <= 100:
            raise ConfigError("fourier_scale", f"must be in (0, 100], got {self.fourier_scale}")
        if not 1 <= self.fourier_features <= 4096:
            raise ConfigError("fourier_features", f"must be in [1, 4096], got {self.fourier_features}")
        if not 0 <= self.sphere_radius < 1:
            raise ConfigError("sphere_radius", f"must be in [0, 1), got {self.sphere_radius}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


ENCODINGS = ("siren", "fourier", "relu")
CURVATURE_VARIATION_ENCODINGS = ("siren", "relu")
"""Encodings whose fits take ``LossWeights.curvature_variation``. A Fourier-feature network's gradient
oscillates at its feature frequencies, so its second difference at the term's step is large everywhere
(about 300 at the start of a fit, a SIREN's 40): at 0.01 the term flattened the field (holed bunny,
preset default, Chamfer-L1 0.186 against 0.019 without it). A ReLU network fits the same with or without
it (0.0265 / 0.0260)."""
SYMMETRY_CHOICES = ("auto", "off", "x", "y", "z")


@dataclass(frozen=True)
class FitConfig:
    """Settings of one completion: optimisation, sampling and extraction."""

    steps: int = 200
    points_per_step: int = 2048
    """Observed points drawn per step; as many off-surface points are drawn besides."""
    learning_rate: float = 5e-4
    prior_learning_rate_scale: float = 0.2
    """A fit that starts from a prior begins its Adam steps at this fraction of ``learning_rate``.
    A prior is already close to a completion; Adam's first steps move every weight by about the full rate,
    which shook that completion apart (preset fast, 3 held-out scans: Chamfer-L1 after 25 steps 0.0278 at
    the full rate, 0.0252 at 0.4, 0.0239 at 0.2, 0.0228 at 0.1)."""
    prior_warmup_steps: int = 100
    """Adam steps over which a fit from a prior ramps up linearly from ``prior_learning_rate_scale`` to the
    full rate (0: it stays at the fraction), so that later steps still refine detail (spot scan, preset
    default: Chamfer-L1 0.0053 staying at 0.2, 0.0036 with the ramp, 0.0040 at the full rate throughout)."""
    prior_anchor_weight: float = 0.0
    """Weight of the anchor that keeps a prior's completion where there is no data: after the prior's
    learned steps, the field at free points farther than ``prior_anchor_distance`` from every observed
    point is pulled towards the field those steps gave, |f(x) - f_K(x)|, with full weight from twice that
    distance on (0 disables it). Near the data the data terms alone decide. Off: with the shipped prior it
    hurt (8 held-out scans, preset default, Chamfer-L1 after 200 steps 0.0105 at 0, 0.0155 at 30, 0.0173 at
    100; docs/priors.md), because its 5-step completion is not yet better than what Adam makes of it."""
    prior_anchor_distance: float = 0.05
    """Distance from the data (box units) beyond which the anchor starts to act."""
    resolution: int = 160
    """Marching-cubes grid resolution over the [-1, 1]^3 box."""
    network: NetworkConfig = field(default_factory=NetworkConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    preview_every: int = 25
    """Steps between two coarse preview meshes (0 = no previews)."""
    preview_resolution: int = 48
    min_component_fraction: float = 0.02
    """Drop connected components with less than this fraction of the total area (0 keeps all)."""
    min_component_observed_share: float = 0.05
    """Drop connected components that carry less than this share of the observed points (each point counts
    for the component nearest to it), so one object gives one part; clearly separate objects keep a part
    each. Ignored when ``min_component_fraction`` is 0 (keep every part)."""
    normal_neighbours: int = NORMAL_NEIGHBOURS
    """k of the k-nearest-neighbour plane fit when normals must be estimated."""
    symmetry: str = "auto"
    """Mirror symmetry (``core.symmetry``): "auto" detects a global mirror plane in the observation and, when
    confident, adds the mirrored observation as soft evidence where nothing was observed; "x", "y", "z"
    force the plane normal to that axis through the centre of the input's bounding box; "off" uses none.
    "auto" is the default: on the 12 cases of the evaluation suite and the 16 held-out shapes of the priors
    benchmark it found a plane on the symmetric shapes, none on fandisk, the boot, the asymmetric control and
    5 of the 6 ABC scans, and raised missing recall from 0.340 to 0.504 (suite, 8 cases) and from 0.498 to
    0.569 (held out, 200 steps); no shape lost more than 0.001 F@1% (docs/BENCHMARKS.md). "auto" may add a
    second plane across the first (``symmetry.detect_planes``)."""
    chunk_size: int = 65536
    """Most points evaluated by the network at once, so no call allocates unbounded memory."""
    refine_steps: int = 100
    """Steps of the refinement after a shape-space prior's code fit (``shape_fit.refine``): a residual adds the
    scan's own detail near the data (0: the code's shape as it is)."""

    def __post_init__(self) -> None:
        if not 0 <= self.steps <= 100_000:
            raise ConfigError("steps", f"must be between 0 and 100000, got {self.steps}")
        if not 64 <= self.points_per_step <= 1_000_000:
            raise ConfigError("points_per_step", f"must be between 64 and 1000000, got {self.points_per_step}")
        if not 0 < self.learning_rate < 1:
            raise ConfigError("learning_rate", f"must be in (0, 1), got {self.learning_rate}")
        if not 0 < self.prior_learning_rate_scale <= 1:
            raise ConfigError("prior_learning_rate_scale", f"must be in (0, 1], got {self.prior_learning_rate_scale}")
        if self.prior_warmup_steps < 0:
            raise ConfigError("prior_warmup_steps", f"must be >= 0, got {self.prior_warmup_steps}")
        if self.prior_anchor_weight < 0:
            raise ConfigError("prior_anchor_weight", f"must be >= 0, got {self.prior_anchor_weight}")
        if not self.prior_anchor_distance > 0:
            raise ConfigError("prior_anchor_distance", f"must be positive, got {self.prior_anchor_distance}")
        if not 16 <= self.resolution <= 1024:
            raise ConfigError("resolution", f"must be between 16 and 1024, got {self.resolution}")
        if self.preview_every < 0:
            raise ConfigError("preview_every", f"must be >= 0, got {self.preview_every}")
        if not 8 <= self.preview_resolution <= 256:
            raise ConfigError("preview_resolution", f"must be between 8 and 256, got {self.preview_resolution}")
        if not 0 <= self.min_component_fraction < 1:
            raise ConfigError("min_component_fraction", f"must be in [0, 1), got {self.min_component_fraction}")
        if not 0 <= self.min_component_observed_share < 1:
            raise ConfigError("min_component_observed_share",
                              f"must be in [0, 1), got {self.min_component_observed_share}")
        if not 3 <= self.normal_neighbours <= 128:
            raise ConfigError("normal_neighbours", f"must be between 3 and 128, got {self.normal_neighbours}")
        if self.symmetry not in SYMMETRY_CHOICES:
            raise ConfigError("symmetry", f"{self.symmetry!r} is unknown; choose one of {', '.join(SYMMETRY_CHOICES)}")
        if not 0 <= self.refine_steps <= 100_000:
            raise ConfigError("refine_steps", f"must be between 0 and 100000, got {self.refine_steps}")
        if self.chunk_size < 1024:
            raise ConfigError("chunk_size", f"must be at least 1024, got {self.chunk_size}")

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


def preset(name: str, **overrides) -> FitConfig:
    """The preset ``name`` with the given fields overridden (``None`` values are ignored)."""
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is unknown; choose one of {', '.join(PRESETS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]

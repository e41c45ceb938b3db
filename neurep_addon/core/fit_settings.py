"""What a fit is asked for: the settings of a preset with overrides, and the prior(s) resolved from their spec.

A prior fixes the network; shape spaces and initialisation priors may be mixed as candidates (``Priors``).
"""

from __future__ import annotations

from .config import NetworkConfig, FitConfig, preset
from .prior import Prior
from .prior_io import resolve_priors
from .shape_space import ShapeSpace


Priors = Prior | ShapeSpace | tuple[Prior | ShapeSpace, ...] | None
"""No prior (random initialisation), one, or several candidates to choose from per input. A shape space is
tried first (``shape_fit``); when none explains the input, the fit starts from the best initialisation prior
among the candidates, or from random weights."""


def settings(preset_name: str = "default", prior_spec: str = "none", **overrides) -> tuple[FitConfig, Priors]:
    """The fit settings and prior(s) for a preset, a prior choice and individual overrides.

    A prior fixes the network: its architecture is used unless the caller overrides a network field,
    in which case a mismatch is an error (``PriorError``) rather than a silent change. Several priors
    (``"default,mine.safetensors"``) are candidates: each fit starts from the one that suits its input
    best (``start_fit``).
    """
    config = preset(preset_name, **overrides)
    candidates = resolve_priors(prior_spec)
    for candidate in inits(candidates):
        _check_network(candidate, config, overrides)
    if inits(candidates):
        config = config.replace(network=inits(candidates)[0].network)
    if len(candidates) > 1:
        return config, candidates
    return config, candidates[0] if candidates else None


def inits(priors: Priors) -> tuple[Prior, ...]:
    """The initialisation priors among ``priors``."""
    priors = priors if isinstance(priors, tuple) else (priors,)
    return tuple(p for p in priors if isinstance(p, Prior))


def spaces(priors: Priors) -> tuple[ShapeSpace, ...]:
    """The shape spaces among ``priors``."""
    priors = priors if isinstance(priors, tuple) else (priors,)
    return tuple(p for p in priors if isinstance(p, ShapeSpace))


def _check_network(prior: Prior, config: FitConfig, overrides: dict) -> None:
    """``PriorError`` if the caller asked for a network setting that ``prior`` does not have."""
    if any(v is not None and k in NetworkConfig.__dataclass_fields__ for k, v in overrides.items()):
        prior.check_matches(config.network)

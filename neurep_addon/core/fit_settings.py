"""What a fit is asked for: the settings of a preset with overrides, and the prior(s) resolved from their spec.

A prior fixes the network; shape spaces and initialisation priors may be mixed as candidates (``Priors``).
``plan`` reads only the priors' headers (no torch: Blender's process calls it, and the worker loads the files,
``load``); ``settings`` is ``plan`` with the priors loaded, for a process that fits itself (the command line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from .config import NetworkConfig, FitConfig, preset
from .prior_files import INIT, PriorFile, check_network, prior_files

if TYPE_CHECKING:
    from .prior import Prior
    from .shape_space import ShapeSpace


Priors = Union["Prior", "ShapeSpace", tuple[Union["Prior", "ShapeSpace"], ...], None]
"""No prior (random initialisation), one, or several candidates to choose from per input. A shape space is
tried first (``shape_fit``); when none explains the input, the fit starts from the best initialisation prior
among the candidates, or from random weights."""

PriorChoice = Union[Priors, tuple[PriorFile, ...]]
"""What a use case is given (``jobs.cases``): loaded priors, or the files to load (``plan``'s, from a front end
that loads no torch); ``load`` makes it ``Priors``."""


def plan(preset_name: str = "default", prior_spec: str | list = "none",
         **overrides) -> tuple[FitConfig, tuple[PriorFile, ...]]:
    """The fit settings for a preset, a prior choice and individual overrides, and the prior files chosen,
    checked by their headers (no tensor is read).

    A prior fixes the network: its architecture is used unless the caller overrides a network field,
    in which case a mismatch is an error (``PriorError``) rather than a silent change. Several priors
    (``"default,mine.safetensors"``) are candidates: each fit starts from the one that suits its input
    best (``start_fit``).
    """
    config = preset(preset_name, **overrides)
    files = prior_files(prior_spec)
    inits = [file for file in files if file.kind == INIT]
    if any(v is not None and k in NetworkConfig.__dataclass_fields__ for k, v in overrides.items()):
        for file in inits:
            check_network(file.network, config.network)
    if inits:
        config = config.replace(network=inits[0].network)
    return config, files


def settings(preset_name: str = "default", prior_spec: str | list = "none", **overrides) -> tuple[FitConfig, Priors]:
    """``plan``, with the priors loaded (``PriorError`` for a corrupt file)."""
    config, files = plan(preset_name, prior_spec, **overrides)
    return config, load(files)


def load(priors: PriorChoice) -> Priors:
    """``priors`` with every ``PriorFile`` among them loaded (one: itself, several: a tuple, none: None)."""
    from .prior_io import load_prior

    listed = priors if isinstance(priors, tuple) else () if priors is None else (priors,)
    loaded = tuple(load_prior(p.path) if isinstance(p, PriorFile) else p for p in listed)
    return loaded if len(loaded) > 1 else loaded[0] if loaded else None


def inits(priors: Priors) -> tuple[Prior, ...]:
    """The initialisation priors among ``priors``."""
    from .prior import Prior

    priors = priors if isinstance(priors, tuple) else (priors,)
    return tuple(p for p in priors if isinstance(p, Prior))


def spaces(priors: Priors) -> tuple[ShapeSpace, ...]:
    """The shape spaces among ``priors``."""
    from .shape_space import ShapeSpace

    priors = priors if isinstance(priors, tuple) else (priors,)
    return tuple(p for p in priors if isinstance(p, ShapeSpace))

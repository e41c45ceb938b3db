"""A shape-space prior: a learned space of one kind of object, as a SIREN base modulated by a per-shape code.

    f(x; z) = head(h_L),   h_0 = x,   h_{i+1} = sin(w0 (W_i h_i + b_i + s_i(z))),   s(z) = M z

The base (W, b, head) and the modulation map M are learned from the complete shapes of a collection, with one
code z per shape (auto-decoding as in DeepSDF, shift modulations as in Functa). A completion then searches for
the code, and the scan's pose against the collection, that explain the observation (``shape_fit``): the space
supplies what the scanner never saw.

The collection's frame: every training shape is centred on its bounding box and scaled so that its longest half
side is ``config.DATA_HALF_EXTENT``, in the pose the collection gives it (``meta.shape_space``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .config import NetworkConfig
from .networks import SineLayer, Siren
from .prior_files import SHAPE_SPACE

KIND = SHAPE_SPACE
"""The ``kind`` of a shape-space prior file (``prior_io``); an initialisation prior is ``"init"``."""
CODE_SIZE = 64
"""Entries of a shape's code."""
MIN_CODE_STD = 1e-3
"""Floor of the per-entry spread of the training codes (the code prior's scale), for a collection of a few shapes."""


class ModulatedSiren(nn.Module):
    """A SIREN whose hidden layers are shifted by a code: points [..., M, 3] and codes [..., D] -> values
    [..., M, 1] (the leading dimensions broadcast: one code per row of points)."""

    def __init__(self, network: NetworkConfig, code_size: int = CODE_SIZE) -> None:
        super().__init__()
        self.width, self.depth, self.code_size = network.width, network.depth, code_size
        self.siren = Siren(network)
        self.modulation = nn.Linear(code_size, network.width * network.depth, bias=False)
        with torch.no_grad():
            # A code entry of 1 shifts a pre-activation by about a tenth of a period.
            self.modulation.weight.normal_(0.0, 0.6 / (network.omega_0 * math.sqrt(code_size)))

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        shifts = self.modulation(code).unflatten(-1, (self.depth, self.width)).unsqueeze(-3)  # [..., 1, L, W]
        h = x
        for index, layer in enumerate(self.siren.hidden):
            h = _shifted_sine(layer, h, shifts[..., index, :])
        return self.siren.head(h)


def _shifted_sine(layer: SineLayer, h: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    return torch.sin(layer.omega_0 * (layer.linear(h) + shift))


@dataclass
class ShapeSpace:
    """A trained shape space, what a fit needs of it (``prior_io`` reads and writes it).

    network: the base's architecture; state_dict: the ``ModulatedSiren`` weights; codes: float32 [S, D] the codes
    of the training shapes; threshold: the gate, the largest mean distance (box units) from the observed points
    to a fitted shape at which the fit still trusts the space (calibrated in training, ``shape_fit``);
    provenance: where it came from; name: what the user calls it.
    """

    network: NetworkConfig
    state_dict: dict[str, torch.Tensor]
    codes: torch.Tensor
    threshold: float
    provenance: dict[str, str] = field(default_factory=dict)
    name: str = "shape-space"
    kind: str = KIND

    @property
    def code_size(self) -> int:
        return int(self.codes.shape[1])

    @property
    def code_mean(self) -> torch.Tensor:
        """[D]: the mean code of the collection (its average shape)."""
        return self.codes.mean(dim=0)

    @property
    def code_std(self) -> torch.Tensor:
        """[D]: the per-entry spread of the training codes, at least ``MIN_CODE_STD``."""
        spread = self.codes.std(dim=0) if len(self.codes) > 1 else torch.zeros(self.code_size)
        return spread.clamp(min=MIN_CODE_STD)

    def build(self, device: torch.device | str = "cpu") -> ModulatedSiren:
        """The base network with its trained weights, frozen, on ``device``."""
        base = ModulatedSiren(self.network, self.code_size)
        base.load_state_dict(self.state_dict)
        return base.to(device).requires_grad_(False)

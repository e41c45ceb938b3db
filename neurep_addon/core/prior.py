"""A prior: the initial weights a fit starts from, plus how its first steps should be taken.

``Prior`` is what ``FitSession`` consumes. Reading and writing prior files lives in ``prior_io``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .config import NetworkConfig
from .prior_files import check_network


@dataclass
class Prior:
    """Initial weights for ``network`` and the optional learned inner loop.

    state_dict:  the network's parameters and buffers.
    inner_lrs:   per-parameter (elementwise) step sizes for the first ``inner_steps`` plain gradient
                 steps, as learned by MetaSDF-style meta-learning; empty when the prior has none.
    inner_steps: how many steps use ``inner_lrs`` before the fit continues with Adam.
    provenance:  where the prior came from (data, command, iterations, version), free-form strings.
    name:        what the user calls it (the file's stem), for messages.
    """

    network: NetworkConfig
    state_dict: dict[str, torch.Tensor]
    inner_lrs: dict[str, torch.Tensor] = field(default_factory=dict)
    inner_steps: int = 0
    provenance: dict[str, str] = field(default_factory=dict)
    name: str = "prior"

    def check_matches(self, network: NetworkConfig) -> None:
        """Raise ``PriorError`` unless this prior was made for ``network``."""
        check_network(self.network, network)

"""Coordinate networks f: R^3 -> R behind one interface.

Three interchangeable modules, chosen by ``NetworkConfig.encoding``:

- ``Siren``: sine activations sin(w0 (Wx + b)) with the SIREN paper's initialisation.
- ``FourierMLP``: Gaussian random Fourier features gamma(x) = [sin(2 pi Bx), cos(2 pi Bx)] then a ReLU MLP.
- ``ReluMLP``: a plain ReLU MLP on raw coordinates, the spectral-bias baseline.

Each takes points ``[..., 3]`` and returns values ``[..., 1]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import SIREN_HIDDEN_INIT_C, NetworkConfig


class SineLayer(nn.Module):
    """y = sin(w0 (W x + b)), initialised as in SIREN Sec. 3.2."""

    def __init__(self, in_features: int, out_features: int, omega_0: float, is_first: bool) -> None:
        super().__init__()
        self.omega_0 = omega_0
        self.linear = nn.Linear(in_features, out_features)
        with torch.no_grad():
            # First layer: U(-1/n, 1/n) so that w0 * Wx spans several periods over [-1, 1].
            # Hidden layers: U(-sqrt(6/n)/w0, sqrt(6/n)/w0) keeps pre-activations ~ arcsine-distributed.
            bound = 1.0 / in_features if is_first else math.sqrt(SIREN_HIDDEN_INIT_C / in_features) / omega_0
            self.linear.weight.uniform_(-bound, bound)
            self.linear.bias.uniform_(-1.0 / math.sqrt(in_features), 1.0 / math.sqrt(in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega_0 * self.linear(x))


class Siren(nn.Module):
    """SIREN: ``depth`` sine layers of ``width`` units and a linear head.

    The linear head uses the hidden-layer bound without w0 (as the paper's released code), so the initial
    output is small and zero-mean.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        layers = [SineLayer(3, config.width, config.omega_0, is_first=True)]
        layers += [SineLayer(config.width, config.width, config.omega_0, is_first=False)
                   for _ in range(config.depth - 1)]
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(config.width, 1)
        with torch.no_grad():
            bound = math.sqrt(SIREN_HIDDEN_INIT_C / config.width) / config.omega_0
            self.head.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(x))


class FourierFeatures(nn.Module):
    """gamma(x) = [sin(2 pi B x), cos(2 pi B x)] with a fixed B ~ N(0, scale^2) of shape [features, 3]."""

    def __init__(self, features: int, scale: float) -> None:
        super().__init__()
        # B is part of the state dict (a buffer) so a saved prior restores the same frequencies.
        self.register_buffer("B", torch.randn(features, 3) * scale)

    @property
    def out_features(self) -> int:
        return 2 * self.B.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = 2.0 * math.pi * x @ self.B.T
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)


def _relu_mlp(in_features: int, width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_features if i == 0 else width, width), nn.ReLU()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class FourierMLP(nn.Module):
    """Fourier-feature embedding followed by a ReLU MLP (Tancik et al. 2020)."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.embed = FourierFeatures(config.fourier_features, config.fourier_scale)
        self.mlp = _relu_mlp(self.embed.out_features, config.width, config.depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embed(x))


class ReluMLP(nn.Module):
    """Plain ReLU MLP on raw xyz: smooth, low-frequency fits (the spectral-bias baseline)."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.mlp = _relu_mlp(3, config.width, config.depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class SphereResidual(nn.Module):
    """f(x) = |x| - r + g(x): the network g learns a residual on the signed distance of a sphere.

    This is a geometric initialisation (in the spirit of SAL and DiGS): at step 0 the field is a clean
    sphere's SDF plus g's small initial output, so the far field is already outside and a fit from
    random weights grows no ghost surfaces away from the data.
    """

    def __init__(self, residual: nn.Module, radius: float) -> None:
        super().__init__()
        self.residual = residual
        self.radius = radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.norm(dim=-1, keepdim=True) - self.radius + self.residual(x)


_NETWORKS = {"siren": Siren, "fourier": FourierMLP, "relu": ReluMLP}


def build_network(config: NetworkConfig) -> nn.Module:
    """A freshly initialised network for ``config`` (draws from torch's global RNG)."""
    network = _NETWORKS[config.encoding](config)
    return SphereResidual(network, config.sphere_radius) if config.sphere_radius > 0 else network

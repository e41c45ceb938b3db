import math

import pytest
import torch

from neurep_addon.core.config import SIREN_OMEGA_0, NetworkConfig
from neurep_addon.core.networks import FourierMLP, ReluMLP, Siren, SphereResidual, build_network
from neurep_addon.core.errors import ConfigError


def test_siren_weights_follow_the_paper_bounds():
    torch.manual_seed(0)
    net = Siren(NetworkConfig(width=256, depth=3))
    first, *hidden = list(net.hidden)
    assert first.linear.weight.abs().max() <= 1 / 3
    bound = math.sqrt(6 / 256) / SIREN_OMEGA_0
    for layer in hidden:
        w = layer.linear.weight
        assert w.abs().max() <= bound
        # U(-b, b) has variance b^2 / 3
        assert w.var().item() == pytest.approx(bound**2 / 3, rel=0.05)


def test_siren_activations_keep_the_arcsine_distribution_through_depth():
    # SIREN Sec. 3.2: with this init every sine layer's output is arcsine distributed on [-1, 1]
    # (std 1/sqrt(2)), whatever the depth.
    torch.manual_seed(0)
    net = Siren(NetworkConfig(width=256, depth=5))
    h = torch.rand(20_000, 3) * 2 - 1
    with torch.no_grad():
        stds = []
        for layer in net.hidden:
            h = layer(h)
            stds.append(h.std().item())
    for std in stds[1:]:
        assert std == pytest.approx(1 / math.sqrt(2), abs=0.06)


def test_encodings_share_one_interface():
    x = torch.rand(10, 4, 3)
    for encoding, cls in (("siren", Siren), ("fourier", FourierMLP), ("relu", ReluMLP)):
        net = build_network(NetworkConfig(encoding=encoding, width=32, depth=2, sphere_radius=0.0))
        assert isinstance(net, cls)
        assert net(x).shape == (10, 4, 1)


def test_sphere_residual_starts_close_to_a_sphere_sdf():
    torch.manual_seed(0)
    net = build_network(NetworkConfig(width=64, depth=2, sphere_radius=0.5))
    assert isinstance(net, SphereResidual)
    x = torch.rand(2000, 3) * 2 - 1
    with torch.no_grad():
        error = net(x)[:, 0] - (x.norm(dim=-1) - 0.5)
    assert error.abs().mean() < 0.05


def test_fourier_features_have_the_configured_scale():
    torch.manual_seed(0)
    net = FourierMLP(NetworkConfig(encoding="fourier", fourier_scale=10.0, fourier_features=512))
    assert net.embed.B.shape == (512, 3)
    assert net.embed.B.std().item() == pytest.approx(10.0, rel=0.1)
    assert "embed.B" in net.state_dict()


@pytest.mark.parametrize("field, value, message", [
    ("encoding", "tanh", "encoding 'tanh' is unknown"),
    ("width", 4, "width"),
    ("depth", 0, "depth"),
    ("omega_0", 0.0, "omega_0"),
    ("sphere_radius", 1.5, "sphere_radius"),
])
def test_invalid_network_settings_fail_at_construction(field, value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        NetworkConfig(**{field: value})
    assert caught.value.setting == field

import dataclasses
import json
import os

import pytest
import torch

from neurep_addon.core.config import NetworkConfig
from neurep_addon.core.errors import OutputError, PriorError
from neurep_addon.core.networks import build_network
from neurep_addon.core.fit_settings import settings
from neurep_addon.core.prior import Prior
from neurep_addon.core.prior_io import DEFAULT_PRIOR_PATH, load_prior, resolve_prior, save_prior

NETWORK = NetworkConfig(width=16, depth=2)


def make_prior(network: NetworkConfig = NETWORK, learned: bool = True) -> Prior:
    torch.manual_seed(0)
    state = build_network(network).state_dict()
    lrs = {k: torch.rand_like(v) * 1e-4 for k, v in state.items()} if learned else {}
    return Prior(network, state, lrs, inner_steps=5 if learned else 0,
                 provenance={"data": "test", "command": "pytest", "iterations": "0"})


@pytest.mark.parametrize("network", [NETWORK, NetworkConfig(encoding="fourier", width=16, depth=1,
                                                            fourier_features=8)])
def test_round_trip(tmp_path, network):
    prior = make_prior(network)
    path = save_prior(prior, tmp_path / "p.safetensors")
    loaded = load_prior(path)
    assert loaded.network == network and loaded.inner_steps == 5 and loaded.provenance == prior.provenance
    assert loaded.state_dict.keys() == prior.state_dict.keys()
    for name, tensor in prior.state_dict.items():
        assert torch.equal(loaded.state_dict[name], tensor)
    for name, tensor in prior.inner_lrs.items():
        assert torch.equal(loaded.inner_lrs[name], tensor)


def test_corrupt_and_foreign_files(tmp_path):
    path = save_prior(make_prior(), tmp_path / "p.safetensors")
    data = bytearray(path.read_bytes())
    data[-7] ^= 0xFF  # a bit flip inside the tensor data
    flipped = tmp_path / "flipped.safetensors"
    flipped.write_bytes(bytes(data))
    with pytest.raises(PriorError, match="checksum mismatch"):
        load_prior(flipped)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[: len(data) // 2])
    with pytest.raises(PriorError, match="not a readable prior"):
        load_prior(truncated)
    with pytest.raises(PriorError, match="not found"):
        load_prior(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(PriorError, match="not a NeuRep prior"):
        load_prior(tmp_path / "other.safetensors")


def test_weights_that_do_not_fit_the_declared_network(tmp_path):
    prior = make_prior()
    wrong = dataclasses.replace(prior, network=NetworkConfig(width=32, depth=2))  # metadata lies
    with pytest.raises(PriorError, match="do not fit"):
        load_prior(save_prior(wrong, tmp_path / "wrong.safetensors"))
    stray = dataclasses.replace(prior, inner_lrs={**prior.inner_lrs, "extra": torch.ones(3)})
    with pytest.raises(PriorError, match="matches no weight"):
        load_prior(save_prior(stray, tmp_path / "stray.safetensors"))


def test_mismatched_network_is_a_clear_error(tmp_path):
    prior = make_prior()
    with pytest.raises(PriorError, match="width: prior 16 vs requested 128"):
        prior.check_matches(NetworkConfig())
    path = save_prior(prior, tmp_path / "p.safetensors")
    config, loaded = settings("fast", str(path))
    assert config.network == NETWORK and loaded.inner_steps == 5
    with pytest.raises(PriorError, match="different network"):
        settings("fast", str(path), width=64)


def test_metadata_is_json_and_checksummed(tmp_path):
    path = save_prior(make_prior(learned=False), tmp_path / "p.safetensors")
    header = json.loads(path.read_bytes()[8: 8 + int.from_bytes(path.read_bytes()[:8], "little")])
    metadata = header["__metadata__"]
    assert json.loads(metadata["network"])["width"] == 16 and len(metadata["sha256"]) == 64
    assert load_prior(path).inner_lrs == {}


def test_shipped_default_prior():
    if not DEFAULT_PRIOR_PATH.is_file():
        pytest.skip("no default prior in this checkout")
    assert DEFAULT_PRIOR_PATH.stat().st_size <= 5 * 1024 * 1024
    prior = resolve_prior("default")
    assert {"data", "command", "iterations", "version"} <= prior.provenance.keys()
    config, _ = settings("default", "default")
    assert config.network == prior.network
    assert resolve_prior("none") is None


@pytest.mark.parametrize("learned", [False, True])
def test_a_prior_with_nan_values_is_refused_when_loaded(tmp_path, learned):
    prior = make_prior()
    tensors = prior.inner_lrs if learned else prior.state_dict
    name = next(iter(tensors))
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    path = save_prior(prior, tmp_path / "nan.safetensors")
    with pytest.raises(PriorError, match="holds NaN or Inf values"):
        load_prior(path)
    assert load_prior(save_prior(make_prior(), tmp_path / "fine.safetensors")).name == "fine"


def test_a_list_of_priors_takes_each_path_whole(tmp_path):
    """A file whose name holds a comma is one prior when given in a list (a string is split at commas)."""
    path = save_prior(make_prior(), tmp_path / "shoes, v2.safetensors")
    config, prior = settings("fast", [str(path)])
    assert isinstance(prior, Prior) and config.network == NETWORK
    with pytest.raises(PriorError):
        settings("fast", str(path))


def test_a_saved_prior_honours_the_umask_and_leaves_no_temporary_file(tmp_path):
    for umask, mode in ((0o022, 0o644), (0o027, 0o640)):
        old = os.umask(umask)
        try:
            path = save_prior(make_prior(), tmp_path / f"p{umask}.safetensors")
        finally:
            os.umask(old)
        assert path.stat().st_mode & 0o777 == mode
    with pytest.raises(OutputError, match="cannot write"):
        save_prior(make_prior(), tmp_path / "missing" / "p.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p18.safetensors", "p23.safetensors"]

"""The shape space's network, its posed fields and its prior file (no training: see tests/meta/)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurep_addon.core.config import NetworkConfig
from neurep_addon.core.errors import PriorError
from neurep_addon.core.prior_io import load_prior, save_prior
from neurep_addon.core.shape_fit import PosedShapes, cube_rotations
from neurep_addon.core.shape_space import KIND, ModulatedSiren, ShapeSpace

NETWORK = NetworkConfig(width=16, depth=2)


def make_space(shapes: int = 3, code_size: int = 8) -> ShapeSpace:
    torch.manual_seed(0)
    base = ModulatedSiren(NETWORK, code_size)
    return ShapeSpace(NETWORK, base.state_dict(), torch.randn(shapes, code_size), threshold=0.01,
                      provenance={"shapes": str(shapes)}, name="mugs")


def test_the_code_modulates_the_field_and_codes_broadcast_over_points():
    space = make_space()
    base = space.build()
    x = torch.rand(2, 50, 3) * 2 - 1
    both = base(x, space.codes[:2])
    assert both.shape == (2, 50, 1)
    assert torch.allclose(both[1], base(x[1], space.codes[1]), atol=1e-6)
    assert (both[0] - base(x[0], space.codes[1])).abs().max() > 1e-3  # another code, another shape


def test_a_posed_shape_is_the_base_moved_rotated_and_scaled():
    space = make_space()
    base = space.build()
    rotations = cube_rotations()
    assert len(rotations) == 24 and torch.allclose(rotations[0], torch.eye(3))
    assert torch.allclose(torch.linalg.det(rotations), torch.ones(24))
    shapes = PosedShapes(base, space.code_mean, space.code_std, rotations[[0, 5]])
    with torch.no_grad():
        shapes.turn[1] = torch.tensor([0.1, -0.2, 0.3])
        shapes.shift[1] = torch.tensor([0.05, 0.0, -0.1])
        shapes.log_scale[1] = np.log(1.5)
        shapes.units[1] = 0.5
    x = torch.rand(40, 3) * 2 - 1
    values = shapes(x.expand(2, 40, 3))
    rotation = shapes.rotations()[1]
    assert torch.allclose(rotation @ rotation.T, torch.eye(3), atol=1e-5)
    expected = base(1.5 * x @ rotation.T + shapes.shift[1], space.code_mean + 0.5 * space.code_std) / 1.5
    assert torch.allclose(values[1], expected, atol=1e-5)
    assert torch.allclose(values[0], base(x, space.code_mean), atol=1e-6)  # identity pose, mean code
    chosen = shapes.select([1])
    assert torch.allclose(chosen(x), values[1], atol=1e-5)  # a selected candidate keeps its pose and code


def test_a_shape_space_file_round_trips_with_its_kind(tmp_path):
    space = make_space()
    loaded = load_prior(save_prior(space, tmp_path / "mugs.safetensors"))
    assert isinstance(loaded, ShapeSpace) and loaded.kind == KIND and loaded.name == "mugs"
    assert loaded.network == NETWORK and loaded.threshold == pytest.approx(0.01)
    assert torch.equal(loaded.codes, space.codes) and loaded.provenance == space.provenance
    for name, tensor in space.state_dict.items():
        assert torch.equal(loaded.state_dict[name], tensor)
    assert torch.allclose(loaded.code_mean, space.codes.mean(0))


def _rewrite(path, tensors=None, **metadata_changes):
    """Rewrite a prior file with changed tensors or metadata, checksum recomputed (a well-formed foreign file)."""
    from safetensors.torch import load_file, save_file

    from neurep_addon.core.prior_io import _checksum

    with open(path, "rb") as stream:
        metadata = json.loads(stream.read(int.from_bytes(stream.read(8), "little")))["__metadata__"]
    tensors = tensors or load_file(str(path))
    metadata.update(metadata_changes)
    metadata["sha256"] = _checksum(tensors, metadata)
    save_file(tensors, str(path), metadata=metadata)


def test_unknown_kinds_bad_codes_and_bad_thresholds_are_refused(tmp_path):
    from safetensors.torch import load_file

    path = save_prior(make_space(), tmp_path / "s.safetensors")
    _rewrite(path, kind="voxels")
    with pytest.raises(PriorError, match="kind 'voxels'"):
        load_prior(path)
    path = save_prior(make_space(), tmp_path / "s.safetensors")
    tensors = load_file(str(path))
    tensors["codes"] = tensors["codes"][:, :4].contiguous()
    _rewrite(path, tensors)
    with pytest.raises(PriorError, match="do not fit"):
        load_prior(path)
    path = save_prior(make_space(), tmp_path / "s.safetensors")
    tensors = load_file(str(path))
    tensors["codes"][0, 0] = float("nan")
    _rewrite(path, tensors)
    with pytest.raises(PriorError, match="NaN"):
        load_prior(path)
    path = save_prior(make_space(), tmp_path / "s.safetensors")
    _rewrite(path, threshold="0.0")
    with pytest.raises(PriorError, match="threshold"):
        load_prior(path)

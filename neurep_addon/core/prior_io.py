"""Prior files: safetensors (no code runs on load) with the network config and provenance as JSON metadata,
and a SHA-256 checksum over tensors and metadata. Two kinds (metadata ``kind``):

- ``init``, an initialisation (``Prior``): tensors ``weights.<name>`` (the state dict) and ``inner_lr.<name>``
  (learned step sizes); metadata ``inner_steps``. Files without ``kind`` are of this kind.
- ``shape-space``, a learned space of one kind of object (``shape_space.ShapeSpace``): tensors ``weights.<name>``
  (the modulated base) and ``codes`` (the training shapes' codes); metadata ``threshold`` (the gate).

Every file has the metadata ``format``, ``kind``, ``network``, ``provenance`` and ``sha256``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from .config import DEFAULT_PRIOR_PATH  # noqa: F401  (where the tests and scripts look for it)
from .errors import PriorError
from .io import write_atomically
from .networks import build_network
from .prior import Prior
from .prior_files import FORMAT, INIT, SHAPE_SPACE, prior_file, prior_files, read_prior_file
from .shape_space import ModulatedSiren, ShapeSpace

AnyPrior = Prior | ShapeSpace


def _checksum(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for key in sorted(metadata):
        if key != "sha256":
            digest.update(f"{key}={metadata[key]}\n".encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def save_prior(prior: AnyPrior, path: str | os.PathLike) -> Path:
    """Write ``prior`` (either kind) to ``path`` (``io.write_atomically``: ``OutputError`` when it cannot)."""
    path = Path(path)
    tensors = {f"weights.{k}": v.detach().cpu().contiguous() for k, v in prior.state_dict.items()}
    metadata = {"format": FORMAT, "network": json.dumps(prior.network.to_dict(), sort_keys=True),
                "provenance": json.dumps(prior.provenance, sort_keys=True)}
    if isinstance(prior, ShapeSpace):
        tensors["codes"] = prior.codes.detach().cpu().float().contiguous()
        metadata.update(kind=SHAPE_SPACE, threshold=repr(float(prior.threshold)))
    else:
        tensors.update({f"inner_lr.{k}": v.detach().cpu().contiguous() for k, v in prior.inner_lrs.items()})
        metadata.update(kind=INIT, inner_steps=str(prior.inner_steps))
    metadata["sha256"] = _checksum(tensors, metadata)
    write_atomically(path, save(tensors, metadata=metadata))  # the umask applies: shared like any output
    return path


def load_prior(path: str | os.PathLike) -> AnyPrior:
    """Read a prior file of either kind; raises ``PriorError`` if it is missing, corrupt or not a NeuRep prior."""
    header = read_prior_file(path)
    path, metadata = Path(path), header.metadata
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise PriorError(f"{path}: not a readable prior file ({exc})") from exc
    if metadata.get("sha256") != _checksum(tensors, metadata):
        raise PriorError(f"{path}: checksum mismatch; the file is corrupt or was edited")
    try:
        provenance = json.loads(metadata["provenance"])
        if header.kind == SHAPE_SPACE:
            space = ShapeSpace(network=header.network, state_dict=_weights(tensors), codes=tensors["codes"],
                               threshold=float(metadata["threshold"]), provenance=provenance, name=path.stem)
        else:
            inner_steps = int(metadata["inner_steps"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PriorError(f"{path}: prior metadata is incomplete ({exc})") from exc
    if header.kind == SHAPE_SPACE:
        _check_shape_space(space, path)
        return space
    prior = Prior(
        network=header.network,
        state_dict=_weights(tensors),
        inner_lrs={k[len("inner_lr."):]: v for k, v in tensors.items() if k.startswith("inner_lr.")},
        inner_steps=inner_steps,
        provenance=provenance,
        name=path.stem,
    )
    _check_tensors(prior, path)
    return prior


def _weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("weights."):]: v for k, v in tensors.items() if k.startswith("weights.")}


def _check_shape_space(space: ShapeSpace, path: Path) -> None:
    """Raise ``PriorError`` unless the base and the codes fit the network the metadata names."""
    codes = space.codes
    if codes.dim() != 2 or len(codes) == 0:
        raise PriorError(f"{path}: a shape space needs codes [shapes, size], found {tuple(codes.shape)}")
    expected = {k: tuple(v.shape) for k, v in ModulatedSiren(space.network, codes.shape[1]).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in space.state_dict.items()}
    if found != expected:
        raise PriorError(f"{path}: the weights do not fit the shape space its metadata describes; "
                         "the file was not written by NeuRep")
    for name, tensor in [*space.state_dict.items(), ("codes", codes)]:
        if not torch.isfinite(tensor).all():
            raise PriorError(f"{path}: {name!r} holds NaN or Inf values; the prior is unusable (retrain it)")
    if not space.threshold > 0:
        raise PriorError(f"{path}: the gate threshold must be positive, found {space.threshold}")


def _check_tensors(prior: Prior, path: Path) -> None:
    """Raise ``PriorError`` unless the weights and step sizes fit the network the metadata names."""
    expected = {k: tuple(v.shape) for k, v in build_network(prior.network).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in prior.state_dict.items()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or sorted(k for k in found if found[k] != expected[k])
        raise PriorError(f"{path}: the weights do not fit the {prior.network.encoding} network its metadata "
                         f"describes (first mismatch: {wrong[0]}); the file was not written by NeuRep")
    for name, lr in prior.inner_lrs.items():
        if found.get(name) != tuple(lr.shape):
            raise PriorError(f"{path}: learned step size {name!r} matches no weight of the network")
    for kind, tensors in (("weight", prior.state_dict), ("learned step size", prior.inner_lrs)):
        for name, tensor in tensors.items():
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise PriorError(f"{path}: {kind} {name!r} holds NaN or Inf values; the prior is unusable "
                                 "(retrain it, or use another prior)")
    if prior.inner_steps < 0 or (prior.inner_steps > 0) != bool(prior.inner_lrs):
        raise PriorError(f"{path}: {prior.inner_steps} learned steps but {len(prior.inner_lrs)} step-size "
                         "tensors; the file was not written by NeuRep")


def resolve_priors(spec: str | list[str | os.PathLike]) -> tuple[AnyPrior, ...]:
    """The priors of a prior choice (``prior_files.prior_files``: comma-separated, or a list), loaded."""
    return tuple(load_prior(file.path) for file in prior_files(spec))


def resolve_prior(spec: str | os.PathLike) -> AnyPrior | None:
    """``"none"`` -> no prior (random init); ``"default"`` -> the shipped prior; else a file path."""
    file = prior_file(spec)
    return None if file is None else load_prior(file.path)

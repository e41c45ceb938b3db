"""Prior files as a front end sees them before a fit, without torch: which files a prior choice names, and
each file's kind and network, read from its header. Loading the tensors (``prior_io.load_prior``) is the work
of the process that fits (Blender's worker, the command line's own process).

A safetensors file starts with the size of its header (8 bytes, little-endian), then the header, JSON: each
tensor's type, shape and offsets, and ``__metadata__``, where ``prior_io`` writes NeuRep's fields as strings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .config import DEFAULT_PRIOR_PATH, NetworkConfig
from .errors import PriorError

FORMAT = "neurep-prior/1"
INIT = "init"
"""The ``kind`` of an initialisation prior (``prior.Prior``); files without ``kind`` are of this kind."""
SHAPE_SPACE = "shape-space"
"""The ``kind`` of a shape space (``shape_space.ShapeSpace``)."""
KINDS = (INIT, SHAPE_SPACE)
MAX_HEADER_BYTES = 100_000_000
"""The largest header the safetensors library reads; a larger size field means the file is not one."""


@dataclass(frozen=True)
class PriorFile:
    """A prior file whose header was read: where it is, its kind and its network, and its metadata."""

    path: str
    kind: str
    network: NetworkConfig
    metadata: dict[str, str] = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        """What the user calls it: the file's stem."""
        return Path(self.path).stem


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header; ``PriorError`` when the file is missing or its
    header cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise PriorError(f"{path}: prior file not found")
    try:
        with open(path, "rb") as stream:
            size = int.from_bytes(stream.read(8), "little")
            if not 0 < size <= MAX_HEADER_BYTES:
                raise ValueError(f"a header of {size} bytes")
            header = json.loads(stream.read(size))
        metadata = header.get("__metadata__", {}) if isinstance(header, dict) else None
        if not isinstance(metadata, dict):
            raise ValueError("the header is not a safetensors header")
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PriorError(f"{path}: not a readable prior file ({exc})") from exc
    return metadata


def read_prior_file(path: str | os.PathLike) -> PriorFile:
    """``path``'s kind and network from its header; ``PriorError`` unless it is a NeuRep prior of a kind this
    version knows. The tensors and the checksum are checked when the prior is loaded (``prior_io``)."""
    metadata = read_metadata(path)
    if metadata.get("format") != FORMAT:
        raise PriorError(f"{path}: not a NeuRep prior (format {metadata.get('format')!r}, expected {FORMAT!r})")
    kind = metadata.get("kind", INIT)
    if kind not in KINDS:
        raise PriorError(f"{path}: a prior of kind {kind!r}, which this version of NeuRep does not know; "
                         f"it reads {INIT!r} and {SHAPE_SPACE!r}")
    try:
        network = NetworkConfig(**json.loads(metadata["network"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PriorError(f"{path}: prior metadata is incomplete ({exc})") from exc
    return PriorFile(str(path), kind, network, metadata)


def prior_files(spec: str | list[str | os.PathLike]) -> tuple[PriorFile, ...]:
    """The files of a prior choice: several candidates, comma-separated (``"default,shoes.safetensors"``), or a
    list of them, each taken whole (a file whose name has a comma); ``"none"`` names none."""
    parts = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else list(spec)
    return tuple(p for p in map(prior_file, parts) if p is not None)


def prior_file(spec: str | os.PathLike) -> PriorFile | None:
    """``"none"`` -> None (random initialisation); ``"default"`` -> the shipped prior; else a file path."""
    if spec == "none":
        return None
    if spec == "default":
        if not DEFAULT_PRIOR_PATH.is_file():
            raise PriorError("this build ships no default prior; choose no prior (random initialisation) or a prior file")
        return read_prior_file(DEFAULT_PRIOR_PATH)
    return read_prior_file(spec)


def check_network(trained_for: NetworkConfig, requested: NetworkConfig) -> None:
    """``PriorError`` unless a prior trained for ``trained_for`` can start a fit of ``requested``."""
    if trained_for != requested:
        mine, theirs = trained_for.to_dict(), requested.to_dict()
        diffs = ", ".join(f"{k}: prior {mine[k]!r} vs requested {theirs[k]!r}" for k in mine if mine[k] != theirs[k])
        raise PriorError(f"the prior was trained for a different network ({diffs}); "
                         "choose no prior (random initialisation) or drop the conflicting settings")

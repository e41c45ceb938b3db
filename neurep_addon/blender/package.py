"""Where the extension lives in Blender, and how core errors read in Blender's words.

Imports nothing of the add-on, so every module of the Blender layer can import it.
"""

from __future__ import annotations

ADDON_PACKAGE = __package__.rpartition(".neurep_addon")[0]
"""The extension's package, e.g. ``bl_ext.user_default.neurep``; empty outside Blender's extension system."""

DEVICE_MENU = {"auto": ("Auto", "CUDA, then Apple MPS, then the CPU"), "cpu": ("CPU", "The processor"),
               "cuda": ("CUDA", "An NVIDIA GPU"), "mps": ("MPS", "Apple silicon GPU")}
"""Label and description of each of the core's devices (``core.config.DEVICES``) in the device menus."""


def device_items() -> list[tuple[str, str, str]]:
    """The items of a device menu: the core's devices, in its order."""
    from ..core.config import DEVICES  # plain Python, no torch

    return [(name, *DEVICE_MENU[name]) for name in DEVICES]


SETTING_LABELS = {
    "preset": "Preset", "prior": "Prior", "encoding": "Encoding", "steps": "Steps", "resolution": "Resolution",
    "device": "Device", "seed": "Seed", "width": "Width", "depth": "Depth",
}
"""The core's setting names (``ConfigError.setting``) as the panel labels them."""


def user_message(exc: BaseException) -> str:
    """What the user reads for a core error: a setting is named by its field label, as in the panel."""
    from ..core.errors import ConfigError, NeuRepError

    if isinstance(exc, ConfigError):
        return exc.describe(SETTING_LABELS.get(exc.setting, exc.setting))
    if isinstance(exc, NeuRepError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"

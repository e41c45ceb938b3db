"""The core's Python dependencies inside Blender: are they importable, and how to install them.

Blender ships numpy but not PyTorch (hundreds of MB, per platform and GPU), so NeuRep installs
torch and the core's other dependencies on request, with pip, into the extension's user directory
(``extension_path_user``), never into the extension folder. Availability is checked with
``importlib.util.find_spec``: nothing is imported until a fit starts.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import bpy
import numpy

from .package import ADDON_PACKAGE

MODULE_REQUIREMENTS = {
    "torch": "torch==2.13.0",
    "trimesh": "trimesh==5.2.0",
    "plyfile": "plyfile==1.1.3",
    "scipy": "scipy==1.17.1",
    "skimage": "scikit-image==0.26.0",
    "safetensors": "safetensors==0.8.0",
}
"""Importable module -> the pinned requirement that provides it (the versions NeuRep is tested with)."""

TORCH_INDEXES = {
    "CPU": "https://download.pytorch.org/whl/cpu",
    "CUDA": "https://download.pytorch.org/whl/cu128",
}
"""PyTorch's own package indexes for Windows and Linux builds; macOS uses the plain PyPI build (MPS)."""


def user_site_packages(create: bool = False) -> str | None:
    """The extension's private site-packages, or None outside Blender's extension system."""
    if not ADDON_PACKAGE:
        return None
    try:
        return bpy.utils.extension_path_user(ADDON_PACKAGE, path="site-packages", create=create)
    except ValueError:
        return None


def add_user_site_packages() -> None:
    """Make packages installed by the Install operator importable (appended: Blender's numpy stays first)."""
    path = user_site_packages()
    if path and os.path.isdir(path) and path not in sys.path:
        sys.path.append(path)
        importlib.invalidate_caches()


def missing_modules() -> list[str]:
    """Modules the core needs that cannot be imported, e.g. ``["torch"]``; nothing is imported."""
    add_user_site_packages()
    return [name for name in MODULE_REQUIREMENTS if importlib.util.find_spec(name) is None]


def missing_message(missing: list[str]) -> str:
    names = ", ".join("PyTorch" if name == "torch" else MODULE_REQUIREMENTS[name].split("==")[0] for name in missing)
    return (f"{names} not installed; install with the panel's Install PyTorch button "
            "(NeuRep preferences), or into Blender's Python yourself")


def install_command(variant: str, target: str) -> list[str]:
    """pip's command line installing the pinned dependencies for ``variant`` ("CPU" or "CUDA") into ``target``.

    numpy is pinned to Blender's own version because pip's ``--target`` ignores what is already installed.
    """
    command = [sys.executable, "-m", "pip", "install", "--upgrade", "--no-input", "--disable-pip-version-check",
               "--target", target]
    if sys.platform != "darwin":
        command += ["--extra-index-url", TORCH_INDEXES[variant]]
    torch_requirement = MODULE_REQUIREMENTS["torch"]
    if sys.platform != "darwin" and variant == "CPU":
        torch_requirement += "+cpu"
    others = [requirement for name, requirement in MODULE_REQUIREMENTS.items() if name != "torch"]
    return command + [torch_requirement, *others, f"numpy=={numpy.__version__}"]

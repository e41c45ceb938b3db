"""The core's Python dependencies inside Blender: are they importable, which build fits this machine, and
the pip command that installs them.

Blender ships numpy but not PyTorch (hundreds of MB, per platform and GPU), so NeuRep installs torch and
the core's other dependencies on request, with pip, into the extension's user directory
(``extension_path_user``), never into the extension folder. Two offline routes: a folder of wheels
(``--no-index --find-links``), or the site-packages of an existing Python environment.

Nothing here imports ``bpy`` or torch at import time, so ``scripts/complete.py`` can use it in plain Python
and under ``blender -b -P``. Availability is ``importlib.util.find_spec``: nothing is imported.
"""

from __future__ import annotations

import glob
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sys
from dataclasses import dataclass

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

SITE_PACKAGES_ENV = "NEUREP_SITE_PACKAGES"
"""Extra site-packages folders (os.pathsep-separated) that scripts and the add-on search for torch."""

EXTENSION_ID = "neurep"

PYTHON_EXECUTABLE = sys.executable
"""The Python that runs pip: Blender's own (tests point it at a stand-in, the process boundary)."""


@dataclass(frozen=True)
class Build:
    """One PyTorch build the install button can offer."""

    key: str    # "CUDA", "CPU" or "MPS": the install command's variant
    label: str
    description: str


BUILDS = {
    "CUDA": Build("CUDA", "NVIDIA GPU (CUDA 12.8)", "Fits on an NVIDIA graphics card; about 2.5 GB to download"),
    "CPU": Build("CPU", "CPU only", "Works on every machine; about 200 MB to download"),
    "MPS": Build("MPS", "Apple silicon (Metal)", "Fits on the GPU of an M-series Mac; about 80 MB"),
}


def detect_gpu(system: str | None = None, machine: str | None = None, exists=os.path.exists,
               which=shutil.which) -> str:
    """The GPU PyTorch could use here, without importing torch: "CUDA", "MPS" or "NONE".

    NVIDIA: the driver is installed (``nvidia-smi`` on PATH, ``/proc/driver/nvidia`` on Linux, or
    ``nvcuda.dll`` on Windows). Apple silicon: macOS on arm64.
    """
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    if system == "Darwin":
        return "MPS" if machine == "arm64" else "NONE"
    if which("nvidia-smi"):
        return "CUDA"
    if system == "Linux" and exists("/proc/driver/nvidia/version"):
        return "CUDA"
    if system == "Windows":
        windows = os.environ.get("SystemRoot", r"C:\Windows")
        if exists(os.path.join(windows, "System32", "nvcuda.dll")):
            return "CUDA"
    return "NONE"


def available_builds(system: str | None = None, gpu: str | None = None) -> list[Build]:
    """The builds that can work on this platform, the recommended one first.

    macOS: only the PyPI build (MPS on Apple silicon); there is no CUDA on macOS. Windows and Linux: CUDA
    first when an NVIDIA driver is present, else CPU first.
    """
    system = system or platform.system()
    gpu = detect_gpu(system=system) if gpu is None else gpu
    if system == "Darwin":
        return [BUILDS["MPS"] if gpu == "MPS" else BUILDS["CPU"]]
    return [BUILDS["CUDA"], BUILDS["CPU"]] if gpu == "CUDA" else [BUILDS["CPU"], BUILDS["CUDA"]]


def pip_supports_raw_progress() -> bool:
    """pip 24.1 and later print ``Progress N of M`` lines with ``--progress-bar raw``."""
    try:
        major, minor = (int(part) for part in importlib.metadata.version("pip").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (24, 1)


def install_command(variant: str, target: str, wheels_dir: str = "", python: str | None = None,
                    system: str | None = None, raw_progress: bool | None = None) -> list[str]:
    """pip's command line installing the pinned dependencies for ``variant`` ("CPU", "CUDA", "MPS") into
    ``target``; from ``wheels_dir`` only (no network) when given.

    numpy is pinned to Blender's own version because pip's ``--target`` ignores what is already installed.
    """
    import numpy

    system = system or platform.system()
    raw_progress = pip_supports_raw_progress() if raw_progress is None else raw_progress
    command = [python or PYTHON_EXECUTABLE, "-m", "pip", "install", "--upgrade", "--no-input",
               "--disable-pip-version-check", "--progress-bar", "raw" if raw_progress else "on",
               "--target", target]
    if wheels_dir:
        command += ["--no-index", "--find-links", wheels_dir]
    elif system != "Darwin":
        command += ["--extra-index-url", TORCH_INDEXES["CUDA" if variant == "CUDA" else "CPU"]]
    cpu_build = not wheels_dir and system != "Darwin" and variant == "CPU"
    return command + requirements(numpy.__version__, cpu_build)


def requirements(numpy_version: str, cpu_build: bool = False) -> list[str]:
    """What pip is asked for: the pinned dependencies and numpy at Blender's version; ``cpu_build`` pins
    PyTorch's CPU build (``+cpu``, from its own index). Without it ``torch==2.13.0`` takes either build, so a
    wheels folder may hold PyPI's ``torch-2.13.0`` or the index's ``torch-2.13.0+cpu`` (PEP 440: a version
    without a local label matches every local label)."""
    torch = MODULE_REQUIREMENTS["torch"] + ("+cpu" if cpu_build else "")
    others = [requirement for name, requirement in MODULE_REQUIREMENTS.items() if name != "torch"]
    return [torch, *others, f"numpy=={numpy_version}"]


def download_command(numpy_version: str, platform_tag: str = "<your platform>") -> str:
    """The ``pip download`` line that fills a Wheels Folder on another computer (docs/first_completion.md):
    the same requirements the offline install asks for."""
    return (f"pip download {' '.join(requirements(numpy_version))} --only-binary=:all: --python-version 3.11 "
            f"--platform {platform_tag} -d wheels")


def user_site_packages(create: bool = False) -> str | None:
    """The extension's private site-packages, or None outside Blender's extension system."""
    if not ADDON_PACKAGE:
        return None
    import bpy

    try:
        return bpy.utils.extension_path_user(ADDON_PACKAGE, path="site-packages", create=create)
    except ValueError:
        return None


def installed_site_packages() -> list[str]:
    """Every folder where NeuRep's dependencies may live, in search order: the Install button's target(s),
    the ``Python Environment`` preference, then ``$NEUREP_SITE_PACKAGES``. Only folders that exist.

    Works for the enabled add-on and for scripts (``blender -b -P``) that import ``neurep_addon`` directly:
    those find the target of every installed NeuRep extension in the user's extensions folder.
    """
    found = []
    if ADDON_PACKAGE:
        found.append(user_site_packages())
    bpy = sys.modules.get("bpy")  # inside Blender (or a script that uses the bpy module); never imported here
    if bpy is not None:
        extensions = bpy.utils.user_resource("EXTENSIONS")
        if extensions:
            found += sorted(glob.glob(os.path.join(glob.escape(extensions), ".user", "*", EXTENSION_ID,
                                                   "site-packages")))
        found.append(_preference("python_site_packages", bpy))
    found += os.environ.get(SITE_PACKAGES_ENV, "").split(os.pathsep)
    unique = []
    for path in found:
        if path and os.path.isdir(path) and os.path.abspath(path) not in unique:
            unique.append(os.path.abspath(path))
    return unique


def _preference(name: str, bpy) -> str:
    """An add-on preference of an enabled NeuRep extension ("" if none is enabled)."""
    try:
        addons = bpy.context.preferences.addons
    except AttributeError:
        return ""
    for key in addons.keys():
        if key == ADDON_PACKAGE or (key.startswith("bl_ext.") and key.endswith("." + EXTENSION_ID)):
            value = getattr(addons[key].preferences, name, "")
            return bpy.path.abspath(value) if value else ""
    return ""


def add_user_site_packages() -> list[str]:
    """Make installed packages importable (appended: Blender's own numpy stays first); returns the folders."""
    paths = installed_site_packages()
    added = [path for path in paths if path not in sys.path]
    if added:
        sys.path.extend(added)
        importlib.invalidate_caches()
    return paths


def missing_modules() -> list[str]:
    """Modules the core needs that cannot be imported, e.g. ``["torch"]``; nothing is imported."""
    add_user_site_packages()
    return [name for name in MODULE_REQUIREMENTS if importlib.util.find_spec(name) is None]


def display_name(module: str) -> str:
    return "PyTorch" if module == "torch" else MODULE_REQUIREMENTS[module].split("==")[0]


def missing_message(missing: list[str]) -> str:
    names = ", ".join(display_name(name) for name in missing)
    return (f"{names} not installed; install with the panel's Install PyTorch button "
            "(NeuRep preferences), or into Blender's Python yourself")


def script_missing_message(missing: list[str], searched: list[str]) -> str:
    """What ``scripts/complete.py`` prints when the core cannot run: each missing package, where it looked,
    and the ways to get it."""
    requirements = " ".join(MODULE_REQUIREMENTS[name] for name in missing)
    where = ", ".join(searched) if searched else "no NeuRep install folder found"
    return (f"error: missing Python packages: {', '.join(display_name(name) for name in missing)} "
            f"(modules {', '.join(missing)}).\n"
            f"  searched Python's path and: {where}\n"
            "  in Blender: Edit > Preferences > Add-ons > NeuRep > Install PyTorch (or the NeuRep sidebar tab);\n"
            f"  or point {SITE_PACKAGES_ENV} at a site-packages folder that has them;\n"
            f"  or: python -m pip install {requirements}")


def require_for_script() -> None:
    """For command-line scripts: find installed dependencies, or exit (status 2) naming what is missing."""
    missing = missing_modules()
    if missing:
        print(script_missing_message(missing, installed_site_packages()), file=sys.stderr)
        raise SystemExit(2)


def torch_threads(requested: int, cpu_count: int | None = None) -> int:
    """CPU threads for torch inside Blender: ``requested``, or (0) all cores but one, so the UI stays fluid."""
    if requested > 0:
        return requested
    return max(1, (cpu_count or os.cpu_count() or 2) - 1)

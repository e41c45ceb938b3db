"""The offline route with real pip: the installer's command against a folder of wheels, nothing downloaded.

The wheels are small stand-ins built here, one per requirement (real ones are 200 MB and need a network to
get); pip resolves the installer's requirement strings against their names and versions as it would
against the real files."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy
import pytest

from neurep_addon.setup import dependencies

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(folder: Path, project: str, version: str, module: str) -> Path:
    """A pure-Python wheel of ``project`` at ``version`` holding the package ``module``."""
    dist_info = f"{project.replace('-', '_')}-{version}.dist-info"
    files = {f"{module}/__init__.py": f"__version__ = {version!r}\n",
             f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n",
             f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: neurep-tests\nRoot-Is-Purelib: true\n"
                                   "Tag: py3-none-any\n"}
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    path = folder / f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def wheels_folder(folder: Path, torch_version: str) -> Path:
    """One wheel per requirement of the download list, torch at ``torch_version``."""
    folder.mkdir()
    modules = {project: module for module, project in
               ((m, r.split("==")[0]) for m, r in dependencies.MODULE_REQUIREMENTS.items())}
    for requirement in dependencies.requirements(numpy.__version__):
        project, version = requirement.split("==")
        build_wheel(folder, project, torch_version if project == "torch" else version,
                    modules.get(project, project))
    return folder


def pip_environment() -> dict:
    """This environment without pip's own settings (a ``PIP_FIND_LINKS`` would add another folder)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")}, "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_CACHE_DIR": "1"}


@pytest.mark.parametrize("torch_version", ["2.13.0", "2.13.0+cpu"])
def test_pip_installs_from_a_wheels_folder_with_either_torch_build(tmp_path, torch_version):
    """PyPI's ``torch-2.13.0`` and PyTorch's index's ``torch-2.13.0+cpu`` both satisfy the offline install."""
    folder = wheels_folder(tmp_path / "wheels", torch_version)
    target = tmp_path / "site-packages"
    command = dependencies.install_command("CPU", str(target), wheels_dir=str(folder), python=sys.executable,
                                           system="Linux", raw_progress=False)
    assert "--no-index" in command  # pip reads only the folder
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env=pip_environment())
    assert done.returncode == 0, done.stdout + done.stderr
    installed = {path.name for path in target.glob("*.dist-info")}
    assert f"torch-{torch_version}.dist-info" in installed
    assert {"trimesh-5.2.0.dist-info", "plyfile-1.1.3.dist-info", f"numpy-{numpy.__version__}.dist-info",
            "scikit_image-0.26.0.dist-info"} <= installed
    assert (target / "skimage" / "__init__.py").is_file()


def test_a_folder_without_a_requirement_fails_and_says_which(tmp_path):
    folder = wheels_folder(tmp_path / "wheels", "2.13.0")
    next(folder.glob("plyfile-*.whl")).unlink()
    command = dependencies.install_command("CPU", str(tmp_path / "site-packages"), wheels_dir=str(folder),
                                           python=sys.executable, system="Linux", raw_progress=False)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env=pip_environment())
    assert done.returncode != 0 and "plyfile==1.1.3" in done.stdout + done.stderr


def test_the_documented_download_list_is_what_the_installer_asks_for():
    """docs/first_completion.md's ``pip download`` line fills the folder the offline install reads."""
    text = (ROOT / "docs" / "first_completion.md").read_text()
    assert dependencies.download_command(numpy.__version__) in text
    online_cpu = dependencies.install_command("CPU", "t", system="Linux", raw_progress=False)
    assert "torch==2.13.0+cpu" in online_cpu  # online, PyTorch's CPU index is asked for its CPU build

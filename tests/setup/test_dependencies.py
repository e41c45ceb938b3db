"""PyTorch status without importing it, the right build for each platform, pip's command line, and what the
command line says when something is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from neurep_addon.setup import dependencies

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("system, machine, files, on_path, expected", [
    ("Linux", "x86_64", {"/proc/driver/nvidia/version"}, set(), "CUDA"),
    ("Linux", "x86_64", set(), {"nvidia-smi"}, "CUDA"),
    ("Linux", "x86_64", set(), set(), "NONE"),
    ("Windows", "AMD64", {os.path.join(r"C:\Windows", "System32", "nvcuda.dll")}, set(), "CUDA"),
    ("Windows", "AMD64", set(), set(), "NONE"),
    ("Darwin", "arm64", set(), {"nvidia-smi"}, "MPS"),  # no CUDA on macOS, whatever is on PATH
    ("Darwin", "x86_64", set(), set(), "NONE"),
])
def test_gpu_detection_without_torch(monkeypatch, system, machine, files, on_path, expected):
    monkeypatch.delenv("SystemRoot", raising=False)
    detected = dependencies.detect_gpu(system=system, machine=machine, exists=files.__contains__,
                                             which=lambda name: f"/usr/bin/{name}" if name in on_path else None)
    assert detected == expected


@pytest.mark.parametrize("system, gpu, expected", [
    ("Linux", "CUDA", ["CUDA", "CPU"]), ("Linux", "NONE", ["CPU", "CUDA"]), ("Windows", "CUDA", ["CUDA", "CPU"]),
    ("Darwin", "MPS", ["MPS"]), ("Darwin", "NONE", ["CPU"]),
])
def test_builds_offered_per_platform_recommended_first(system, gpu, expected):
    assert [b.key for b in dependencies.available_builds(system=system, gpu=gpu)] == expected


@pytest.mark.parametrize("system, variant, index, torch", [
    ("Linux", "CPU", "https://download.pytorch.org/whl/cpu", "torch==2.13.0+cpu"),
    ("Windows", "CUDA", "https://download.pytorch.org/whl/cu128", "torch==2.13.0"),
    ("Darwin", "MPS", None, "torch==2.13.0"),
])
def test_install_command_per_platform(system, variant, index, torch):
    target = os.path.join("user", "neurep", "site-packages")
    command = dependencies.install_command(variant, target, system=system, raw_progress=True)
    assert command[1:4] == ["-m", "pip", "install"]
    assert command[command.index("--target") + 1] == target
    assert command[command.index("--progress-bar") + 1] == "raw"
    assert (command[command.index("--extra-index-url") + 1] if index else None) == \
        (index if "--extra-index-url" in command else None)
    assert torch in command and f"numpy=={numpy.__version__}" in command and "trimesh==5.2.0" in command
    offline = dependencies.install_command(variant, target, wheels_dir="/wheels", system=system,
                                                 raw_progress=False)
    assert offline[offline.index("--find-links") + 1] == "/wheels" and "--no-index" in offline
    assert "--extra-index-url" not in offline and offline[offline.index("--progress-bar") + 1] == "on"


def test_missing_message_names_pytorch():
    message = dependencies.missing_message(["torch", "skimage"])
    assert message.startswith("PyTorch, scikit-image not installed") and "Install PyTorch" in message


def test_scripts_name_what_is_missing(monkeypatch):
    monkeypatch.setattr(dependencies, "MODULE_REQUIREMENTS",
                        {**dependencies.MODULE_REQUIREMENTS, "no_such_module_x": "no-such-module-x==1.0"})
    with pytest.raises(SystemExit) as stop:
        dependencies.require_for_script()
    assert stop.value.code == 2


def test_cpu_threads_leave_one_core_to_blender():
    assert dependencies.torch_threads(0, cpu_count=8) == 7
    assert dependencies.torch_threads(0, cpu_count=1) == 1
    assert dependencies.torch_threads(3, cpu_count=8) == 3


def test_complete_script_without_torch_names_what_is_missing():
    script = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = ['complete.py', 'x.ply', '-o', 'y.ply'];"
              f"runpy.run_path({str(ROOT / 'scripts' / 'complete.py')!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "missing Python packages: PyTorch (modules torch)" in done.stderr
    assert "Install PyTorch" in done.stderr and "NEUREP_SITE_PACKAGES" in done.stderr and "Traceback" not in done.stderr

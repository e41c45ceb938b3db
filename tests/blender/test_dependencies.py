"""PyTorch status, the right build for each platform, and the installer with pip faked at the process
boundary (a stand-in executable that prints pip's output): progress, cancel, one at a time, failures."""

from __future__ import annotations

import os
import stat
import sys
import time

import bpy
import numpy
import pytest

from .conftest import ROOT


def test_everything_the_core_needs_is_found_without_importing_it(addon):
    assert addon.dependencies.missing_modules() == []


def test_install_is_refused_while_online_access_is_off_and_no_wheels_folder_is_set(addon):
    assert bpy.app.online_access is False  # the bpy module starts offline, like blender --offline-mode
    with pytest.raises(RuntimeError, match="Online access is disabled.*Wheels Folder"):
        bpy.ops.neurep.install_dependencies()


@pytest.mark.parametrize("system, machine, files, on_path, expected", [
    ("Linux", "x86_64", {"/proc/driver/nvidia/version"}, set(), "CUDA"),
    ("Linux", "x86_64", set(), {"nvidia-smi"}, "CUDA"),
    ("Linux", "x86_64", set(), set(), "NONE"),
    ("Windows", "AMD64", {os.path.join(r"C:\Windows", "System32", "nvcuda.dll")}, set(), "CUDA"),
    ("Windows", "AMD64", set(), set(), "NONE"),
    ("Darwin", "arm64", set(), {"nvidia-smi"}, "MPS"),  # no CUDA on macOS, whatever is on PATH
    ("Darwin", "x86_64", set(), set(), "NONE"),
])
def test_gpu_detection_without_torch(addon, monkeypatch, system, machine, files, on_path, expected):
    monkeypatch.delenv("SystemRoot", raising=False)
    detected = addon.dependencies.detect_gpu(system=system, machine=machine, exists=files.__contains__,
                                             which=lambda name: f"/usr/bin/{name}" if name in on_path else None)
    assert detected == expected


@pytest.mark.parametrize("system, gpu, expected", [
    ("Linux", "CUDA", ["CUDA", "CPU"]), ("Linux", "NONE", ["CPU", "CUDA"]), ("Windows", "CUDA", ["CUDA", "CPU"]),
    ("Darwin", "MPS", ["MPS"]), ("Darwin", "NONE", ["CPU"]),
])
def test_builds_offered_per_platform_recommended_first(addon, system, gpu, expected):
    assert [b.key for b in addon.dependencies.available_builds(system=system, gpu=gpu)] == expected


@pytest.mark.parametrize("system, variant, index, torch", [
    ("Linux", "CPU", "https://download.pytorch.org/whl/cpu", "torch==2.13.0+cpu"),
    ("Windows", "CUDA", "https://download.pytorch.org/whl/cu128", "torch==2.13.0"),
    ("Darwin", "MPS", None, "torch==2.13.0"),
])
def test_install_command_per_platform(addon, system, variant, index, torch):
    target = addon.dependencies.user_site_packages()
    command = addon.dependencies.install_command(variant, target, system=system, raw_progress=True)
    assert command[1:4] == ["-m", "pip", "install"]
    assert command[command.index("--target") + 1] == target and "neurep" in target
    assert command[command.index("--progress-bar") + 1] == "raw"
    assert (command[command.index("--extra-index-url") + 1] if index else None) == \
        (index if "--extra-index-url" in command else None)
    assert torch in command and f"numpy=={numpy.__version__}" in command and "trimesh==5.2.0" in command
    offline = addon.dependencies.install_command(variant, target, wheels_dir="/wheels", system=system,
                                                 raw_progress=False)
    assert offline[offline.index("--find-links") + 1] == "/wheels" and "--no-index" in offline
    assert "--extra-index-url" not in offline and offline[offline.index("--progress-bar") + 1] == "on"


def test_missing_message_names_pytorch(addon):
    message = addon.dependencies.missing_message(["torch", "skimage"])
    assert message.startswith("PyTorch, scikit-image not installed") and "Install PyTorch" in message


def test_progress_is_parsed_from_both_kinds_of_pip_output(addon):
    progress = addon.install.InstallProgress()
    progress.feed("  Downloading https://x/torch-2.13.0%2Bcpu-cp311-cp311-linux_x86_64.whl (190.4 MB)")
    progress.feed("Progress 95200000 of 190400000")
    assert progress.package == "torch" and progress.text() == "torch: 95.2 of 190.4 MB (50%)"
    progress.feed("Downloading scipy-1.17.1-cp311-cp311-manylinux.whl (35.2 MB)")
    progress.feed("   17.6/35.2 MB 10.0 MB/s eta 0:00:02")
    assert progress.package == "scipy" and abs(progress.fraction - 0.5) < 1e-6


@pytest.fixture
def fake_pip(addon, tmp_path, monkeypatch):
    """Point the install command's Python at a stand-in that runs tests/blender/fake_pip.py."""
    executable = tmp_path / "python"
    executable.write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests' / 'blender' / 'fake_pip.py'} \"$@\"\n")
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(addon.dependencies, "PYTHON_EXECUTABLE", str(executable))
    monkeypatch.setenv("FAKE_PIP_ARGS", str(tmp_path / "args.txt"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    preferences = addon.prefs.preferences()
    preferences.wheels_dir = str(wheels)
    yield tmp_path
    addon.install.stop()
    preferences.wheels_dir = ""


def test_offline_install_from_a_wheels_folder_runs_pip_and_reports(addon, fake_pip, monkeypatch):
    monkeypatch.setenv("FAKE_PIP_MODE", "ok")
    assert bpy.ops.neurep.install_dependencies() == {"FINISHED"}  # background mode: waits for pip
    args = (fake_pip / "args.txt").read_text().splitlines()
    assert args[:3] == ["-m", "pip", "install"] and "--no-index" in args
    assert args[args.index("--find-links") + 1] == str(fake_pip / "wheels")
    job = addon.install.current()
    assert job.state == "FINISHED" and job.snapshot().package == "scipy"
    log = open(job.log_path).read()
    assert "Successfully installed" in log and "Progress " not in log  # raw progress lines stay out of the log


def test_failure_is_summarised_with_the_log_path(addon, fake_pip, monkeypatch):
    monkeypatch.setenv("FAKE_PIP_MODE", "fail")
    with pytest.raises(RuntimeError, match=r"Installing failed: the wheels folder lacks a matching file: "
                                           r"No matching distribution found for torch==2\.13\.0\+cpu"
                                           r".*full log: .*install\.log"):
        bpy.ops.neurep.install_dependencies(variant="CPU")
    assert addon.install.current().state == "FAILED"


def test_failure_summaries_in_plain_words(addon):
    summary = addon.install.failure_summary
    offline_log = "WARNING: Retrying ... NewConnectionError('Failed to establish a new connection')\n" \
                  "ERROR: Could not find a version that satisfies the requirement torch==2.13.0\n"
    assert summary(offline_log, 1).startswith("the package index could not be reached (network)")
    assert summary("pip install --extra-index-url x\nERROR: No matching distribution found for torch", 1) \
        .startswith("pip found no matching build for this Blender's Python and platform")
    assert summary("Killed", -9) == "pip stopped with exit code -9"


def test_progress_cancel_and_one_install_at_a_time(addon, fake_pip, monkeypatch):
    from .test_ui import draw

    monkeypatch.setenv("FAKE_PIP_MODE", "slow")
    target = addon.dependencies.user_site_packages(create=True)
    command = addon.dependencies.install_command("CPU", target, wheels_dir=str(fake_pip / "wheels"))
    job = addon.install.start(command, str(fake_pip / "install.log"))
    deadline = time.monotonic() + 30
    while job.snapshot().done_bytes == 0:
        assert time.monotonic() < deadline and job.poll() == "RUNNING"
        time.sleep(0.05)
    assert " MB (" in job.snapshot().text() and job.snapshot().package == "torch"

    assert not bpy.ops.neurep.install_dependencies.poll()  # the button is off while pip runs
    with pytest.raises(RuntimeError, match="already running"):
        addon.install.start(command, str(fake_pip / "second.log"))
    log = draw(bpy.types.NEUREP_PT_complete, bpy.context)
    assert ("operator", "neurep.cancel_install") in log and ("operator", "neurep.install_dependencies") not in log
    assert any(kind == "progress" and text.startswith("torch: ") and "MB" in text for kind, text in log)

    assert bpy.ops.neurep.cancel_install() == {"FINISHED"}
    assert job.wait(timeout=10) == "CANCELLED"
    assert job._process.poll() is not None  # pip (and its process group) is gone
    assert bpy.ops.neurep.install_dependencies.poll()


def test_scripts_name_what_is_missing(addon, monkeypatch):
    monkeypatch.setattr(addon.dependencies, "MODULE_REQUIREMENTS",
                        {**addon.dependencies.MODULE_REQUIREMENTS, "no_such_module_x": "no-such-module-x==1.0"})
    with pytest.raises(SystemExit) as stop:
        addon.dependencies.require_for_script()
    assert stop.value.code == 2


def test_installed_site_packages_are_found_by_scripts(addon, tmp_path, monkeypatch):
    """A script run by ``blender -b -P`` imports ``neurep_addon`` directly (no extension package name), yet
    finds the Install button's folder and $NEUREP_SITE_PACKAGES."""
    target = addon.dependencies.user_site_packages(create=True)
    extra = tmp_path / "env-site-packages"
    extra.mkdir()
    monkeypatch.setenv("NEUREP_SITE_PACKAGES", str(extra))
    monkeypatch.setattr(addon.dependencies, "ADDON_PACKAGE", "")
    found = addon.dependencies.installed_site_packages()
    assert os.path.abspath(target) in found and str(extra) in found


def test_cpu_threads_leave_one_core_to_blender(addon):
    assert addon.dependencies.torch_threads(0, cpu_count=8) == 7
    assert addon.dependencies.torch_threads(0, cpu_count=1) == 1
    assert addon.dependencies.torch_threads(3, cpu_count=8) == 3


def test_a_blender_script_finds_what_the_install_button_installed(tmp_path):
    """As under ``blender -b -P scripts/complete.py``: bpy is loaded, ``neurep_addon`` is imported from the
    repository (not as the extension), and a package in the extension's install folder becomes importable."""
    import subprocess
    import textwrap

    user = tmp_path / "user"
    site = user / "extensions" / ".user" / "user_default" / "neurep" / "site-packages"
    site.mkdir(parents=True)
    (site / "neurep_probe_module.py").write_text("VALUE = 42\n")
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["BLENDER_USER_RESOURCES"] = {str(user)!r}
        import bpy
        sys.path.insert(0, {str(ROOT)!r})
        from neurep_addon.blender import dependencies
        dependencies.MODULE_REQUIREMENTS["neurep_probe_module"] = "neurep-probe==1.0"
        dependencies.require_for_script()
        import neurep_probe_module
        print("found", neurep_probe_module.VALUE)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0 and "found 42" in done.stdout, done.stdout + done.stderr


def test_complete_script_without_torch_names_what_is_missing():
    import subprocess

    script = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = ['complete.py', 'x.ply', '-o', 'y.ply'];"
              f"runpy.run_path({str(ROOT / 'scripts' / 'complete.py')!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "missing Python packages: PyTorch (modules torch)" in done.stderr
    assert "Install PyTorch" in done.stderr and "NEUREP_SITE_PACKAGES" in done.stderr and "Traceback" not in done.stderr

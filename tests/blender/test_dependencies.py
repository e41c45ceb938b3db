"""PyTorch in the extension: found where the Install button puts it, and the installer with pip faked at the
process boundary (a stand-in executable that prints pip's output): progress, cancel, one at a time, failures.
What needs no Blender is tested in tests/setup."""

from __future__ import annotations

import os
import stat
import sys
import time

import bpy
import pytest

from .conftest import ROOT, addon_module


@pytest.fixture
def dependencies(addon):
    return addon_module("setup.dependencies")


@pytest.fixture
def install(addon):
    return addon_module("setup.install")


def test_everything_the_core_needs_is_found_without_importing_it(dependencies):
    assert dependencies.missing_modules() == []


def test_install_is_refused_while_online_access_is_off_and_no_wheels_folder_is_set(addon):
    assert bpy.app.online_access is False  # the bpy module starts offline, like blender --offline-mode
    with pytest.raises(RuntimeError, match="Online access is disabled.*Wheels Folder"):
        bpy.ops.neurep.install_dependencies()


@pytest.fixture
def fake_pip(addon, dependencies, install, tmp_path, monkeypatch):
    """Point the install command's Python at a stand-in that runs tests/blender/fake_pip.py."""
    executable = tmp_path / "python"
    executable.write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests' / 'blender' / 'fake_pip.py'} \"$@\"\n")
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(dependencies, "PYTHON_EXECUTABLE", str(executable))
    monkeypatch.setenv("FAKE_PIP_ARGS", str(tmp_path / "args.txt"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    preferences = addon.prefs.preferences()
    preferences.wheels_dir = str(wheels)
    yield tmp_path
    install.stop()
    preferences.wheels_dir = ""


def test_offline_install_from_a_wheels_folder_runs_pip_and_reports(install, fake_pip, monkeypatch):
    monkeypatch.setenv("FAKE_PIP_MODE", "ok")
    assert bpy.ops.neurep.install_dependencies() == {"FINISHED"}  # background mode: waits for pip
    args = (fake_pip / "args.txt").read_text().splitlines()
    assert args[:3] == ["-m", "pip", "install"] and "--no-index" in args
    assert args[args.index("--find-links") + 1] == str(fake_pip / "wheels")
    job = install.current()
    assert job.state == "FINISHED" and job.snapshot().package == "scipy"
    log = open(job.log_path).read()
    assert "Successfully installed" in log and "Progress " not in log  # raw progress lines stay out of the log


def test_failure_is_summarised_with_the_log_path(install, fake_pip, monkeypatch):
    monkeypatch.setenv("FAKE_PIP_MODE", "fail")
    with pytest.raises(RuntimeError, match=r"Installing failed: the wheels folder lacks a matching file: "
                                           r"No matching distribution found for torch==2\.13\.0\+cpu"
                                           r".*full log: .*install\.log"):
        bpy.ops.neurep.install_dependencies(variant="CPU")
    assert install.current().state == "FAILED"


def test_progress_cancel_and_one_install_at_a_time(dependencies, install, fake_pip, monkeypatch):
    from .test_ui import draw

    monkeypatch.setenv("FAKE_PIP_MODE", "slow")
    target = dependencies.user_site_packages(create=True)
    command = dependencies.install_command("CPU", target, wheels_dir=str(fake_pip / "wheels"))
    job = install.start(command, str(fake_pip / "install.log"))
    deadline = time.monotonic() + 30
    while job.snapshot().done_bytes == 0:
        assert time.monotonic() < deadline and job.poll() == "RUNNING"
        time.sleep(0.05)
    assert " MB (" in job.snapshot().text() and job.snapshot().package == "torch"

    assert not bpy.ops.neurep.install_dependencies.poll()  # the button is off while pip runs
    with pytest.raises(RuntimeError, match="already running"):
        install.start(command, str(fake_pip / "second.log"))
    log = draw(bpy.types.NEUREP_PT_complete, bpy.context)
    assert ("operator", "neurep.cancel_install") in log and ("operator", "neurep.install_dependencies") not in log
    assert any(kind == "progress" and text.startswith("torch: ") and "MB" in text for kind, text in log)

    assert bpy.ops.neurep.cancel_install() == {"FINISHED"}
    assert job.wait(timeout=10) == "CANCELLED"
    assert job._process.poll() is not None  # pip (and its process group) is gone
    assert bpy.ops.neurep.install_dependencies.poll()


def test_installed_site_packages_are_found_by_scripts(dependencies, tmp_path, monkeypatch):
    """A script run by ``blender -b -P`` imports ``neurep_addon`` directly (no extension package name), yet
    finds the Install button's folder and $NEUREP_SITE_PACKAGES."""
    target = dependencies.user_site_packages(create=True)
    extra = tmp_path / "env-site-packages"
    extra.mkdir()
    monkeypatch.setenv("NEUREP_SITE_PACKAGES", str(extra))
    monkeypatch.setattr(dependencies, "ADDON_PACKAGE", "")
    found = dependencies.installed_site_packages()
    assert os.path.abspath(target) in found and str(extra) in found


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
        from neurep_addon.setup import dependencies
        dependencies.MODULE_REQUIREMENTS["neurep_probe_module"] = "neurep-probe==1.0"
        dependencies.require_for_script()
        import neurep_probe_module
        print("found", neurep_probe_module.VALUE)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0 and "found 42" in done.stdout, done.stdout + done.stderr

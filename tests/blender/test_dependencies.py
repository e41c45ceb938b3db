"""PyTorch status and its installer, without downloading anything."""

from __future__ import annotations

import sys

import bpy
import numpy
import pytest


def test_everything_the_core_needs_is_found_without_importing_it(addon):
    assert addon.dependencies.missing_modules() == []


def test_install_is_refused_while_online_access_is_off(addon):
    assert bpy.app.online_access is False  # the bpy module starts offline, like blender --offline-mode
    with pytest.raises(RuntimeError, match="Online access is disabled"):
        bpy.ops.neurep.install_dependencies(variant="CPU")


@pytest.mark.parametrize("variant", ["CPU", "CUDA"])
def test_install_command_pins_versions_into_the_user_directory(addon, variant):
    target = addon.dependencies.user_site_packages()
    command = addon.dependencies.install_command(variant, target)
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == target and "neurep" in target
    assert any(arg.startswith("torch==2.13.0") for arg in command)
    assert f"numpy=={numpy.__version__}" in command and "trimesh==5.2.0" in command
    assert ("torch==2.13.0+cpu" in command) == (variant == "CPU" and sys.platform != "darwin")


def test_missing_message_names_pytorch(addon):
    message = addon.dependencies.missing_message(["torch", "skimage"])
    assert message.startswith("PyTorch, scikit-image not installed") and "Install PyTorch" in message

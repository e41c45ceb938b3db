"""Add-on preferences: the default device and the state of PyTorch (with its install buttons)."""

from __future__ import annotations

import importlib.util

import bpy
from bpy.props import EnumProperty

from . import dependencies
from .package import ADDON_PACKAGE


class NEUREP_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    device: EnumProperty(
        name="Device", description="Where fits run unless the panel or operator says otherwise",
        items=[("auto", "Auto", "CUDA, then Apple MPS, then the CPU"), ("cpu", "CPU", ""),
               ("cuda", "CUDA", "An NVIDIA GPU"), ("mps", "MPS", "Apple silicon GPU")],
        default="auto")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "device")
        draw_dependency_status(layout)


def draw_dependency_status(layout) -> None:
    """PyTorch found (where), or what is missing plus the install buttons (panel and preferences)."""
    missing = dependencies.missing_modules()
    box = layout.box()
    if not missing:
        box.label(text=f"PyTorch: {importlib.util.find_spec('torch').origin.rsplit('torch', 1)[0]}", icon="CHECKMARK")
        return
    box.alert = True
    box.label(text=dependencies.missing_message(missing), icon="ERROR")
    if not bpy.app.online_access:
        box.label(text="Online access is off: allow it in Preferences > System > Network to install", icon="INFO")
    row = box.row()
    row.enabled = bpy.app.online_access
    row.operator("neurep.install_dependencies", text="Install PyTorch (CPU)").variant = "CPU"
    row.operator("neurep.install_dependencies", text="Install PyTorch (CUDA)").variant = "CUDA"


def device_preference(context) -> str:
    """The preferred device name ("auto", "cpu", ...); "auto" when the preferences are not available."""
    addon = context.preferences.addons.get(ADDON_PACKAGE) if ADDON_PACKAGE else None
    return addon.preferences.device if addon is not None else "auto"


CLASSES = (NEUREP_AddonPreferences,)

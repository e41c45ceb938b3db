"""Add-on preferences: device, CPU threads, PyTorch (detected build, install with progress, offline), and
the user's priors (removed here)."""

from __future__ import annotations

import importlib.util
import os

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from ..jobs.wording import device_items
from ..setup import dependencies, install
from ..setup.package import ADDON_PACKAGE
from . import priors
from .labels import wrapped_label


def _build_items(self, context):
    items = [(build.key, build.label, build.description) for build in dependencies.available_builds()]
    _build_items.cache = items  # Blender needs the strings of a dynamic enum kept alive
    return items


def _update_site_packages(self, context):
    dependencies.add_user_site_packages()


class NEUREP_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    device: EnumProperty(
        name="Device", description="Where fits run unless the panel or operator says otherwise",
        items=device_items(),
        default="auto")
    cpu_threads: IntProperty(
        name="CPU Threads", description="Threads PyTorch may use for a fit on the CPU; 0 = all cores but one, "
                                        "so Blender stays responsive while fitting", default=0, min=0, max=256)
    build: EnumProperty(name="PyTorch Build", items=_build_items,
                        description="Which PyTorch to install; the first one is what this machine's GPU needs")
    wheels_dir: StringProperty(
        name="Wheels Folder", subtype="DIR_PATH",
        description="Install offline from this folder of .whl files (pip --no-index --find-links); "
                    "empty = download")
    python_site_packages: StringProperty(
        name="Python Environment", subtype="DIR_PATH", update=_update_site_packages,
        description="Use the site-packages folder of an existing Python 3.11 environment that has torch, "
                    "instead of installing")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "device")
        layout.prop(self, "cpu_threads")
        draw_dependency_status(layout, context, full=True)
        draw_user_priors(layout)


def draw_user_priors(layout) -> None:
    """The priors trained with Train Prior, each with a remove button."""
    box = layout.box()
    names = priors.names()
    box.label(text="Your priors (Train Prior in the sidebar):" if names else
              "No priors of your own yet: use Train Prior in the sidebar", icon="OUTLINER_OB_LIGHTPROBE")
    for name in names:
        row = box.row()
        row.label(text=name)
        row.operator("neurep.remove_prior", text="", icon="TRASH").name = name


def preferences(context=None):
    """NeuRep's preferences, or None when the add-on is not enabled as an extension."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_PACKAGE) if ADDON_PACKAGE else None
    return addon.preferences if addon is not None else None


def draw_dependency_status(layout, context=None, full: bool = False) -> None:
    """PyTorch found (where), an install in progress, or what is missing plus how to install it.

    ``full`` (the preferences) also shows the offline routes; the sidebar shows the button only.
    """
    running = install.current()
    if running is not None and running.poll() == install.RUNNING:
        box = layout.box()
        progress = running.snapshot()
        box.label(text="Installing PyTorch…", icon="IMPORT")
        box.progress(factor=progress.fraction, type="BAR", text=progress.text())
        box.operator("neurep.cancel_install", icon="CANCEL")
        return
    missing = dependencies.missing_modules()
    box = layout.box()
    if running is not None and running.state == install.FAILED:
        box.alert = True
        wrapped_label(box, f"Install failed: {running.error}", context, icon="ERROR")
        wrapped_label(box, f"Full log: {running.log_path}", context)
    if not missing:
        box.label(text=f"PyTorch: {os.path.dirname(importlib.util.find_spec('torch').origin)}", icon="CHECKMARK")
        if not full:
            return
    else:
        box.alert = True
        wrapped_label(box, dependencies.missing_message(missing), context, icon="ERROR")
    prefs = preferences(context)
    wheels = prefs.wheels_dir if prefs is not None else ""
    gpu = dependencies.detect_gpu()
    box.label(text={"CUDA": "Detected: NVIDIA GPU", "MPS": "Detected: Apple silicon GPU"}.get(gpu, "No GPU detected"),
              icon="INFO")
    if prefs is not None:
        box.prop(prefs, "build")
    if not wheels and not bpy.app.online_access:
        wrapped_label(box, "Online access is off: allow it in Preferences > System > Network, "
                           "or install from a wheels folder", context, icon="INFO")
    row = box.row()
    row.enabled = bool(wheels) or bpy.app.online_access
    row.operator("neurep.install_dependencies", text="Reinstall PyTorch" if not missing else "Install PyTorch",
                 icon="IMPORT")
    if full and prefs is not None:
        offline = box.column()
        offline.label(text="Offline:")
        offline.prop(prefs, "wheels_dir")
        offline.prop(prefs, "python_site_packages")


def device_preference(context) -> str:
    """The preferred device name ("auto", "cpu", ...); "auto" when the preferences are not available."""
    prefs = preferences(context)
    return prefs.device if prefs is not None else "auto"


def cpu_threads(context=None) -> int:
    """Threads torch may use in a fit (the preference, 0 = all cores but one)."""
    prefs = preferences(context)
    return dependencies.torch_threads(prefs.cpu_threads if prefs is not None else 0)


CLASSES = (NEUREP_AddonPreferences,)

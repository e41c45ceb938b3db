"""Operators: gather inputs, call the core, report its errors (never a traceback to the user).

``neurep.complete`` runs blocking from scripts and in background mode (``execute``), and modal from the
UI (``invoke``): the fit runs on a worker thread, a window timer drains its queue, Esc cancels.
"""

from __future__ import annotations

import os
import subprocess

import bpy
from bpy.props import EnumProperty

from ..core.errors import NeuRepError
from . import dependencies, fitting, prefs
from .package import ADDON_PACKAGE, user_message
from .job import CANCELLED, FINISHED, RUNNING
from .props import FitSettings

TIMER_SECONDS = 0.1


class NEUREP_OT_complete(FitSettings, bpy.types.Operator):
    """Complete the selected scan into a closed mesh: a new object, the scan itself is not changed"""

    bl_idname = "neurep.complete"
    bl_label = "Complete Scan"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    @classmethod
    def poll(cls, context):
        if context.mode != "OBJECT":
            cls.poll_message_set("Switch to Object Mode first")
            return False
        if fitting.active_completion() is not None:
            cls.poll_message_set("A completion is already running (Esc or Cancel stops it)")
            return False
        return True

    def execute(self, context):
        request = self._request(context)
        if request is None:
            return {"CANCELLED"}
        window_manager = context.window_manager
        window_manager.progress_begin(0, max(request.config.steps, 1))
        try:
            completion = fitting.run_blocking(request, lambda info: window_manager.progress_update(info.step))
        except NeuRepError as exc:
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        finally:
            window_manager.progress_end()
        result = fitting.place_result(request, completion, context.view_layer)
        summary = fitting.result_summary(result, completion)
        fitting.record_result(window_manager, summary)
        self._report_summary(summary)
        return {"FINISHED"}

    def invoke(self, context, event):
        self.take_unset_settings_from(context.scene.neurep_settings)
        request = self._request(context)
        if request is None:
            return {"CANCELLED"}
        self._live = fitting.LiveCompletion(request).start()
        window_manager = context.window_manager
        window_manager.neurep_job.progress = 0.0
        window_manager.neurep_job.status = "NeuRep: starting the fit"
        self._timer = window_manager.event_timer_add(TIMER_SECONDS, window=context.window)
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._live.cancel()
            context.window_manager.neurep_job.status = "NeuRep: cancelling"
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = self._live.tick(context.window_manager, context.view_layer)
        _show_status(context, context.window_manager.neurep_job.status if state == RUNNING else None)
        if state == RUNNING:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        if state == FINISHED:
            self._report_summary(self._live.summary)
            return {"FINISHED"}
        self.report({"INFO"} if state == CANCELLED else {"ERROR"},
                    f"NeuRep: {self._live.error}; the scene is unchanged")
        return {"CANCELLED"}

    def cancel(self, context):
        """Blender ends the modal operator (file load, window closed): stop the worker, remove the preview."""
        fitting.stop_running_fit()
        context.window_manager.event_timer_remove(self._timer)
        _show_status(context, None)

    def _request(self, context) -> fitting.FitRequest | None:
        device = prefs.device_preference(context) if self.device == "PREFERENCES" else self.device
        try:
            return fitting.prepare_request(context.selected_objects, context.active_object, context.scene,
                                           context.evaluated_depsgraph_get(), self, device)
        except NeuRepError as exc:
            self.report({"ERROR"}, user_message(exc))
            return None

    def _report_summary(self, summary: dict) -> None:
        closed = "closed" if summary["watertight"] else "NOT closed"
        self.report({"INFO"}, f"NeuRep: '{summary['object']}' with {summary['vertices']:,} vertices, "
                              f"{summary['faces']:,} faces, {closed}, {sum(summary['seconds'].values()):.1f} s")
        for note in summary["notes"]:
            self.report({"INFO"}, f"NeuRep: {note}")


class NEUREP_OT_cancel(bpy.types.Operator):
    """Stop the running completion; the scene is left as it was"""

    bl_idname = "neurep.cancel"
    bl_label = "Cancel Completion"

    @classmethod
    def poll(cls, context):
        return fitting.active_completion() is not None

    def execute(self, context):
        fitting.active_completion().cancel()
        context.window_manager.neurep_job.status = "NeuRep: cancelling"
        return {"FINISHED"}


class NEUREP_OT_install_dependencies(bpy.types.Operator):
    """Download PyTorch and NeuRep's other dependencies (pinned versions) into the extension's user folder"""

    bl_idname = "neurep.install_dependencies"
    bl_label = "Install PyTorch"

    variant: EnumProperty(name="Build", items=[("CPU", "CPU", "Works everywhere"),
                                               ("CUDA", "CUDA", "NVIDIA GPUs (a larger download)")])

    def execute(self, context):
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Online access is disabled (Preferences > System > Network); allow it, "
                                   "or install torch into Blender's Python yourself")
            return {"CANCELLED"}
        target = dependencies.user_site_packages(create=True)
        if target is None:
            self.report({"ERROR"}, "PyTorch can only be installed for NeuRep installed as an extension")
            return {"CANCELLED"}
        self._log_path = bpy.utils.extension_path_user(ADDON_PACKAGE, path="install.log")
        with open(self._log_path, "w") as log:
            self._process = subprocess.Popen(dependencies.install_command(self.variant, target), stdout=log,
                                             stderr=subprocess.STDOUT, env={**os.environ, "PYTHONNOUSERSITE": "1"})
        if bpy.app.background or context.window is None:
            return self._finish(self._process.wait())
        self.report({"INFO"}, f"Installing PyTorch ({self.variant}); this takes a few minutes")
        self._timer = context.window_manager.event_timer_add(1.0, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER" or self._process.poll() is None:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        _tag_redraw(context)
        return self._finish(self._process.returncode)

    def _finish(self, returncode: int):
        missing = dependencies.missing_modules()
        if returncode == 0 and not missing:
            self.report({"INFO"}, "PyTorch and NeuRep's dependencies are installed")
            return {"FINISHED"}
        with open(self._log_path) as log:
            last_line = (log.read().strip().splitlines() or ["(no output)"])[-1]
        self.report({"ERROR"}, f"Installing failed (pip exit code {returncode}): {last_line} "
                               f"(full log: {self._log_path})")
        return {"CANCELLED"}


def _show_status(context, text: str | None) -> None:
    if context.workspace is not None:
        context.workspace.status_text_set(text)
    _tag_redraw(context)


def _tag_redraw(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "PREFERENCES"}:
                area.tag_redraw()


CLASSES = (NEUREP_OT_complete, NEUREP_OT_cancel, NEUREP_OT_install_dependencies)

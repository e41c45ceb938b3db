"""Operators: gather inputs, call the core, report its errors (never a traceback to the user).

``neurep.complete`` and ``neurep.complete_files`` take the panel's settings saved in the .blend for every
setting the caller does not give (``bpy.ops.neurep.complete()`` in ``blender -b file.blend`` fits as the
panel says). They run blocking from scripts and in background mode, and modal from the UI: the fits run one
after another in a worker process, a window timer reads what it sends, Esc cancels. Neither offers the redo panel (F9): a redo would re-run the fits blocking, without Esc.
``neurep.install_dependencies`` runs pip in a background process polled by a timer; ``neurep.train_prior``
likewise runs a training in the worker process (``priors``), blocking from scripts and in background mode.
"""

from __future__ import annotations

import os

import bpy
from bpy.props import CollectionProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..core.errors import InputError, NeuRepError
from ..jobs import training, wording
from ..jobs.job import CANCELLED, FINISHED, RUNNING, TrainJob
from ..jobs.wording import user_message
from ..setup import dependencies, install
from ..setup.package import ADDON_PACKAGE
from . import hole_list, prefs, priors, scene_io
from .props import FitSettings
from .requests import files_requests, prepare_requests
from .run import CompletionRun, active_completion, record_result, run_all_blocking, stop_running_fit

TIMER_SECONDS = 0.1
INSTALL_POLL_SECONDS = 0.25


class ModalRun:
    """Mixin: run a list of fit requests, modal with Esc and progress from the UI, blocking otherwise."""

    def run(self, context, requests: list, interactive: bool):
        if not interactive:
            return self._run_blocking(context, requests)
        self._live = CompletionRun(requests).start()
        window_manager = context.window_manager
        window_manager.neurep_job.progress = 0.0
        window_manager.neurep_job.status = "NeuRep: starting the fit"
        self._timer = window_manager.event_timer_add(TIMER_SECONDS, window=context.window)
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _run_blocking(self, context, requests: list):
        window_manager = context.window_manager
        window_manager.progress_begin(0.0, 1.0)
        try:
            summaries, failures = run_all_blocking(
                requests, lambda fraction, text: window_manager.progress_update(fraction), context.view_layer)
        finally:
            window_manager.progress_end()
        for failure in failures:
            self.report({"WARNING"} if summaries else {"ERROR"}, f"NeuRep: {failure}")
        if not summaries:
            return {"CANCELLED"}
        record_result(window_manager, summaries, failures)
        self._report_summaries(summaries)
        return {"FINISHED"}

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
        for failure in self._live.failures:
            self.report({"WARNING"} if state == FINISHED else {"ERROR"}, f"NeuRep: {failure}")
        if state == FINISHED:
            self._report_summaries(self._live.summaries)
            return {"FINISHED"}
        if state == CANCELLED:
            self.report({"INFO"}, "NeuRep: cancelled; the scene is unchanged")
        return {"CANCELLED"}

    def cancel(self, context):
        """Blender ends the modal operator (file load, window closed): stop the worker, remove the preview."""
        stop_running_fit()
        context.window_manager.event_timer_remove(self._timer)
        _show_status(context, None)

    def _report_summaries(self, summaries: list[dict]) -> None:
        """Each result's side notes and warnings, then its summary line: the status bar shows the last
        report, so it ends on what was made rather than on a note."""
        for summary in summaries:
            name = summary["object"] or summary.get("output")
            for remark in wording.remarks(summary):
                self.report({"INFO"}, f"NeuRep: {remark}")
            for warning in summary.get("warnings", ()):
                self.report({"WARNING"}, f"NeuRep: {warning}")
            self.report({"INFO"}, f"NeuRep: '{name}': {wording.result_line(summary)}")


def _interactive(operator, context) -> bool:
    return operator.options.is_invoke and not bpy.app.background and context.window is not None


def _took_settings(operator, context) -> bool:
    """The panel's settings (saved in the .blend) for what the caller did not give, from the UI, a script or
    background mode alike; False (reported) when one is unusable."""
    try:
        operator.take_unset_settings_from(context.scene.neurep_settings)
    except NeuRepError as exc:
        operator.report({"ERROR"}, user_message(exc))
        return False
    return True


def _run_poll(cls, context) -> bool:
    if active_completion() is not None:
        cls.poll_message_set("A completion is already running (Esc or Cancel stops it)")
        return False
    return True


class NEUREP_OT_complete(ModalRun, FitSettings, bpy.types.Operator):
    """Complete each selected scan into a closed mesh, or (Fill Holes) close a mesh's holes only: new
    objects, the scans themselves are not changed"""

    bl_idname = "neurep.complete"
    bl_label = "Complete Scan"
    bl_options = {"UNDO"}  # one undo step for the whole run; no redo panel (it could only re-run blocking)

    @classmethod
    def poll(cls, context):
        """Off, with the reason as its tooltip, when it could not start: Edit Mode, a run in progress,
        PyTorch missing, or no mesh or point cloud selected (the run itself checks the rest)."""
        if context.mode != "OBJECT":
            cls.poll_message_set("Switch to Object Mode first")
            return False
        if not _run_poll(cls, context):
            return False
        missing = dependencies.missing_modules()
        if missing:  # "PyTorch not installed; install with ..."
            cls.poll_message_set(dependencies.missing_message(missing))
            return False
        try:
            scene_io.usable_objects(context.selected_objects)
        except InputError as exc:
            cls.poll_message_set(str(exc)[0].upper() + str(exc)[1:])
            return False
        return True

    def invoke(self, context, event):
        return self.execute(context)

    def execute(self, context):
        if not _took_settings(self, context):
            return {"CANCELLED"}
        device = prefs.device_preference(context) if self.device == "PREFERENCES" else self.device
        try:
            requests = prepare_requests(context.selected_objects, context.active_object, context.scene,
                                        context.evaluated_depsgraph_get(), self, device,
                                        threads=prefs.cpu_threads(context))
        except NeuRepError as exc:
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        return self.run(context, requests, _interactive(self, context))


class NEUREP_OT_complete_files(ModalRun, FitSettings, bpy.types.Operator, ImportHelper):
    """Complete scan files (PLY, OBJ, OFF, STL, XYZ, NPY) one after another into an output folder, as the
    command line does; the scene is not changed"""

    bl_idname = "neurep.complete_files"
    bl_label = "Complete Files…"
    bl_options = set()

    filter_glob: StringProperty(default="*.ply;*.obj;*.off;*.stl;*.xyz;*.npy", options={"HIDDEN"})
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"})
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})
    output_directory: StringProperty(
        name="Output Folder", subtype="DIR_PATH",
        description="Where each result goes as <name>_completed.ply (empty: next to the inputs)")

    @classmethod
    def poll(cls, context):
        return _run_poll(cls, context)

    def invoke(self, context, event):
        if not _took_settings(self, context):
            return {"CANCELLED"}
        return ImportHelper.invoke(self, context, event)

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "output_directory")
        for name in ("preset", "prior", "steps", "resolution", "device", "seed"):
            layout.prop(self, name)

    def execute(self, context):
        if not _took_settings(self, context):
            return {"CANCELLED"}
        paths = [os.path.join(self.directory, f.name) for f in self.files if f.name] or \
            ([self.filepath] if self.filepath and os.path.isfile(self.filepath) else [])
        output = bpy.path.abspath(self.output_directory) if self.output_directory else \
            (os.path.dirname(paths[0]) if paths else "")
        device = prefs.device_preference(context) if self.device == "PREFERENCES" else self.device
        try:
            missing = dependencies.missing_modules()
            if missing:
                raise InputError(dependencies.missing_message(missing))
            config, prior = self.fit_settings()
            requests = files_requests(paths, output, config, prior, device, self.seed,
                                      threads=prefs.cpu_threads(context))
        except NeuRepError as exc:
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        return self.run(context, requests, _interactive(self, context))


class NEUREP_OT_cancel(bpy.types.Operator):
    """Stop the running completion; the scene is left as it was"""

    bl_idname = "neurep.cancel"
    bl_label = "Cancel Completion"

    @classmethod
    def poll(cls, context):
        return active_completion() is not None

    def execute(self, context):
        active_completion().cancel()
        context.window_manager.neurep_job.status = "NeuRep: cancelling"
        return {"FINISHED"}


class NEUREP_OT_list_holes(bpy.types.Operator):
    """Find the holes of the selected meshes (their edges, read once) and list them in the panel with what
    Fill Holes will do with each"""

    bl_idname = "neurep.list_holes"
    bl_label = "List Holes"

    def execute(self, context):
        settings, depsgraph = context.scene.neurep_settings, context.evaluated_depsgraph_get()
        for ob in context.selected_objects:
            hole_list.holes_of(ob, depsgraph, settings)
        _tag_redraw(context)
        return {"FINISHED"}


class NEUREP_OT_install_dependencies(bpy.types.Operator):
    """Install PyTorch and NeuRep's other dependencies (pinned versions) into the extension's user folder,
    in the background; from the Wheels Folder preference when set (offline)"""

    bl_idname = "neurep.install_dependencies"
    bl_label = "Install PyTorch"

    variant: EnumProperty(name="Build", description="Which PyTorch build (default: the preferences' choice)",
                          items=[("PREFERENCES", "From Preferences", ""), ("CUDA", "CUDA", "NVIDIA GPUs"),
                                 ("CPU", "CPU", "Works everywhere"), ("MPS", "Apple Silicon", "macOS arm64")],
                          default="PREFERENCES")

    @classmethod
    def poll(cls, context):
        if install.is_running():
            cls.poll_message_set("An install is already running (Cancel stops it)")
            return False
        return True

    def execute(self, context):
        preferences = prefs.preferences(context)
        wheels = bpy.path.abspath(preferences.wheels_dir) if preferences is not None and preferences.wheels_dir else ""
        if wheels and not os.path.isdir(wheels):
            self.report({"ERROR"}, f"The wheels folder {wheels} does not exist")
            return {"CANCELLED"}
        if not wheels and not bpy.app.online_access:
            self.report({"ERROR"}, "Online access is disabled (Preferences > System > Network); allow it, "
                                   "or set a Wheels Folder in NeuRep's preferences to install offline")
            return {"CANCELLED"}
        target = dependencies.user_site_packages(create=True)
        if target is None:
            self.report({"ERROR"}, "PyTorch can only be installed for NeuRep installed as an extension")
            return {"CANCELLED"}
        variant = self.variant
        if variant == "PREFERENCES":
            variant = preferences.build if preferences is not None else dependencies.available_builds()[0].key
        log_path = bpy.utils.extension_path_user(ADDON_PACKAGE, path="install.log")
        try:
            job = install.start(dependencies.install_command(variant, target, wheels_dir=wheels), log_path)
        except (RuntimeError, OSError) as exc:
            self.report({"ERROR"}, f"Cannot start pip: {exc}")
            return {"CANCELLED"}
        if bpy.app.background or context.window is None:
            job.wait()
            return self._report_outcome(job)
        self.report({"INFO"}, f"Installing PyTorch ({dependencies.BUILDS[variant].label}) in the background")
        bpy.app.timers.register(_poll_install, first_interval=INSTALL_POLL_SECONDS, persistent=True)
        return {"FINISHED"}

    def _report_outcome(self, job):
        kind, message = install_outcome(job)
        self.report({kind}, message)
        return {"FINISHED"} if kind == "INFO" else {"CANCELLED"}


def install_outcome(job) -> tuple[str, str]:
    """("INFO" or "ERROR", the sentence to show) for an ended install."""
    if job.state == install.CANCELLED:
        return "ERROR", "Install cancelled; nothing is used from the partial download"
    missing = dependencies.missing_modules()
    if job.state == install.FINISHED and not missing:
        return "INFO", "PyTorch and NeuRep's dependencies are installed"
    reason = job.error or f"pip ended but {dependencies.missing_message(missing)}"
    return "ERROR", f"Installing failed: {reason} (full log: {job.log_path})"


def _poll_install():
    """Timer: redraw the progress while pip runs; say how it ended."""
    job = install.current()
    _tag_redraw(bpy.context)
    if job is None or job.poll() == install.RUNNING:
        return INSTALL_POLL_SECONDS
    kind, message = install_outcome(job)
    print(f"NeuRep: {message}")
    return None


class NEUREP_OT_cancel_install(bpy.types.Operator):
    """Stop the running PyTorch install"""

    bl_idname = "neurep.cancel_install"
    bl_label = "Cancel Install"

    @classmethod
    def poll(cls, context):
        return install.is_running()

    def execute(self, context):
        install.current().cancel()
        return {"FINISHED"}


def _show_status(context, text: str | None) -> None:
    if context.workspace is not None:
        context.workspace.status_text_set(text)
    _tag_redraw(context)


def _tag_redraw(context) -> None:
    window_manager = getattr(context, "window_manager", None)
    for window in window_manager.windows if window_manager is not None else ():
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "PREFERENCES"}:
                area.tag_redraw()


class NEUREP_OT_train_prior(bpy.types.Operator):
    """Train a prior from the complete models of a collection (the panel's, or the active one), in the
    background; it then appears in the Prior menu"""

    bl_idname = "neurep.train_prior"
    bl_label = "Train Prior"

    @classmethod
    def poll(cls, context):
        if priors.active_training() is not None:
            cls.poll_message_set("A training is already running (Cancel stops it)")
            return False
        if priors.folder() is None:
            cls.poll_message_set("Priors can only be trained for NeuRep installed as an extension")
            return False
        return True

    def execute(self, context):
        settings = context.scene.neurep_training
        collection = settings.chosen_collection(context)
        try:
            missing = dependencies.missing_modules()
            if missing:
                raise InputError(dependencies.missing_message(missing))
            if collection is None:
                raise InputError("no collection is chosen; pick the collection of complete models")
            name = training.check_prior_name(settings.chosen_name(context))
            if training.prior_path(priors.folder(), name).exists():
                raise InputError(f"a prior called '{name}' exists; remove it in NeuRep's preferences, or give "
                                 "another name")
            meshes = priors.meshes_of(collection, context.evaluated_depsgraph_get())
        except NeuRepError as exc:
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        job = TrainJob(meshes, priors.folder(create=True), name, settings.minutes,
                       device=prefs.device_preference(context), threads=prefs.cpu_threads(context))
        live = priors.TrainingRun(job).start()
        state = context.window_manager.neurep_training_job
        state.progress, state.status = 0.0, f"Training '{name}': reading {len(meshes)} models"
        if bpy.app.background or context.window is None:
            job.wait()
            return self._report(live.tick(state), state.status)
        self.report({"INFO"}, f"NeuRep: training '{name}' from {len(meshes)} models for "
                              f"{settings.minutes:g} min in the background")
        bpy.app.timers.register(_poll_training, first_interval=TIMER_SECONDS * 5, persistent=True)
        return {"FINISHED"}

    def _report(self, state: str, status: str):
        self.report({"INFO"} if state == FINISHED else {"ERROR"}, f"NeuRep: {status}")
        return {"FINISHED"} if state == FINISHED else {"CANCELLED"}


def _poll_training():
    """Timer: read the training's progress and redraw; say how it ended."""
    live = priors.active_training()
    if live is None:
        return None
    state = bpy.context.window_manager.neurep_training_job
    ended = live.tick(state) != RUNNING
    _tag_redraw(bpy.context)
    if ended:
        print(f"NeuRep: {state.status}")
        return None
    return TIMER_SECONDS * 5


class NEUREP_OT_cancel_training(bpy.types.Operator):
    """Stop the running training; no prior is saved"""

    bl_idname = "neurep.cancel_training"
    bl_label = "Cancel Training"

    @classmethod
    def poll(cls, context):
        return priors.active_training() is not None

    def execute(self, context):
        priors.active_training().cancel()
        context.window_manager.neurep_training_job.status = "Cancelling the training"
        return {"FINISHED"}


class NEUREP_OT_remove_prior(bpy.types.Operator):
    """Delete this prior from NeuRep's user folder; it leaves the Prior menu"""

    bl_idname = "neurep.remove_prior"
    bl_label = "Remove Prior"

    name: StringProperty(name="Name", description="The prior to remove", options={"SKIP_SAVE"})

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context):
        try:
            path = training.remove_prior(priors.folder() or "", self.name)
        except NeuRepError as exc:
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"NeuRep: removed the prior '{self.name}' ({path})")
        _tag_redraw(context)
        return {"FINISHED"}


CLASSES = (NEUREP_OT_complete, NEUREP_OT_complete_files, NEUREP_OT_cancel, NEUREP_OT_list_holes,
           NEUREP_OT_install_dependencies,
           NEUREP_OT_cancel_install, NEUREP_OT_train_prior, NEUREP_OT_cancel_training, NEUREP_OT_remove_prior)

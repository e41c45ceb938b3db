"""The modal path's logic without an event loop (timers never fire headless): a FitJob in its worker
process, read by ``CompletionRun.tick()`` exactly as the operator's timer does."""

from __future__ import annotations

import time

import bpy
import pytest

from .conftest import addon_module, holed_sphere, scene_state, select_only


@pytest.fixture
def job_module(addon):
    """The extension's ``jobs.job``: the client of the fit's worker process."""
    return addon_module("jobs.job")


def make_request(addon, scan, steps=12, preview_every=3):
    settings = bpy.context.scene.neurep_settings
    settings.preset, settings.prior, settings.steps, settings.resolution = "fast", "DEFAULT", steps, 32
    requests = addon.requests.prepare_requests([scan], scan, bpy.context.scene,
                                               bpy.context.evaluated_depsgraph_get(), settings, "cpu")
    for request in requests:
        request.config = request.config.replace(preview_every=preview_every, preview_resolution=16)
    return requests


def run_ticks(live, on_tick=None, timeout=120.0) -> str:
    window_manager = bpy.context.window_manager
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = live.tick(window_manager, bpy.context.view_layer)
        if on_tick is not None:
            on_tick(state)
        if state != "RUNNING":
            return state
        time.sleep(0.05)
    raise AssertionError("the fit did not end in time")


def test_previews_then_result_then_no_preview(addon, scene):
    scan = holed_sphere()
    select_only(scan)
    live = addon.run.CompletionRun(make_request(addon, scan)).start()
    assert addon.run.active_completion() is live
    seen = {"preview_faces": 0, "progress": 0.0}

    def watch(state):
        preview = bpy.data.objects.get("Scan_preview")
        if preview is not None:
            seen["preview_faces"] = max(seen["preview_faces"], len(preview.data.polygons))
            assert preview.get(addon.scene_io.PREVIEW_TAG)
        seen["progress"] = max(seen["progress"], bpy.context.window_manager.neurep_job.progress)

    assert run_ticks(live, watch) == "FINISHED"
    assert seen["preview_faces"] > 0 and seen["progress"] == 1.0
    assert "Scan_preview" not in bpy.data.objects and "Scan_preview" not in bpy.data.meshes
    assert "Scan_completed" in bpy.data.objects and live.summary["object"] == "Scan_completed"
    assert addon.run.active_completion() is None and live.job.wait(timeout=1.0)


def test_cancel_leaves_the_scene_exactly_as_before(addon, scene):
    scan = holed_sphere()
    select_only(scan)
    before = scene_state()
    live = addon.run.CompletionRun(make_request(addon, scan, steps=2000, preview_every=2)).start()
    while bpy.data.objects.get("Scan_preview") is None:  # wait until a preview exists, then cancel
        assert live.tick(bpy.context.window_manager) == "RUNNING"
        time.sleep(0.05)
    live.cancel()
    assert run_ticks(live) == "CANCELLED"
    assert live.error.startswith("cancelled")  # after a step, or during a preview extraction
    assert scene_state() == before


def test_the_fit_runs_in_a_process_of_its_own_and_no_thread_joins_blender(addon, job_module, scene):
    """Blender's operators release the GIL, so a fit thread's Python ran inside them (undo crashed): while a
    fit runs, Blender's process has no thread it did not have before, and the fit's process does the work."""
    import os
    import threading

    scan = holed_sphere()
    select_only(scan)
    threads = {thread.ident for thread in threading.enumerate()}
    live = addon.run.CompletionRun(make_request(addon, scan)).start()
    process = live.job._process
    seen = []
    assert run_ticks(live, lambda state: seen.append({t.ident for t in threading.enumerate()} - threads)) == "FINISHED"
    assert seen and not any(seen)
    assert process.pid != os.getpid() and process.poll() is None  # kept for the next fit
    job_module.end_idle_worker()
    assert process.wait(timeout=10) == 0
    assert "Scan_completed" in bpy.data.objects


def test_the_worker_process_serves_the_next_fit_with_torch_already_loaded(addon, job_module, scene, monkeypatch):
    """A process that answered is kept for the next job (a new one takes 2 s to load torch); one started with
    another ``sys.path`` (PyTorch installed since) is not used; disabling the add-on ends it."""
    import sys

    scan = holed_sphere()
    select_only(scan)
    first = addon.run.CompletionRun(make_request(addon, scan)).start()
    assert run_ticks(first) == "FINISHED"
    live = addon.run.CompletionRun(make_request(addon, scan)).start()
    assert live.job._process is first.job._process and run_ticks(live) == "FINISHED"
    assert "Scan_completed.001" in bpy.data.objects
    kept = live.job._process
    monkeypatch.setattr(sys, "path", [*sys.path, "/a/folder/added/since"])
    live = addon.run.CompletionRun(make_request(addon, scan)).start()
    assert live.job._process is not kept and kept.wait(timeout=10) is not None
    assert run_ticks(live) == "FINISHED"
    last = job_module._idle[0]
    job_module.end_idle_worker()
    assert last.wait(timeout=10) is not None and job_module._idle is None


def test_a_fit_process_that_dies_fails_the_run_and_leaves_the_scene(addon, job_module, scene):
    """Killed (out of memory, a crash in a library): the run fails with a clear message, nothing is added,
    and the preview is gone."""
    scan = holed_sphere()
    select_only(scan)
    before = scene_state()
    live = addon.run.CompletionRun(make_request(addon, scan, steps=2000, preview_every=2)).start()
    while bpy.data.objects.get("Scan_preview") is None:
        assert live.tick(bpy.context.window_manager) == "RUNNING"
        time.sleep(0.05)
    killed = live.job._process
    live.job.kill()
    assert run_ticks(live) == "FAILED"
    assert "the fit's process ended unexpectedly" in live.error
    assert scene_state() == before and "Scan_preview" not in bpy.data.objects
    assert job_module._idle is None or job_module._idle[0] is not killed  # a dead process is not kept


def test_failure_in_the_worker_is_reported_and_leaves_the_scene(addon, scene):
    scan = holed_sphere()
    select_only(scan)
    before = scene_state()
    requests = make_request(addon, scan)
    requests[0].device = "no-such-device"
    live = addon.run.CompletionRun(requests).start()
    assert run_ticks(live) == "FAILED"
    assert "Device 'no-such-device' is unknown" in live.error
    assert scene_state() == before


def test_loading_a_file_stops_the_worker(addon, scene):
    scan = holed_sphere()
    select_only(scan)
    live = addon.run.CompletionRun(make_request(addon, scan, steps=5000)).start()
    time.sleep(0.5)
    bpy.ops.wm.read_homefile(use_empty=True)  # runs the load_pre handlers, like opening a file
    assert live.job.wait(timeout=1.0), "the worker is still running after the file load"
    assert addon.run.active_completion() is None and live.job.wait(timeout=1.0)
    assert "Scan_preview" not in bpy.data.objects


def test_disabling_the_add_on_stops_the_worker(addon, scene):
    import addon_utils

    from .conftest import PACKAGE

    scan = holed_sphere()
    select_only(scan)
    live = addon.run.CompletionRun(make_request(addon, scan, steps=5000)).start()
    time.sleep(0.5)
    addon_utils.disable(PACKAGE, default_set=True)
    try:
        assert live.job.wait(timeout=1.0)
        assert not any(addon.scene_io.PREVIEW_TAG in ob for ob in bpy.data.objects)
    finally:
        addon_utils.enable(PACKAGE, default_set=True)


def wait_for_preview(live, name="Scan_preview"):
    while bpy.data.objects.get(name) is None:
        assert live.tick(bpy.context.window_manager) == "RUNNING"
        time.sleep(0.05)


def test_an_error_after_previews_removes_the_preview(addon, job_module, scene):
    """The fit fails after it has shown previews (here: the step after the fit raises)."""
    scan = holed_sphere()
    select_only(scan)
    before = scene_state()
    request = make_request(addon, scan, steps=40, preview_every=2)[0]
    core_errors = __import__(addon.__name__.replace(".blender", ".core.errors"), fromlist=["OutputError"])

    def failing_job():
        def fail(_completion):
            raise core_errors.OutputError("the disk is full")
        return job_module.FitJob(request.observation, request.config, request.prior, "cpu", 0, after=fail)

    request.new_job = failing_job
    live = addon.run.CompletionRun([request]).start()
    wait_for_preview(live)
    assert run_ticks(live) == "FAILED" and "the disk is full" in live.error
    assert scene_state() == before and not any(addon.scene_io.PREVIEW_TAG in ob for ob in bpy.data.objects)


def test_undo_never_brings_a_preview_back(addon, scene):
    """Preview shown, then an edit (its undo step holds the preview), then the finished fit, then undo."""
    scan = holed_sphere()
    select_only(scan)
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window):
        bpy.ops.ed.undo_push(message="before")
        live = addon.run.CompletionRun(make_request(addon, scan, steps=40, preview_every=2)).start()
        wait_for_preview(live)
        scan.location.x += 0.5
        bpy.ops.ed.undo_push(message="an edit while fitting")  # this step holds Scan_preview
        assert run_ticks(live) == "FINISHED"
        bpy.ops.ed.undo_push(message="Complete Scan")
        assert "Scan_completed" in bpy.data.objects and "Scan_preview" not in bpy.data.objects
        bpy.ops.ed.undo()
        assert "Scan_completed" not in bpy.data.objects
        assert "Scan_preview" not in bpy.data.objects and "Scan_preview" not in bpy.data.meshes
        bpy.ops.ed.redo()
        assert "Scan_completed" in bpy.data.objects and "Scan_preview" not in bpy.data.objects


def test_a_saved_preview_is_removed_when_the_file_is_opened(addon, scene, tmp_path):
    addon.scene_io.show_preview("Scan_preview", scene.collection, *_tetrahedron())
    path = tmp_path / "with_preview.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert "Scan_preview" not in bpy.data.objects


def _tetrahedron():
    import numpy as np

    return (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64),
            np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]))


def test_a_users_object_named_like_the_preview_is_left_alone_and_previews_do_not_pile_up(addon, scene):
    scan = holed_sphere()
    mine = bpy.data.objects.new("Scan_preview", bpy.data.meshes.new("Scan_preview"))
    scene.collection.objects.link(mine)
    mine.location = (5.0, 6.0, 7.0)
    select_only(scan)
    live = addon.run.CompletionRun(make_request(addon, scan, steps=16, preview_every=2)).start()
    seen = {"previews": set(), "most": 0, "updates": 0}

    def watch(state):
        previews = [ob for ob in bpy.data.objects if addon.scene_io.PREVIEW_TAG in ob]
        seen["most"] = max(seen["most"], len(previews))
        seen["previews"].update(ob.name for ob in previews)
        seen["updates"] += bool(previews)

    assert run_ticks(live, watch) == "FINISHED"
    assert seen["updates"] >= 2 and seen["most"] == 1 and seen["previews"] == {"Scan_preview.001"}
    assert sorted(bpy.data.objects.keys()) == ["Scan", "Scan_completed", "Scan_preview"]
    assert bpy.data.objects["Scan_preview"] == mine and tuple(mine.location) == (5.0, 6.0, 7.0)
    assert addon.scene_io.PREVIEW_TAG not in mine and "Scan_preview" in bpy.data.meshes


def test_a_preview_left_in_the_file_is_reused_not_duplicated(addon, scene):
    import numpy as np

    triangle = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.array([[0, 1, 2]])
    addon.scene_io.show_preview("Scan_preview", scene.collection, *triangle)
    addon.scene_io.show_preview("Scan_preview", scene.collection, *triangle)
    assert [ob.name for ob in bpy.data.objects] == ["Scan_preview"]
    addon.scene_io.remove_preview("Scan_preview")
    assert not bpy.data.objects and "Scan_preview" not in bpy.data.meshes

"""pip's output read into progress, and its failures summarised in plain words."""

from __future__ import annotations

from neurep_addon.setup import install


def test_progress_is_parsed_from_both_kinds_of_pip_output():
    progress = install.InstallProgress()
    progress.feed("  Downloading https://x/torch-2.13.0%2Bcpu-cp311-cp311-linux_x86_64.whl (190.4 MB)")
    progress.feed("Progress 95200000 of 190400000")
    assert progress.package == "torch" and progress.text() == "torch: 95.2 of 190.4 MB (50%)"
    progress.feed("Downloading scipy-1.17.1-cp311-cp311-manylinux.whl (35.2 MB)")
    progress.feed("   17.6/35.2 MB 10.0 MB/s eta 0:00:02")
    assert progress.package == "scipy" and abs(progress.fraction - 0.5) < 1e-6


def test_failure_summaries_in_plain_words():
    summary = install.failure_summary
    offline_log = "WARNING: Retrying ... NewConnectionError('Failed to establish a new connection')\n" \
                  "ERROR: Could not find a version that satisfies the requirement torch==2.13.0\n"
    assert summary(offline_log, 1).startswith("the package index could not be reached (network)")
    assert summary("pip install --extra-index-url x\nERROR: No matching distribution found for torch", 1) \
        .startswith("pip found no matching build for this Blender's Python and platform")
    assert summary("Killed", -9) == "pip stopped with exit code -9"

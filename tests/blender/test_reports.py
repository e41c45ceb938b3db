"""What a fit tells the user in Blender's reports: the status bar shows the last one."""

from __future__ import annotations

import re

import bpy

from .conftest import TINY_FIT, holed_sphere, select_only


def neurep_reports(text: str) -> list[str]:
    return [line for line in text.splitlines() if "NeuRep:" in line]


def test_a_fit_reports_its_side_notes_first_and_ends_on_the_summary(scene, capfd):
    select_only(holed_sphere())
    capfd.readouterr()
    assert bpy.ops.neurep.complete(**TINY_FIT, symmetry="Z") == {"FINISHED"}
    reports = neurep_reports(capfd.readouterr().out)
    assert len(reports) >= 2  # the summary and at least one note (a mirror plane was asked for)
    assert "'Scan_completed':" in reports[-1]
    assert all("'Scan_completed':" not in line for line in reports[:-1])

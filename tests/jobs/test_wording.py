"""``jobs.wording``: the one wording of a result, on the figures the engine and the front ends produce."""

import numpy as np
import pytest
import trimesh

from neurep_addon.core.config import FitConfig
from neurep_addon.core.errors import ConfigError
from neurep_addon.core.observation import Observation
from neurep_addon.core.fit_settings import settings
from neurep_addon.core.completion import complete
from neurep_addon.core.fill import fill_holes
from neurep_addon.jobs import wording

FIGURES = {"points": 5000, "normals": "given", "steps": 80, "device": "cpu", "final_loss": 0.5,
           "seconds": {"prepare": 0.25, "fit": 10.0, "extract": 1.0}, "vertices": 1000, "faces": 1996,
           "components": 1, "watertight": True, "symmetry": None}


def test_a_completion_in_one_line():
    assert wording.result_line(FIGURES) == ("5,000 points (given normals), 80 steps, 11.2 s, 1,000 vertices, "
                                            "1,996 faces, 1 part(s), closed")
    open_mesh = {**FIGURES, "components": 3, "watertight": False, "invented_faces": 1234}
    assert wording.result_line(open_mesh).endswith("3 part(s), NOT closed, 1,234 invented faces")


def test_a_fill_says_its_holes_first():
    fill = {**FIGURES, "holes_closed": 2, "holes_left_open": 1, "added_faces": 1500, "added_area": 0.123456,
            "invented_faces": 1500}
    assert wording.result_line(fill) == ("2 hole(s) closed, 1 left open, 1,500 faces added (0.1235 square units); "
                                         "5,000 points (given normals), 80 steps, 11.2 s, 1,000 vertices, "
                                         "1,996 faces, 1 part(s), closed")


def test_the_panel_details():
    assert wording.fit(FIGURES) == "80 steps on cpu, final loss 0.5000"
    assert wording.fit({**FIGURES, "final_loss": None}) == "80 steps on cpu"
    assert wording.phases(FIGURES) == "prepare 0.2 s + fit 10.0 s + extract 1.0 s"


def test_the_mirror_plane_comes_before_the_notes():
    plane = {"normal": [1.0, 0.0, -0.0], "offset": 0.012345, "confidence": 0.934, "more_planes": [{}]}
    stats = {**FIGURES, "symmetry": plane, "notes": ["normals estimated"]}
    assert wording.remarks(stats) == ["used a mirror plane normal (1.00, 0.00, -0.00), offset 0.01235, "
                                      "confidence 0.93, and 1 plane across it", "normals estimated"]
    assert wording.remarks({**FIGURES, "notes": []}) == []


@pytest.fixture(scope="module")
def fast():
    config, prior = settings("fast", "none", steps=3, resolution=32, points_per_step=256)
    return config, prior


def test_the_wording_reads_a_real_completion(fast):
    points = np.random.default_rng(0).normal(size=(2000, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    result = complete(Observation(points), *fast, device="cpu", seed=0)
    stats = {**result.stats.to_dict(), "notes": list(result.notes)}
    line = wording.result_line(stats)
    assert line.startswith(f"2,000 points ({stats['normals']} normals), 3 steps, ")
    assert f"{stats['vertices']:,} vertices, {stats['faces']:,} faces, {stats['components']} part(s)" in line
    remarks = wording.remarks(stats)
    assert remarks[len(remarks) - len(result.notes):] == list(result.notes)
    assert len(remarks) == len(result.notes) + bool(stats["symmetry"])


def test_the_wording_reads_a_real_fill(fast):
    sphere = trimesh.creation.icosphere(subdivisions=3)
    keep = sphere.triangles_center[:, 2] < 0.8
    result = fill_holes(np.asarray(sphere.vertices), np.asarray(sphere.faces)[keep], *fast, device="cpu", seed=0)
    stats = result.stats.to_dict()
    line = wording.result_line(stats)
    assert line.startswith(f"{stats['holes_closed']} hole(s) closed, {stats['holes_left_open']} left open, "
                           f"{stats['added_faces']:,} faces added (")
    assert stats["holes_closed"] + stats["holes_left_open"] == 1


def test_a_setting_error_names_the_setting_by_its_label():
    with pytest.raises(ConfigError) as caught:
        FitConfig(refine_steps=-1)
    assert wording.user_message(caught.value) == "Refine Steps must be between 0 and 100000, got -1"
    assert wording.user_message(ConfigError("points_per_step", "x")) == "Points per Step x"
    assert wording.user_message(ConfigError("not_a_setting", "x")) == "not_a_setting x"


def test_the_mirror_plane_is_read_from_the_figures_once_and_worded():
    stats = {"symmetry": {"normal": [1.0, 0.0, 0.0], "offset": 0.25, "confidence": 0.97, "support": 0.5,
                          "mirrored_points": 900, "more_planes": [{"normal": [0.0, 1.0, 0.0]}]}}
    plane = wording.PlaneUsed.of(stats)
    assert plane == wording.PlaneUsed((1.0, 0.0, 0.0), 0.25, 0.97, 1)
    assert wording.symmetry(plane) == ("mirror plane normal (1.00, 0.00, 0.00), offset 0.25, confidence 0.97, "
                                       "and 1 plane across it")
    assert wording.remarks({**stats, "notes": ["a note"]}) == [f"used a {wording.symmetry(plane)}", "a note"]
    assert wording.PlaneUsed.of({"symmetry": None}) is None and wording.remarks({"notes": []}) == []


def test_each_hole_is_worded_largest_first_with_its_fate_and_the_rest_counted():
    def hole(size, reason="", added=0):
        return {"edges": 8, "size": size, "share": size / 4, "reason": reason, "added_faces": added}
    holes = [hole(0.5, added=12), hole(2.0, "the largest opening")] + [hole(0.01 * i, added=3) for i in range(1, 11)]
    lines = wording.hole_lines(holes)
    assert lines[0] == "hole 1 of 12: 8 edges, 2 across (50% of the mesh): left open: the largest opening"
    assert lines[1] == "hole 2 of 12: 8 edges, 0.5 across (12% of the mesh): closed (12 faces)"
    assert len(lines) == wording.HOLES_LISTED + 1 and lines[-1] == "and 2 smaller: 2 closed, 0 left open"
    planned = wording.hole_lines(holes[:2], planned=True)
    assert planned == ["hole 1 of 2: 8 edges, 2 across (50% of the mesh): stays open: the largest opening",
                       "hole 2 of 2: 8 edges, 0.5 across (12% of the mesh): to fill"]
    assert wording.remarks({"holes": holes[:1], "notes": ["n"]}) == [wording.hole_lines(holes[:1])[0], "n"]

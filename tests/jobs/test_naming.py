"""``jobs.naming``: the names of results, as the command line and Blender give them."""

import subprocess
import sys

from neurep_addon.jobs.kinds import Mode
from neurep_addon.jobs.naming import preview_name, result_file_names, result_name


def test_result_objects_are_named_after_their_source_and_mode():
    assert result_name("Scan") == "Scan_completed"
    assert result_name("Scan.001", Mode.FILL_HOLES) == "Scan.001_filled"
    assert preview_name("Bust") == "Bust_preview"


def test_repeated_stems_get_a_count_ignoring_case_and_folders():
    names = result_file_names(["a/scan.xyz", "b/scan.ply", "b/scan_2.xyz", "c/SCAN.npy", "other.obj"])
    assert names == ["scan_completed.ply", "scan_2_completed.ply", "scan_2_2_completed.ply",
                     "SCAN_3_completed.ply", "other_completed.ply"]


def test_filling_keeps_obj_and_writes_ply_for_the_other_mesh_formats():
    names = result_file_names(["a.obj", "b.OBJ", "c.stl", "d.off", "e.ply", "a.ply"], Mode.FILL_HOLES)
    assert names == ["a_filled.obj", "b_filled.obj", "c_filled.ply", "d_filled.ply", "e_filled.ply",
                     "a_filled.ply"]


def test_modes_convert_from_the_command_line_and_blender_spellings():
    assert Mode("fill-holes") is Mode.FILL_HOLES and Mode["FILL_HOLES"] is Mode.FILL_HOLES
    assert [mode.value for mode in Mode] == ["complete", "fill-holes"]
    assert f"{Mode.COMPLETE}" == "complete"


def test_the_use_case_layer_imports_neither_bpy_nor_torch():
    code = ("import sys; import neurep_addon.jobs.kinds, neurep_addon.jobs.naming, neurep_addon.jobs.wording; "
            "print(sorted({'bpy', 'torch'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

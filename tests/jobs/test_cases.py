"""``jobs.cases``: the use cases the command line, the worker process and Blender run."""

import numpy as np
import trimesh

from neurep_addon.core.config import preset
from neurep_addon.core.io import write_mesh
from neurep_addon.jobs.cases import CompleteFile, FillFile, file_case
from neurep_addon.jobs.kinds import Mode
from tests.helpers import holed_icosphere, icosphere_samples


def test_a_file_is_read_completed_and_written_with_its_read_and_write_times(tmp_path):
    points, _ = icosphere_samples(2000, radius=0.6)
    source, destination = tmp_path / "scan.npy", tmp_path / "scan_completed.ply"
    np.save(source, points)
    record = CompleteFile(source=str(source), destination=str(destination),
                          config=preset("fast", steps=5, resolution=24), device="cpu").run()
    mesh = trimesh.load(destination, process=False)
    assert len(mesh.faces) == record["faces"] > 0 and record["points"] == len(points)
    assert list(record["seconds"])[0] == "read" and list(record["seconds"])[-1] == "write"


def test_a_mesh_file_is_filled_keeping_its_faces_and_every_hole_is_recorded(tmp_path):
    vertices, faces = holed_icosphere(subdivisions=2)
    source, destination = tmp_path / "holed.ply", tmp_path / "holed_filled.ply"
    write_mesh(source, vertices, faces)
    record = FillFile(source=str(source), destination=str(destination),
                      config=preset("fast", steps=3, points_per_step=256), device="cpu").run()
    filled = trimesh.load(destination, process=False)
    assert len(record["holes"]) == 2 and len(filled.faces) == len(faces) + record["added_faces"]
    assert np.array_equal(np.asarray(filled.faces)[:len(faces)], faces)


def test_each_mode_has_its_file_case():
    config = preset("fast")
    assert type(file_case(Mode.COMPLETE, "a.xyz", "a.ply", config)) is CompleteFile
    filling = file_case(Mode.FILL_HOLES, "a.obj", "a.obj", config, max_hole_size=2.0)
    assert type(filling) is FillFile and filling.max_hole_size == 2.0

"""The training command end to end on a tiny run: held-out meshes never reach training, the bank and the
resumed state work through the command line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import trimesh

from neurep_addon.core.prior_io import load_prior

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--iterations", "2", "--width", "16", "--depth", "2", "--inner-steps", "2", "--inner-points", "64",
        "--outer-points", "64", "--pool-size", "2", "--validation-tasks", "1", "--validate-every", "2",
        "--checkpoint-every", "2", "--log-every", "1", "--procedural-fraction", "0.5"]


def train_prior_main():
    spec = importlib.util.spec_from_file_location("train_init_prior", ROOT / "scripts" / "train_init_prior.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def mesh_folder(folder: Path) -> Path:
    folder.mkdir()
    shapes = {"box": trimesh.creation.box((1, 0.6, 0.4)), "ball": trimesh.creation.icosphere(2),
              "ring": trimesh.creation.torus(0.4, 0.15), "pill": trimesh.creation.capsule(0.6, 0.2),
              "can": trimesh.creation.cylinder(0.3, 0.8)}
    for name, mesh in shapes.items():
        mesh.export(folder / f"{name}.obj")
    return folder


def test_held_out_meshes_never_reach_training(tmp_path, capsys):
    data = mesh_folder(tmp_path / "meshes")
    out = tmp_path / "prior.safetensors"
    assert train_prior_main()(["--data", str(data), "--out", str(out), "--val-fraction", "0.4",
                               "--bank", str(tmp_path / "bank"), "--bank-size", "3", *TINY]) == 0
    provenance = load_prior(out).provenance
    held_out = set(provenance["validation_meshes"].split(", "))
    assert len(held_out) == 2 and held_out < {"box", "ball", "ring", "pill", "can"}
    trained_on = json.loads((tmp_path / "bank" / "rank0" / "bank.json").read_text())["meshes"]
    assert len(trained_on) == 3 and not held_out & set(trained_on)
    assert "cpu_hours" in provenance and "bank" in provenance["data"]

    # The same run resumed for two more iterations continues from the committed state.
    assert train_prior_main()(["--data", str(data), "--out", str(out), "--val-fraction", "0.4", "--resume",
                               "--bank", str(tmp_path / "bank"), "--bank-size", "3",
                               *TINY[:1], "4", *TINY[2:]]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert int(load_prior(out).provenance["iterations"]) in (2, 4)  # the best of the validations is kept


def test_an_init_prior_fixes_the_network_and_a_conflict_is_an_option_error(tmp_path, capsys):
    data = mesh_folder(tmp_path / "meshes")
    code = train_prior_main()(["--data", str(data), "--out", str(tmp_path / "p.safetensors"), "--init", "default",
                               "--width", "16"])
    assert code == 2
    assert "--init default fixes the network" in capsys.readouterr().err

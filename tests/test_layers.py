"""The layers' import rule: the engine (``core``) imports nothing from the layers above it."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "neurep_addon" / "core"


def imports_outside_core(path: Path) -> list[str]:
    """The imports in ``path`` that leave ``core``: relative ones above it, absolute ones of the package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level > 1 or (node.module or "").startswith("neurep_addon")):
            found.append(f"{path.name}: from {'.' * node.level}{node.module or ''}")
        elif isinstance(node, ast.Import):
            found += [f"{path.name}: import {a.name}" for a in node.names if a.name.startswith("neurep_addon")]
    return found


def test_the_engine_imports_nothing_from_the_layers_above_it():
    assert sorted(CORE.glob("*.py"))
    assert [line for path in sorted(CORE.glob("*.py")) for line in imports_outside_core(path)] == []


def test_an_import_above_the_engine_is_found(tmp_path):
    reaching_up = tmp_path / "reaching_up.py"
    reaching_up.write_text("def run():\n    from ..jobs.training import train_prior\n")
    assert imports_outside_core(reaching_up) == ["reaching_up.py: from ..jobs.training"]

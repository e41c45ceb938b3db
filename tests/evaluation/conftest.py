"""The benchmark script as a module, for the tests of its command line."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def benchmark():
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPTS / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

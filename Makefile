# NeuRep: `make demo` completes the bundled scan through Blender; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# OpenMP threads that spin while waiting make torch many times slower on a busy machine.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test bench extension clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

demo: $(VENV)/.installed
	$(PY) scripts/demo.py --out out

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) scripts/bench_engine.py --out docs

extension: $(VENV)/.installed
	$(PY) scripts/build_extension.py --split-platforms

clean:
	rm -rf out dist

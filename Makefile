# Two commands on a fresh machine: `make demo` (set up, run the main job) and `make test` (set up, run the tests).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
OUT ?= out/reproduce

.PHONY: setup system-deps demo test test-fast clean

# ngspice for the SPICE checks, chromium for the report screenshot; skipped when already there.
system-deps:
	@command -v ngspice >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/libngspice.so ] && command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ngspice libngspice0 libngspice0-dev chromium >/dev/null; }

$(BIN)/amdcgan: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first: an unpinned torch may pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0 || $(BIN)/python -m pip install -q 'torch>=2.2'
	$(BIN)/python -m pip install -q -e '.[test,ray,onnx]'
	touch $@

setup: system-deps $(BIN)/amdcgan

demo: setup
	$(BIN)/amdcgan reproduce --quick -o $(OUT)

test: setup
	$(BIN)/python -m pytest -m "not gpu" -q

test-fast: setup
	$(BIN)/python -m pytest -m "not gpu and not slow" -q

clean:
	rm -rf $(VENV) out build *.egg-info

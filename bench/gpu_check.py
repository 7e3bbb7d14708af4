"""GPU proof: one prepared command that runs the whole GPU path and reports every figure (issue 16).

    python bench/gpu_check.py --prepare            # here, before the device call: fixtures + wheels
    python bench/gpu_check.py --out DIR            # on the GPU machine: < 8 min (--budget-s 420)
    python bench/gpu_check.py --dry-run --out DIR  # anywhere: the same code paths on the CPU, tiny sizes
    make gpu-check                                 # = --out bench/results (GPU_CHECK_ARGS=--dry-run)

On the lent H200 (no network; its own python3 with torch 2.11/CUDA 13; filmrt is not installed and
PyAV is not there), run from the repository root, carrying what ``--prepare`` put in
``.device-carry/`` (git-ignored)::

    run(command="python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1; "
                "PYTHONUNBUFFERED=1 python3 bench/gpu_check.py --out $OUT",
        carry=[".device-carry"], timeout_s=480)

The editable install maps the stage folders (``engine/`` -> ``filmrt.engine`` ...; it worked here in
a fresh venv with pip 23.2 and setuptools 65.5, no network needed with --no-build-isolation); if it
fails, this script puts a symlink overlay with the same mapping on its children's path instead (also
rehearsed here, in a venv with torch but neither filmrt nor PyAV), and says which one it used. Carried wheels (PyAV,
PyNvVideoCodec) are unpacked into /tmp and put on the path only where the module is missing.

Sections, in order, each in a child process of its own (a CUDA fault, a crash in the ctypes
launcher or a hang costs that section only), each with a time cap, all under one global budget: a
section is skipped, with the reason recorded, when the budget left cannot cover it plus the least
the sections after it need. Inside a section every cell (one measurement) is written to disk
when done, so a crash or a timeout keeps what was measured; after a crash the section is started
again and continues after the cell that crashed.

1. ``env``: versions, GPU, nvidia-smi; matmul TFLOP/s (fp16, bf16, tf32, fp32) and copy GB/s;
2. ``pytest``: ``pytest -m gpu`` on every test file with gpu-marked tests (junit summary), and the
   warp kernel's toolkit tests (nvcc rebuilds the committed PTX, ptxas assembles it without spills);
3. ``warp``: bench/warp_kernel.py's GPU checks and kernel-vs-grid_sample timings (720p..2160p);
4. ``models-rife``, ``models-film``: model-only interpolations/s (bench/gpu_check_models.py);
5. ``convert``: ``filmrt convert --device cuda`` on a synthetic 1080p25 clip -> 50, RIFE and FILM,
   plus decode-only and libx264-only rates: where the bottleneck is;
6. ``nvdec``: PyNvVideoCodec (NVDEC) vs PyAV decoding, frames to torch by DLPack;
7. ``compile-*``, ``cudagraphs-*``: torch.compile on top of the best eager flags, capped.

Output: exactly one JSON and one markdown file in ``--out`` (``gpu-check-<gpu>-<date>.*``): the
machine, versions, the command, every figure, every skip reason, the ``fast`` defaults decided
from the measurements, and the issue's targets (FILM 1080p >= 30 interpolated frames/s end to
end; RIFE 1080p >= 400 interpolations/s model-only; convert 1080p25 -> 50 faster than real time).
The parent process imports only the standard library, so the report is written whatever breaks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CELL_MARGIN_S = 2.0
FINAL_MARGIN_S = 4.0
#: errors after which the CUDA context of a process is unusable: the child exits, is started again
STICKY = re.compile(r"CUDA error|CUDA_ERROR|cudaError|illegal memory access|device-side assert|misaligned address")
EXIT_STICKY = 70


@dataclass
class Section:
    name: str
    module: str
    function: str
    #: most seconds it may take
    cap_s: float
    #: fewest seconds worth starting it with
    min_s: float
    params: dict = field(default_factory=dict)
    cuda_only: bool = False
    #: needs a GPU for its figures (skipped without one unless --dry-run)
    gpu_sized: bool = True
    #: seconds the sections before it leave for it (None: min_s; 0 for the last, optional ones)
    reserve_s: float | None = None

    @property
    def kept_s(self) -> float:
        return self.min_s if self.reserve_s is None else self.reserve_s


SECTIONS = [
    Section("env", "gpu_check_sections", "section_env", 45, 10, gpu_sized=False),
    Section("pytest", "gpu_check_sections", "section_pytest", 150, 20, gpu_sized=False),
    Section("warp", "gpu_check_sections", "section_warp", 75, 15),
    Section("models-rife", "gpu_check_models", "section_models", 90, 20, {"model": "rife-4.25"}),
    Section("models-film", "gpu_check_models", "section_models", 120, 25, {"model": "film"}),
    Section("convert", "gpu_check_sections", "section_convert", 110, 25),
    Section("nvdec", "gpu_check_sections", "section_nvdec", 45, 10),
    # torch.compile last: the slowest to measure, and optional (they keep no time from the others)
    Section("compile-rife", "gpu_check_models", "section_compile", 75, 30,
            {"model": "rife-4.25", "flag": "compile"}, cuda_only=True, reserve_s=0),
    Section("cudagraphs-rife", "gpu_check_models", "section_compile", 75, 30,
            {"model": "rife-4.25", "flag": "cudagraphs"}, cuda_only=True, reserve_s=0),
    Section("compile-film", "gpu_check_models", "section_compile", 100, 30,
            {"model": "film", "flag": "compile"}, cuda_only=True, reserve_s=0),
    Section("cudagraphs-film", "gpu_check_models", "section_compile", 100, 30,
            {"model": "film", "flag": "cudagraphs"}, cuda_only=True, reserve_s=0),
]

#: the small FILM configuration of the golden fixture (a dry run must not need ../shared)
DRY_FILM_CONFIG = {"pyramid_levels": 4, "fusion_pyramid_levels": 3, "specialized_levels": 2, "sub_levels": 3,
                   "flow_convs": [2, 2, 2], "flow_filters": [8, 16, 16], "filters": 8}

PROFILES = {
    "gpu": {"sizes": ["720p", "1080p", "2160p"], "main_size": "1080p", "precisions": ["fp16", "bf16"],
            "batches": [1, 2, 4, 8, 16], "flag_sets": ["none", "warp", "channels_last", "warp,channels_last"],
            "cell_s": 1.0, "min_groups": 3, "stage_reps": 5, "matmul_n": 8192, "matmul_precisions": ["fp16", "bf16", "tf32", "fp32"],
            "copy_mib": 2048, "warp_iters": 30, "clip_size": "1080p", "clip_fps": 25, "clip_seconds": 6.0,
            "convert_short_s": 2.0, "convert_fps": "50", "convert_models": ["rife-4.25", "film"],
            "encode_frames": 100, "film_config": None},
    "dry": {"sizes": ["64x64", "96x64"], "main_size": "96x64", "precisions": ["fp32"],
            "batches": [1, 2], "flag_sets": ["none", "warp"], "cell_s": 0.02, "min_groups": 1, "stage_reps": 1,
            "matmul_n": 128, "matmul_precisions": ["fp32", "bf16"], "copy_mib": 8, "warp_iters": 2,
            "clip_size": "96x64", "clip_fps": 25, "clip_seconds": 0.8, "convert_short_s": 0.32,
            "convert_fps": "50", "convert_models": ["rife-4.25", "film"], "encode_frames": 10,
            "film_config": DRY_FILM_CONFIG},
}


def load_sibling(name: str):
    """A module of this folder (or a .py path), loaded by path: bench/ runs as a folder of scripts
    on the GPU machine, whether or not it is also installed as a package."""
    path = Path(name) if name.endswith(".py") else HERE / f"{name}.py"
    key = f"_filmrt_gpu_check_{path.stem}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]


setup = load_sibling("gpu_check_setup")
one_line = setup.one_line


def write_json_file(path: Path, data) -> None:
    """Atomic JSON write with the standard library only: the parent must write its report even
    when filmrt (whose fileio.write_json the children use) cannot be imported."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)


# ------------------------------------------------------------------------------------ child side
class Cells:
    """The cells of one section, on disk (``state``) after each one; see the module docstring."""

    def __init__(self, path: Path, deadline: float):
        self.path, self.deadline = path, deadline
        self.data = json.loads(path.read_text()) if path.exists() else {"cells": {}, "notes": {}, "current": None}
        self.data["launches"] = self.data.get("launches", 0) + 1
        self._save()

    def _save(self) -> None:
        write_json_file(self.path, self.data)

    def time_left(self) -> float:
        return self.deadline - time.time()

    def result(self, name: str):
        c = self.data["cells"].get(name)
        return c.get("result") if c and c["status"] == "ok" else None

    def skip(self, name: str, reason: str) -> None:
        if name not in self.data["cells"]:
            self.data["cells"][name] = {"status": "skipped", "reason": reason}
            self._save()

    def note(self, key: str, value) -> None:
        self.data["notes"][key] = json.loads(json.dumps(value, default=_json_default))
        self._save()

    def run(self, name: str, fn, need_s: float = 0.0):
        """Run ``fn()`` as cell ``name`` (once: a cell done by an earlier launch is not redone) and
        record its dict result, its error or, without time for it, why it was skipped."""
        if name in self.data["cells"]:
            return self.result(name)
        left = self.time_left()
        if left < need_s + CELL_MARGIN_S:
            self.skip(name, f"time budget: {left:.0f} s left in this section, the cell needs ~{need_s:.0f} s")
            return None
        rec, _ = self._execute(name, fn)
        if rec["status"] == "ok":
            rec["result"] = json.loads(json.dumps(rec.pop("value"), default=_json_default))
        self._record(name, rec)
        return rec.get("result")

    def call(self, name: str, fn, describe):
        """Like :meth:`run`, but ``fn`` runs at every launch (set-up whose object the cells need);
        ``describe(obj)`` is what is recorded. Returns the object, or None when it failed."""
        rec, obj = self._execute(name, fn)
        if rec["status"] == "ok":
            rec.pop("value", None)
            rec["result"] = json.loads(json.dumps(describe(obj), default=_json_default))
        self._record(name, rec)
        return obj

    def _execute(self, name: str, fn):
        self.data["current"] = name
        self._save()
        t0 = time.time()
        try:
            value = fn()
            return {"status": "ok", "value": value, "seconds": time.time() - t0}, value
        except Exception as e:  # noqa: BLE001 - every failure is a finding to record
            tb = traceback.format_exc()
            return {"status": "error", "reason": one_line(e), "traceback": tb[-2500:], "seconds": time.time() - t0}, None

    def _record(self, name: str, rec: dict) -> None:
        self.data["cells"][name] = rec
        self.data["current"] = None
        self._save()
        if rec["status"] == "error" and STICKY.search(rec["reason"] + rec.get("traceback", "")):
            # the CUDA context of this process is lost: let the parent start a fresh one
            sys.stdout.flush()
            os._exit(EXIT_STICKY)


def child_main(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text())
    cells = Cells(Path(cfg["state"]), cfg["deadline"])
    try:
        fn = getattr(load_sibling(cfg["module"]), cfg["function"])
    except Exception as e:  # noqa: BLE001 - e.g. filmrt not importable: the report says so
        cells.data["cells"]["import"] = {"status": "error", "reason": one_line(e),
                                         "traceback": traceback.format_exc()[-2500:]}
        cells._save()
        return 1
    fn(cfg, cells)
    return 0


# ------------------------------------------------------------------------------------ parent side
class Runner:
    """Runs the sections one after another under the global deadline and fills the report."""

    def __init__(self, args, report: dict, work: Path, env: dict, sections: list[Section]):
        self.args, self.report, self.work, self.env = args, report, work, env
        self.sections = sections
        self.deadline = report["_t0"] + args.budget_s
        self.profile = dict(PROFILES["dry" if args.dry_run else "gpu"])
        self.device = "cpu"
        self.shared = env.get("FILMRT_SHARED")

    def log(self, msg: str) -> None:
        print(f"[{time.time() - self.report['_t0']:6.1f} s] {msg}", flush=True)

    def will_run(self, sec: Section) -> bool:
        return not (sec.cuda_only and self.device != "cuda") and not (
            sec.gpu_sized and self.device != "cuda" and not self.args.dry_run)

    def run_all(self, write) -> None:
        for i, sec in enumerate(self.sections):
            later = sum(s.kept_s for s in self.sections[i + 1:] if self.will_run(s))
            if sec.cuda_only and self.device != "cuda":
                res = {"status": "skipped", "reason": "PyTorch sees no CUDA GPU: torch.compile is measured on CUDA only"}
            elif not self.will_run(sec):
                res = {"status": "skipped", "reason": "PyTorch sees no CUDA GPU (--dry-run rehearses this on the CPU)"}
            else:
                res = self.run_section(sec, later)
            self.report["sections"][sec.name] = res
            self.log(f"{sec.name}: {res['status']}" + (f" ({res['reason']})" if res.get("reason") else "")
                     + (f", {res['seconds']:.0f} s" if "seconds" in res else ""))
            if sec.name == "env":
                self.device = self._device_from_env(res)
            write()

    def _device_from_env(self, res: dict) -> str:
        versions = (res.get("cells", {}).get("versions") or {}).get("result") or {}
        if "cuda_available" in versions:
            cuda = bool(versions["cuda_available"])
        else:  # the env section failed (filmrt not importable, say): ask torch alone
            r = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                               cwd=self.work, env=self.env, capture_output=True, text=True, timeout=120)
            cuda = r.stdout.strip() == "True"
            self.report["device_probe"] = {"returncode": r.returncode, "output": (r.stdout + r.stderr)[-1000:]}
        self.report["device"] = "cuda" if cuda and not self.args.dry_run else "cpu"
        return self.report["device"]

    def section_config(self, sec: Section, state: Path, deadline: float) -> dict:
        cfg = {**self.profile, "section": sec.name, "module": sec.module, "function": sec.function,
               "params": sec.params, "state": str(state), "deadline": deadline, "device": self.device,
               "dry_run": self.args.dry_run, "repo": str(REPO), "workdir": str(self.work), "shared": self.shared}
        model = sec.params.get("model")
        if model:
            key = "models-rife" if model.startswith("rife") else "models-film"
            cfg["best"] = (self.report["sections"].get(key, {}).get("notes") or {}).get("best")
        return cfg

    def run_section(self, sec: Section, later_reserve: float) -> dict:
        state = self.work / f"state-{sec.name}.json"
        start = time.time()
        launches = []
        while True:
            left = self.deadline - time.time() - FINAL_MARGIN_S - later_reserve
            timeout = min(sec.cap_s - (time.time() - start), left)
            need = sec.min_s if not launches else 5
            if timeout < need:
                why = (f"time budget: {max(0, left):.0f} s left after keeping {later_reserve:.0f} s for the "
                       f"sections after it; this one needs at least {need:.0f} s")
                if not launches:
                    return {"status": "skipped", "reason": why}
                launches.append({"not_relaunched": why})
                break
            cfg_path = self.work / f"config-{sec.name}.json"
            write_json_file(cfg_path, self.section_config(sec, state, time.time() + timeout - 1))
            launch = self._launch(cfg_path, timeout)
            launches.append(launch)
            data = json.loads(state.read_text()) if state.exists() else {"cells": {}, "notes": {}}
            cur = data.get("current")
            if cur and launch["returncode"] != 0:
                what = "timeout" if launch["timed_out"] else "crashed"
                data["cells"][cur] = {"status": what, "reason": f"the child {what} in this cell "
                                      f"(exit {launch['returncode']}): {launch['log_tail'][-600:]}"}
                data["current"] = None
                write_json_file(state, data)
            # start again only after a crash inside a cell (that cell is now recorded) or a lost
            # CUDA context; not after a timeout (the cap is spent) or a failure before any cell
            crashed_in_cell = cur is not None or launch["returncode"] == EXIT_STICKY
            if launch["returncode"] == 0 or launch["timed_out"] or not crashed_in_cell or len(launches) >= 3:
                break
            self.log(f"{sec.name}: child exited {launch['returncode']}, starting it again after that cell")
        return self._section_result(state, launches, time.time() - start, sec.cap_s)

    def _launch(self, cfg_path: Path, timeout: float) -> dict:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(cfg_path)]
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=self.work, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)  # the child and what it started (pytest, convert)
            out, _ = proc.communicate()
        tail = (out or "")[-4000:]
        return {"returncode": proc.returncode, "timed_out": timed_out, "seconds": time.time() - t0,
                "timeout_s": round(timeout, 1), "log_tail": tail}

    @staticmethod
    def _section_result(state: Path, launches: list[dict], seconds: float, cap: float) -> dict:
        data = json.loads(state.read_text()) if state.exists() else {"cells": {}, "notes": {}}
        cells = data.get("cells", {})
        statuses = [c["status"] for c in cells.values()]
        ok = statuses.count("ok")
        bad = [n for n, c in cells.items() if c["status"] in ("error", "crashed", "timeout")]
        if not cells:
            status, reason = "error", "the child recorded nothing: " + (launches[-1].get("log_tail", "")[-800:]
                                                                         if launches else "")
        elif bad and ok == 0:
            status, reason = "error", f"{len(bad)} cell(s) failed, none succeeded"
        elif bad or any(lc.get("timed_out") for lc in launches):
            status, reason = "partial", f"{len(bad)} cell(s) failed or timed out: {', '.join(bad[:6])}"
        else:
            status, reason = "ok", None
        res = {"status": status, "seconds": round(seconds, 1), "cap_s": cap, "launches": launches,
               "cells": cells, "notes": data.get("notes", {})}
        if reason:
            res["reason"] = reason
        return res


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def output_stem(report: dict) -> str:
    if report["dry_run"]:
        name = "dry-run"
    else:
        gpu = ((report["sections"].get("env", {}).get("cells", {}).get("gpu") or {}).get("result") or {})
        name = slug(gpu.get("name") or "no-gpu")
    return f"gpu-check-{name}-{report['created_utc'][:10]}"


# ------------------------------------------------------------------------------------ main
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dry-run", action="store_true", help="the same sections on the CPU at tiny sizes")
    p.add_argument("--out", default=str(REPO / "bench" / "results"), help="folder for the JSON and markdown")
    p.add_argument("--budget-s", type=float, default=420.0, help="global time budget in seconds (default 420)")
    p.add_argument("--sections", default=None, help="comma-separated section names to run (default: all)")
    p.add_argument("--prepare", action="store_true", help="fill .device-carry/ for the device call and exit")
    p.add_argument("--carry-dir", default=str(setup.CARRY), help=argparse.SUPPRESS)
    p.add_argument("--no-wheels", action="store_true", help="--prepare without downloading wheels")
    p.add_argument("--keep-work", action="store_true", help="keep the work folder (clips, states, logs)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.budget_s <= 0:
        p.error("--budget-s must be positive")
    return args


def select_sections(spec: str | None) -> list[Section]:
    if not spec:
        return list(SECTIONS)
    want = [s.strip() for s in spec.split(",") if s.strip()]
    known = {s.name for s in SECTIONS}
    bad = [w for w in want if w not in known]
    if bad:
        raise SystemExit(f"gpu_check: unknown section(s) {bad}; known: {', '.join(sorted(known))}")
    return [s for s in SECTIONS if s.name in want or s.name == "env"]  # env decides the device


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    carry = Path(args.carry_dir)
    if args.prepare:
        return setup.prepare(carry, wheels=not args.no_wheels)
    report_mod = load_sibling("gpu_check_report")
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="filmrt-gpu-check-"))
    paths, carried = setup.activate_carried(carry)
    how = setup.installed_filmrt()
    if how is None:
        paths.insert(0, str(setup.build_overlay(work / "overlay")))
        how = f"symlink overlay of this checkout's stage folders ({work / 'overlay'})"
    shared = setup.shared_dir(carry)
    env = setup.child_env(work, paths, str(shared) if shared else None)
    if args.dry_run:
        # tiny tensors: one thread is faster than several fighting over a busy CI machine's cores
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    report = {"schema": "filmrt-gpu-check/1", "_t0": t0,
              "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python", "bench/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]),
              "dry_run": args.dry_run, "budget_s": args.budget_s, "device": None, "git": setup.git_info(),
              "import": {"filmrt": how, "carried": carried, "shared": str(shared) if shared else None,
                         "python": sys.executable},
              "sections": {}}
    written: list[Path] = []

    def write(final: bool = False) -> None:
        report["elapsed_s"] = round(time.time() - t0, 1)
        if final:
            try:
                report_mod.summarize(report)
            except Exception as e:  # noqa: BLE001 - the figures must be written even so
                report["summary_error"] = f"{one_line(e)}\n{traceback.format_exc()[-2000:]}"
        stem = output_stem(report)
        paths_now = [out / f"{stem}.json", out / f"{stem}.md"]
        for old in written:
            if old not in paths_now:
                old.unlink(missing_ok=True)  # the name changed once the GPU was known: one file pair
        data = {k: v for k, v in report.items() if not k.startswith("_")}
        write_json_file(paths_now[0], data)
        paths_now[1].write_text(report_mod.markdown(data))
        written[:] = paths_now

    runner = Runner(args, report, work, env, select_sections(args.sections))
    report["profile"] = runner.profile
    runner.log(f"work folder {work}; filmrt from: {how}; budget {args.budget_s:.0f} s")
    try:
        runner.run_all(write)
    finally:
        write(final=True)
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    print(report_mod.summary_text(report))
    for p in written:
        print(f"wrote {p}")
    failed = [n for n, s in report["sections"].items() if s["status"] == "error"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Child processes: :func:`run_child`, the bench's one way to run one, and the GPU check's section
runner. Each :class:`Section` runs as ``python -m filmrt.bench.runner CONFIG`` under its cap and one
global budget; each cell goes through :class:`Cells`, on disk as soon as it is done, so a crash or
a hang costs one cell: after a crash in a cell or a lost CUDA context (:data:`STICKY`) the section
starts again after that cell.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from filmrt.fileio import write_json
from filmrt.machine import load_average

CELL_MARGIN_S = 2.0
FINAL_MARGIN_S = 4.0
#: errors after which the CUDA context of a process is unusable: the child exits, is started again
STICKY = re.compile(r"CUDA error|CUDA_ERROR|cudaError|illegal memory access|device-side assert|misaligned address")
EXIT_STICKY = 70


def run_child(cmd: list[str], log: Path, timeout: float, cwd: Path | None = None, env: dict | None = None,
              tail: int = 2000) -> dict:
    """THE bench's child process: ``cmd`` run to its end in a session of its own (killed whole, with
    what it started, after ``timeout`` s), its output in ``log``; wall seconds, CPU seconds (user +
    system) and peak RSS (MB) from its own rusage, the load average before and after, the log's tail
    (300 characters of a clean exit's)."""
    la0 = load_average()
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    text = Path(log).read_text(errors="replace")[-tail:]
    return {"returncode": proc.returncode, "timed_out": wall >= timeout, "wall_s": wall,
            "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024,
            "load_average": [la0, load_average()], "log_tail": text if proc.returncode else text[-300:]}


def last_json(log: Path) -> dict | None:
    """The last line of ``log`` that is a JSON object (a bench child's record), or None."""
    lines = [ln for ln in Path(log).read_text(errors="replace").splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def one_line(e: BaseException, n: int = 400) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())[:n]}"


@dataclass
class Section:
    name: str
    #: importable module holding ``function(cfg, cells)``
    module: str
    function: str
    #: most seconds it may take, and the fewest worth starting it with
    cap_s: float
    min_s: float
    params: dict = field(default_factory=dict)
    #: needs a GPU for its figures: skipped without one unless the run is a rehearsal (dry run)
    gpu_sized: bool = True


class Cells:
    """The cells of one section, on disk (``path``) after each one; see the module docstring."""

    def __init__(self, path: Path, deadline: float):
        self.path, self.deadline = path, deadline
        self.data = json.loads(path.read_text()) if path.exists() else {"cells": {}, "notes": {}, "current": None}
        self.data["launches"] = self.data.get("launches", 0) + 1
        self._save()

    def _save(self) -> None:
        write_json(self.path, self.data)

    def result(self, name: str):
        c = self.data["cells"].get(name)
        return c.get("result") if c and c["status"] == "ok" else None

    def skip(self, name: str, reason: str) -> None:
        if name not in self.data["cells"]:
            self.data["cells"][name] = {"status": "skipped", "reason": reason}
            self._save()

    def note(self, key: str, value) -> None:
        self.data["notes"][key] = value
        self._save()

    def run(self, name: str, fn, need_s: float = 0.0):
        """Run ``fn()`` as cell ``name`` (once over all launches) and record its dict result, its
        error or, without time left for it, why it was skipped. Returns the result or None."""
        if name in self.data["cells"]:
            return self.result(name)
        left = self.deadline - time.time()
        if left < need_s + CELL_MARGIN_S:
            self.skip(name, f"time budget: {left:.0f} s left in this section, the cell needs ~{need_s:.0f} s")
            return None
        return self.call(name, fn, lambda value: value)

    def call(self, name: str, fn, describe):
        """Run ``fn()`` as cell ``name`` whether or not an earlier launch did (set-up whose object the
        cells need) and record ``describe(obj)``. Returns the object, or None when it failed."""
        self.data["current"] = name
        self._save()
        t0, obj = time.time(), None
        try:
            obj = fn()
            rec = {"status": "ok", "seconds": time.time() - t0, "result": json.loads(json.dumps(describe(obj),
                                                                                              default=str))}
        except Exception as e:  # noqa: BLE001 - every failure is a finding to record
            rec = {"status": "error", "reason": one_line(e), "traceback": traceback.format_exc()[-2500:],
                   "seconds": time.time() - t0}
        self._record(name, rec)
        return obj

    def _record(self, name: str, rec: dict) -> None:
        self.data["cells"][name] = rec
        self.data["current"] = None
        self._save()
        if rec["status"] == "error" and STICKY.search(rec["reason"] + rec.get("traceback", "")):
            sys.stdout.flush()  # the CUDA context of this process is lost: the parent starts a fresh one
            os._exit(EXIT_STICKY)


def child_main(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text())
    cells = Cells(Path(cfg["state"]), cfg["deadline"])
    try:
        fn = getattr(importlib.import_module(cfg["module"]), cfg["function"])
    except Exception as e:  # noqa: BLE001 - e.g. a dependency missing here: the report says so
        cells.data["cells"]["import"] = {"status": "error", "reason": one_line(e),
                                         "traceback": traceback.format_exc()[-2500:]}
        cells._save()
        return 1
    fn(cfg, cells)
    return 0


class Runner:
    """Runs sections one after another, each in a child process, under the global ``deadline``."""

    def __init__(self, work: Path, env: dict, deadline: float, base_cfg: dict, log=print):
        self.work, self.env, self.deadline, self.base_cfg, self.log = work, env, deadline, base_cfg, log

    def run_section(self, sec: Section, later_reserve: float) -> dict:
        state = self.work / f"state-{sec.name}.json"
        start, launches = time.time(), []
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
            write_json(cfg_path, {**self.base_cfg, "section": sec.name, "module": sec.module,
                                  "function": sec.function, "params": sec.params, "state": str(state),
                                  "deadline": time.time() + timeout - 1})
            # cwd outside the checkout: its filmrt/ folder must not shadow the installed package
            launch = {**run_child([sys.executable, "-m", "filmrt.bench.runner", str(cfg_path)],
                                  self.work / f"log-{sec.name}-{len(launches)}.txt", timeout, self.work, self.env,
                                  tail=4000), "timeout_s": round(timeout, 1)}
            launches.append(launch)
            data = json.loads(state.read_text()) if state.exists() else {"cells": {}, "notes": {}}
            cur = data.get("current")
            if cur and launch["returncode"] != 0:
                what = "timeout" if launch["timed_out"] else "crashed"
                data["cells"][cur] = {"status": what, "reason": f"the child {what} in this cell "
                                      f"(exit {launch['returncode']}): {launch['log_tail'][-600:]}"}
                data["current"] = None
                write_json(state, data)
            # start again only after a crash inside a cell (now recorded) or a lost CUDA context;
            # not after a timeout (the cap is spent) or a failure before any cell
            crashed_in_cell = cur is not None or launch["returncode"] == EXIT_STICKY
            if launch["returncode"] == 0 or launch["timed_out"] or not crashed_in_cell or len(launches) >= 3:
                break
            self.log(f"{sec.name}: child exited {launch['returncode']}, starting it again after that cell")
        return section_result(state, launches, time.time() - start, sec.cap_s)


def section_result(state: Path, launches: list[dict], seconds: float, cap: float) -> dict:
    data = json.loads(state.read_text()) if state.exists() else {"cells": {}, "notes": {}}
    cells = data.get("cells", {})
    ok = sum(c["status"] == "ok" for c in cells.values())
    bad = [n for n, c in cells.items() if c["status"] in ("error", "crashed", "timeout")]
    reason = None
    if not cells:
        status, reason = "error", "the child recorded nothing: " + (launches[-1].get("log_tail", "")[-800:]
                                                                     if launches else "")
    elif bad and ok == 0:
        status, reason = "error", f"{len(bad)} cell(s) failed, none succeeded"
    elif bad or any(lc.get("timed_out") for lc in launches):
        status, reason = "partial", f"{len(bad)} cell(s) failed or timed out: {', '.join(bad[:6])}"
    else:
        status = "ok"
    res = {"status": status, "seconds": round(seconds, 1), "cap_s": cap, "launches": launches, "cells": cells,
           "notes": data.get("notes", {})}
    return {**res, "reason": reason} if reason else res


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1]))

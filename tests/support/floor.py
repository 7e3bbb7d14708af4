"""Where every second of a short conversion goes: filmrt's fixed cost beside MVTools' whole job.

The peers protocol's job (``filmrt bench --peers``: 13 even frames of the 720p BBB clip at 12.5 fps
in FFV1, brought to 25 fps, libx264 crf 18 medium) is so short that what is paid once per run
dominates it. This script splits one run into what a user waits for, each part measured in a child
process of its own (``bench.runner.run_child``: wall, CPU and peak RSS from its rusage):

- **interpreter**: ``python -c pass``;
- the **conversion** itself, ``python -X importtime -m filmrt convert ... --json``: the imports
  (torch's, and all of them: the cumulative times ``-X importtime`` prints for the modules the
  program imports at the top level), then its report's ``stage_s`` splits the rest into
  the setup (opening the model: ``open_model_s``; the interlacing/cadence analysis:
  ``analysis_s``), the model calls' wall time, and the CPU of the decode and encode threads;
- beside it, where ``make bench-peers`` has made ``.venv-peers``: **MVTools FlowFPS**,
  **minterpolate** and **vs-mlrt OV** (our exported RIFE graph) doing the same job with the same
  encoder (the peers' own scripts).

A method named ``NAME@glibc`` is NAME run with ``FILMRT_MALLOC=glibc`` (glibc's allocator
defaults, without the program's setting: :mod:`filmrt.cli.malloc`). Methods are interleaved over
``--rounds`` rounds; each figure is the median. The machine is shared
(the load average is recorded): compare ratios from one run only. Not a test::

    .venv/bin/python tests/support/floor.py --out bench/results/floor-DATE [--methods blend,openvino]

writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from filmrt.bench.peers_vs import filmrt_cmd, plan_methods, write_protocol_inputs
from filmrt.bench.report import fmt, md_table, write_pair
from filmrt.bench.runner import run_child
from filmrt.bench.settings import default_clip
from filmrt.machine import machine, versions

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
PROBES = {"interpreter": [PY, "-c", "pass"]}
#: filmrt's methods: name -> (model, backend)
FILMRT = {"blend": ("blend", None), "openvino": ("rife-4.25", "openvino"), "torch": ("rife-4.25", "torch")}
PEERS = ("mvtools-flowfps", "minterpolate", "vs-mlrt-ov")


def jobs(methods: list[str], work: Path) -> dict[str, list[str]]:
    """name -> command: the probes, filmrt's conversions (with --json), the peers that can run here."""
    inp = write_protocol_inputs(default_clip(), 0.0, 1.0, work)
    out_rate = inp["rate"]  # half.mkv is at half the rate: x2 brings it back
    cmds = dict(PROBES)
    for name in methods:
        model, backend = FILMRT[name.split("@")[0]]
        cmd = filmrt_cmd(model, backend, inp["half"], str(work / f"{name}.mp4"), out_rate)
        cmds[name] = [cmd[0], "-X", "importtime", *cmd[1:], "--json", str(work / f"{name}.json")]
    for m in plan_methods(list(PEERS), inp, work, ROOT, 2, log=lambda *_: None):
        if m.cmd:
            cmds[m.name] = m.cmd
    return cmds


def measure(cmds: dict[str, list[str]], rounds: int, work: Path) -> dict[str, dict]:
    """Each job ``rounds`` times, interleaved; per job the median wall/CPU/RSS and, for filmrt's
    conversions, the medians of their report's ``stage_s``."""
    runs: dict[str, list[dict]] = {n: [] for n in cmds}
    for r in range(rounds):
        for name, cmd in cmds.items():
            env = {"FILMRT_MALLOC": "glibc"} if name.endswith("@glibc") else {"FILMRT_MALLOC": ""}
            res = run_child(cmd, work / f"{name}-{r}.log", 900, ROOT, env=env)
            if res["returncode"]:
                raise RuntimeError(f"{name}: exit {res['returncode']}: {res['log_tail']}")
            report = work / f"{name}.json"
            if report.is_file():
                res["stage_s"] = {**json.loads(report.read_text())["stage_s"],
                                  **import_seconds((work / f"{name}-{r}.log").read_text())}
            runs[name].append(res)
            print(f"round {r + 1} {name}: {res['wall_s']:.2f} s wall, {res['cpu_s']:.2f} s CPU", flush=True)
    out = {}
    for name, rs in runs.items():
        rec = {k: statistics.median(x[k] for x in rs) for k in ("wall_s", "cpu_s", "peak_rss_mb")}
        if "stage_s" in rs[0]:
            rec["stage_s"] = {k: statistics.median(x["stage_s"][k] for x in rs) for k in rs[0]["stage_s"]}
        rec["load_average"] = [rs[0]["load_average"][0], rs[-1]["load_average"][1]]
        out[name] = rec
    return out


def import_seconds(log: str) -> dict:
    """From ``-X importtime``'s lines: torch's cumulative import seconds, and all top-level imports'."""
    torch_us = total_us = 0
    for line in log.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, module = line.split("|")
        if not cumulative.strip().isdigit():
            continue  # the header line
        if module.strip() == "torch":
            torch_us = int(cumulative)
        if module.startswith(" ") and not module.startswith("  "):  # top level: one space of indent
            total_us += int(cumulative)
    return {"import_torch_s": torch_us / 1e6, "imports_s": total_us / 1e6}


def breakdown(res: dict[str, dict], name: str) -> list[list]:
    """Rows (part, wall s, CPU s, how it is measured) of one filmrt conversion."""
    conv, st = res[name], res[name]["stage_s"]
    interp = res["interpreter"]
    setup_rest = st["setup_s"] - st["open_model_s"] - st["analysis_s"]
    run_rest = st["seconds_in_convert"] - st["setup_s"] - st["model_s"]
    outside = conv["wall_s"] - interp["wall_s"] - st["imports_s"] - st["seconds_in_convert"]
    return [
        ["interpreter start", interp["wall_s"], interp["cpu_s"], "python -c pass"],
        ["import torch", st["import_torch_s"], None, "-X importtime: torch, cumulative"],
        ["other imports", st["imports_s"] - st["import_torch_s"], None, "-X importtime: top-level imports - torch"],
        ["open the model", st["open_model_s"], None, "stage_s.open_model_s"],
        ["interlacing/cadence analysis", st["analysis_s"], None, "stage_s.analysis_s"],
        ["rest of the setup (probe, output plan, open the decoder)", setup_rest, None, "setup_s - the two above"],
        ["model calls", st["model_s"], None, "stage_s.model_s"],
        ["run outside the model calls (first pair, encoder flush)", run_rest, None, "convert's seconds - setup - model"],
        ["decode thread (decode + Y'CbCr -> RGB)", None, st["decode_cpu_s"], "stage_s.decode_cpu_s (overlaps the run)"],
        ["encode thread (RGB -> Y'CbCr + libx264 + mux)", None, st["encode_cpu_s"], "stage_s.encode_cpu_s (overlaps the run)"],
        ["CLI outside convert() (arguments, summary, exit)", outside, None,
         "job wall - interpreter - imports - convert's seconds"],
        ["**whole job**", conv["wall_s"], conv["cpu_s"], "the job's rusage"],
    ]


def render(doc: dict) -> str:
    res = doc["results"]
    md = [f"# Where the seconds of a short conversion go ({doc['date'][:10]})", "",
          f"Machine: {doc['machine']['cpu_model']}, {doc['machine']['cpu_affinity']} cores; load average "
          f"{doc['load_average']}. Command: `{doc['command']}`. The peers protocol's job: 13 frames of "
          "bbb_720p25_audio.mp4 (FFV1, 12.5 fps) to 25 fps, libx264 crf 18 medium; medians of "
          f"{doc['rounds']} interleaved rounds, each part in a child process of its own.", ""]
    whole = [["job", "wall s", "CPU s", "peak RSS MB"]]
    for name, r in res.items():
        whole.append([name, r["wall_s"], r["cpu_s"], fmt(r["peak_rss_mb"], ".0f")])
    md += md_table(whole[0], whole[1:]) + [""]
    for name in doc["methods"]:
        md += [f"## filmrt {name}", ""]
        md += md_table(["part", "wall s", "CPU s", "measured as"], breakdown(res, name)) + [""]
    for peer in PEERS:
        if peer in res:
            for name in doc["methods"]:
                md.append(f"- filmrt {name} / {peer}, whole job: {res[name]['wall_s'] / res[peer]['wall_s']:.2f}x the wall "
                          f"time, {res[name]['cpu_s'] / res[peer]['cpu_s']:.2f}x the CPU time.")
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="OUT.json and OUT.md")
    p.add_argument("--methods", default="blend,blend@glibc,openvino,openvino@glibc",
                   help=f"filmrt's: comma list of {','.join(FILMRT)} (NAME@glibc: without the allocator setting)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--render", action="store_true", help="write OUT.md again from OUT.json")
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.render:
        doc = json.loads(out.with_suffix(".json").read_text())
    else:
        methods = a.methods.split(",")
        with tempfile.TemporaryDirectory() as tmp:
            cmds = jobs(methods, Path(tmp))
            res = measure(cmds, a.rounds, Path(tmp))
        for name in methods:  # convert's own wall seconds, for the split
            res[name]["stage_s"]["seconds_in_convert"] = _convert_seconds(res[name])
        doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(torch.device("cpu")), "versions": versions(),
               "command": "tests/support/floor.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "rounds": a.rounds, "methods": methods, "commands": {k: " ".join(v) for k, v in cmds.items()},
               "load_average": [min(r["load_average"][0] for r in res.values()),
                                max(r["load_average"][1] for r in res.values())],
               "results": res}
    write_pair(out.with_suffix(".json"), doc, render(doc))
    print(render(doc))
    return 0


def _convert_seconds(rec: dict) -> float:
    """convert()'s own wall seconds: setup + model + outside (``outside_model_s`` = seconds - model)."""
    st = rec["stage_s"]
    return st["model_s"] + st["outside_model_s"]


if __name__ == "__main__":
    sys.exit(main())

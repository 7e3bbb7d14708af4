"""RIFE on OpenVINO, model only: filmrt's compile settings against vs-mlrt's, and the per-op profile.

    python tests/support/ov_profile.py time [--rounds 5] [--pairs 8] [--configs ours-tput,ours-lat,vsmlrt]
    python tests/support/ov_profile.py profile [--config ours-lat] [--out bench/results/ov-profile-DATE]
    (both take --graph FILE.onnx: another exported RIFE graph)

The graph is the one the openvino backend reads: the fp32 portable RIFE 4.25 graph of the
exported-graph cache (``OpenVinoInterpolator("rife-4.25").cache_files``), reshaped to one 720p pair
padded as filmrt pads it (1 x 3 x 768 x 1280), inputs two real frames of ``bbb_720p25_audio.mp4``.

The configurations (``CONFIGS``):

- ``ours-tput``: the backend's chunk path: THROUGHPUT hint (2 streams x 1 thread on 2 cores), an
  ``AsyncInferQueue`` of OPTIMAL_NUMBER_OF_INFER_REQUESTS, one single-pair request per pair;
- ``ours-lat``: the backend's one-pair path: LATENCY hint, one request, ``infer``;
- ``vsmlrt``: what ``bench/peers_vs.py`` gets from vs-mlrt's plugin (``core.ov.Model`` with no
  ``config``: OpenVINO's CPU defaults, i.e. LATENCY, 1 stream, every core, pinning on; the plugin
  runs ``ConstantFolding`` on the read model before compiling) and one infer request per
  VapourSynth worker thread (``fmParallel``: 2 threads on 2 cores call ``infer`` at once);
- ``vsmlrt-ovcpu``: the same with ``vsmlrt.py``'s ``Backend.OV_CPU`` defaults
  (NUM_STREAMS=1, INFERENCE_NUM_THREADS=0, ENABLE_CPU_PINNING=YES, f32).

``time`` runs the configurations (``NAME`` or ``NAME@GRAPH.onnx``) interleaved (``--rounds``, the order turned each round), each
round ``--pairs`` pairs, and reports wall and process CPU seconds (user + system, every thread:
``resource.getrusage``) per pair. ``profile`` runs one configuration with ``PERF_COUNT`` and sums
``get_profiling_info()`` by op type and by node, writing ``.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips" / "bbb_720p25_audio.mp4"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def frames(n: int = 2) -> list[np.ndarray]:
    """Frames 0 and 2 of the clip as float32 (1, 3, 768, 1280) [0, 1], padded at the border."""
    import av

    out = []
    with av.open(str(CLIP)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 2 == 0:
                rgb = f.to_ndarray(format="rgb24").astype(np.float32) / 255.0
                h, w = rgb.shape[:2]
                ph, pw = -h % 64, -w % 64
                rgb = np.pad(rgb, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="edge")
                out.append(np.ascontiguousarray(rgb.transpose(2, 0, 1)[None]))
            if len(out) == n:
                return out
    raise SystemExit(f"{CLIP}: fewer than {2 * n} frames")


def graph_path(given: str | None = None) -> str:
    """``given``, else the graph the openvino backend reads for RIFE 4.25 (exported if missing)."""
    if given:
        return given
    from filmrt.engine.openvino_backend import OpenVinoInterpolator

    interp = OpenVinoInterpolator("rife-4.25")
    return str(interp.cache_files[0])


CONFIGS = {
    "ours-tput": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"},
    "ours-lat": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"},
    "vsmlrt": {},
    "vsmlrt-ovcpu": {"NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 0, "ENABLE_CPU_PINNING": "YES",
                     "INFERENCE_PRECISION_HINT": "f32"},
}
#: how each configuration is driven: ours-tput as the backend's AsyncInferQueue, vs-mlrt's by two
#: threads with a request each, ours-lat by one request
DRIVE = {"ours-tput": "queue", "ours-lat": "one", "vsmlrt": "threads", "vsmlrt-ovcpu": "threads"}
#: configurations tried beside those (the --configs list takes any of them)
EXTRA = {
    "ours-tput-nopin": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT",
                        "ENABLE_CPU_PINNING": "NO"},
    "ours-lat-nopin": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                       "ENABLE_CPU_PINNING": "NO"},
    "lat-1thread": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_NUM_THREADS": 1},
}
CONFIGS |= EXTRA
DRIVE |= {"ours-tput-nopin": "queue", "ours-lat-nopin": "one", "lat-1thread": "one"}

PROPS = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "ENABLE_CPU_PINNING",
         "INFERENCE_PRECISION_HINT", "OPTIMAL_NUMBER_OF_INFER_REQUESTS")


def compile_config(core, path: str, name: str, shape, perf: bool = False):
    import openvino as ov
    from openvino.passes import ConstantFolding, Manager

    model = core.read_model(path)
    model.reshape({"img0": list(shape), "img1": list(shape), "t": [shape[0]]})
    if name.startswith("vsmlrt"):
        m = Manager()
        m.register_pass(ConstantFolding())
        m.run_passes(model)
    cfg = dict(CONFIGS[name])
    if perf:
        cfg["PERF_COUNT"] = "YES"
    comp = core.compile_model(model, "CPU", cfg)
    props = {}
    for k in PROPS:
        try:
            props[k] = str(comp.get_property(k))
        except Exception:  # noqa: BLE001 - a property this version lacks
            pass
    return ov, comp, props


class Runner:
    """One configuration, compiled and ready: ``run(pairs)`` interpolates ``pairs`` pairs."""

    def __init__(self, core, path, name, f0, f1, perf=False):
        self.name, self.f0, self.f1 = name, f0, f1
        self.ov, self.comp, self.props = compile_config(core, path, name, f0.shape, perf)
        self.t = np.full((1,), 0.5, np.float32)
        self.drive = DRIVE[name]
        if self.drive == "queue":
            self.queue = self.ov.AsyncInferQueue(self.comp, int(self.comp.get_property(
                "OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
            self.queue.set_callback(lambda req, i: req.get_tensor("image").data.copy())
        elif self.drive == "one":
            self.req = self.comp.create_infer_request()
        else:
            self.reqs = [self.comp.create_infer_request() for _ in range(2)]

    def feeds(self):
        return {"img0": self.f0, "img1": self.f1, "t": self.t}

    def run(self, pairs: int) -> None:
        if self.drive == "queue":
            for i in range(pairs):
                self.queue.start_async(self.feeds(), userdata=i, share_inputs=True)
            self.queue.wait_all()
        elif self.drive == "one":
            for _ in range(pairs):
                self.req.infer(self.feeds(), share_inputs=True)
                self.req.get_tensor("image").data.copy()
        else:  # two threads, a request each, taking pairs from one counter (VapourSynth's workers)
            left = [pairs]
            lock = threading.Lock()

            def worker(req):
                while True:
                    with lock:
                        if left[0] == 0:
                            return
                        left[0] -= 1
                    req.infer(self.feeds(), share_inputs=True)
                    req.get_tensor("image").data.copy()

            ths = [threading.Thread(target=worker, args=(r,)) for r in self.reqs]
            for th in ths:
                th.start()
            for th in ths:
                th.join()


def cmd_time(args) -> dict:
    import openvino as ov

    core = ov.Core()
    path = graph_path(args.graph)
    f0, f1 = frames()
    names = args.configs.split(",")
    # NAME or NAME@GRAPH.onnx: a configuration on another graph (graphs compared in the same rounds)
    runners = {n: Runner(core, n.partition("@")[2] or path, n.partition("@")[0], f0, f1) for n in names}
    for r in runners.values():
        r.run(2)  # warm: first-call allocations
    res: dict = defaultdict(list)
    load = [os.getloadavg()]
    for rnd in range(args.rounds):
        order = names[rnd % len(names):] + names[: rnd % len(names)]
        for n in order:
            c0, w0 = cpu_s(), time.perf_counter()
            runners[n].run(args.pairs)
            w, c = time.perf_counter() - w0, cpu_s() - c0
            res[n].append((w / args.pairs, c / args.pairs))
        load.append(os.getloadavg())
    out = {"graph": path, "shape": list(f0.shape), "pairs_per_round": args.pairs, "rounds": args.rounds,
           "load": [list(x) for x in load], "configs": {}}
    print(f"graph {path}\nload {load[0]} .. {load[-1]}")
    print(f"{'config':16} {'wall s/pair (min, median)':28} {'CPU s/pair (min, median)':28} props")
    for n in names:
        ws, cs = [x[0] for x in res[n]], [x[1] for x in res[n]]
        out["configs"][n] = {"wall": ws, "cpu": cs, "props": runners[n].props,
                             "config": CONFIGS[n.partition("@")[0]]}
        print(f"{n:16} {min(ws):8.3f} {np.median(ws):8.3f}            {min(cs):8.3f} {np.median(cs):8.3f}"
              f"            {runners[n].props}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


def cmd_profile(args) -> dict:
    import openvino as ov

    core = ov.Core()
    path = graph_path(args.graph)
    f0, f1 = frames()
    r = Runner(core, path, args.config, f0, f1, perf=True)
    req = r.comp.create_infer_request()
    by_type: dict = defaultdict(lambda: [0.0, 0.0, 0])
    by_node: dict = defaultdict(lambda: [0.0, 0.0, "", ""])
    wall = []
    for i in range(args.calls + 1):
        w0 = time.perf_counter()
        req.infer(r.feeds(), share_inputs=True)
        w = time.perf_counter() - w0
        if i == 0:
            continue  # the first call allocates
        wall.append(w)
        for p in req.get_profiling_info():
            if p.status != p.Status.EXECUTED:
                continue
            real, cpu = p.real_time.total_seconds(), p.cpu_time.total_seconds()
            t = by_type[p.node_type]
            t[0] += real
            t[1] += cpu
            t[2] += 1
            nd = by_node[p.node_name]
            nd[0] += real
            nd[1] += cpu
            nd[2], nd[3] = p.node_type, p.exec_type
    k = args.calls
    total = sum(v[0] for v in by_type.values())
    types = sorted(({"type": t, "ms": v[0] / k * 1e3, "share": v[0] / total, "nodes": v[2] // k}
                    for t, v in by_type.items()), key=lambda d: -d["ms"])
    nodes = sorted(({"node": n, "type": v[2], "exec": v[3], "ms": v[0] / k * 1e3, "share": v[0] / total}
                    for n, v in by_node.items()), key=lambda d: -d["ms"])
    out = {"graph": path, "shape": list(f0.shape), "config": args.config, "props": r.props, "calls": k,
           "wall_ms": [w * 1e3 for w in wall], "sum_ms": total / k * 1e3, "by_type": types,
           "top_nodes": nodes[: args.top], "exec_types": _exec_types(nodes), "load": os.getloadavg()}
    print(_markdown(out))
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(out, indent=1))
        Path(args.out + ".md").write_text(_markdown(out))
    return out


def _exec_types(nodes) -> list:
    agg: dict = defaultdict(float)
    for n in nodes:
        agg[(n["type"], n["exec"])] += n["ms"]
    return sorted(({"type": t, "exec": e, "ms": ms} for (t, e), ms in agg.items()), key=lambda d: -d["ms"])


def _markdown(o) -> str:
    lines = [f"Graph `{Path(o['graph']).name}`, input {o['shape']}, config `{o['config']}` {o['props']}; "
             f"{o['calls']} calls, wall per call min {min(o['wall_ms']):.0f} ms, median "
             f"{float(np.median(o['wall_ms'])):.0f} ms; the counters sum to {o['sum_ms']:.0f} ms a call. "
             f"Load {o['load']}.", "", "| op type | ms / call | share | nodes |", "|---|---:|---:|---:|"]
    lines += [f"| {t['type']} | {t['ms']:.1f} | {100 * t['share']:.1f} % | {t['nodes']} |" for t in o["by_type"]]
    lines += ["", "| node | type | kernel | ms / call | share |", "|---|---|---|---:|---:|"]
    lines += [f"| {n['node'][:70]} | {n['type']} | {n['exec']} | {n['ms']:.1f} | {100 * n['share']:.1f} % |"
              for n in o["top_nodes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("time")
    t.add_argument("--rounds", type=int, default=5)
    t.add_argument("--pairs", type=int, default=8)
    t.add_argument("--configs", default="ours-tput,ours-lat,vsmlrt,vsmlrt-ovcpu")
    t.add_argument("--json")
    p = sub.add_parser("profile")
    p.add_argument("--config", default="ours-lat")
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--out")
    for sp in (t, p):
        sp.add_argument("--graph", help="an exported RIFE graph (default: the backend's, from the graph cache)")
    args = ap.parse_args()
    {"time": cmd_time, "profile": cmd_profile}[args.cmd](args)


if __name__ == "__main__":
    main()

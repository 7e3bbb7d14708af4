"""Model-only sections of bench/gpu_check.py: RIFE 4.25 (shipped weights) and FILM (random weights,
the released configuration) through the public interpolator, on frames already on the device.

What one cell measures (``ModelBench.cell``): interpolations/s of ``interp.interpolate`` at one
size, precision, batch and set of fast-path flags, called as a video conversion calls it (frame
keys advance by the batch, so FILM encodes each frame once and reuses it for the next pair), with
CUDA events after warm-up; the first call's seconds (compilation, autotuning); peak device memory;
achieved TFLOP/s from the counted FLOPs; and, against the plain path (flags ``none``) on the same
input, the largest output difference, so a fast path that is fast but wrong shows.

The order of the cells is the order of their value when time runs short: the fast-path flags one
by one at the main size (1080p) and batch 1, then every size and precision with the best flags,
then a batch ladder, then the best batch at the other sizes, then FILM's per-stage times.
``section_compile`` measures ``compile`` / ``cudagraphs`` on top of the best eager flags in a
process of its own, under its own time cap (torch.compile may take minutes).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

import torch

from filmrt.engine import open_interpolator
from filmrt.models.film import PAPER_CONFIG
from filmrt.options import RuntimeOptions
from filmrt.sizes import Size, parse_size

HERE = Path(__file__).resolve().parent


def _sibling(name: str):
    """A helper module of this folder, loaded by path (see gpu_check_sections._sibling)."""
    key = f"_filmrt_gpu_check_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]


measure = _sibling("gpu_check_measure")


def default_flags() -> str:
    """The fast-path flags the torch backend applies on CUDA when none are given."""
    try:
        from filmrt.engine.cuda.fast import DEFAULT  # engine internals: may move; "warp" is today's

        return ",".join(DEFAULT) or "none"
    except ImportError:
        return "warp"


def _warp_scope(flags: str):
    """Force the grid_sample warp for flag sets without ``warp``: the kernel, once registered by an
    interpolator of this process, is otherwise picked for every CUDA warp."""
    if "warp" in flags.split(","):
        return contextlib.nullcontext()
    try:
        from filmrt.warp import use_warp_impl

        return use_warp_impl("grid_sample")
    except (ImportError, KeyError):
        return contextlib.nullcontext()


class ModelBench:
    """Cells of one model on one device; interpolators and frames are kept between cells."""

    def __init__(self, cfg: dict, cells, model: str):
        self.cfg, self.cells, self.model = cfg, cells, model
        self.dev = torch.device(cfg["device"])
        self.sizes = [parse_size(s) for s in cfg["sizes"]]
        self.main = parse_size(cfg["main_size"])
        self.precisions = list(cfg["precisions"])
        self.weights = None
        self.config = None
        if model == "film":
            self.config = cfg.get("film_config") or dict(PAPER_CONFIG)
            path = Path(cfg["workdir"]) / "film-random.safetensors"
            self.weights = str(measure.random_film_weights(path, self.config))
        self._interps: dict = {}
        self._frames: dict = {}
        self._flops: dict = {}
        self.refs: dict = {}
        self.cudnn_benchmark = False

    def describe(self) -> dict:
        return {"model": self.model, "weights": self.weights or "shipped", "default_flags": default_flags(),
                "sizes": [str(s) for s in self.sizes], "main": str(self.main), "precisions": self.precisions}

    # -------------------------------------------------------------------------------- plumbing
    def interp(self, precision: str, flags: str):
        key = (precision, flags, self.cudnn_benchmark)
        if key not in self._interps:
            opts = RuntimeOptions(model=self.model, weights=self.weights, backend="torch", device=str(self.dev),
                                  precision=precision, max_batch=max(self.cfg["batches"]), fast=flags)
            self._interps[key] = open_interpolator(opts)
        return self._interps[key]

    def close(self) -> None:
        for it in self._interps.values():
            it.close()
        self._interps.clear()
        self._frames.clear()
        measure.free_device_memory(self.dev)

    def frames(self, size: Size, batch: int) -> torch.Tensor:
        """batch + 1 random frames (N, 3, H, W) float32 in [0, 1] on the device (never zeros)."""
        key = (size, batch)
        if key not in self._frames:
            g = torch.Generator(device=self.dev).manual_seed(batch)
            self._frames = {k: v for k, v in self._frames.items() if k[0] == size}  # bound memory
            self._frames[key] = torch.rand(batch + 1, 3, *size.hw, device=self.dev, generator=g)
        return self._frames[key]

    def flops(self, size: Size) -> dict | None:
        if size not in self._flops:
            self._flops[size] = self.cells.run(f"flops/{size}", lambda: measure.model_flops(
                self.model, self.config, *size.hw))
        return self._flops[size]

    # -------------------------------------------------------------------------------- one cell
    def cell(self, size: Size, precision: str, batch: int, flags: str) -> dict:
        """Interpolations/s of a keyed video-order call (see the module docstring)."""
        it = self.interp(precision, flags)
        x = self.frames(size, batch)
        a, b = x[:batch], x[1:]
        t = [0.5] * batch
        k = [0]

        def step():
            ka = list(range(k[0], k[0] + batch))
            k[0] += batch
            return it.interpolate(a, b, t, keys_a=ka, keys_b=[i + 1 for i in ka])

        stats0 = dict(getattr(it, "stats", {}))
        try:
            with _warp_scope(flags), measure.PeakMemory(self.dev) as mem:
                m = measure.measure_rate(step, batch, self.dev, self.cfg["cell_s"], self.cfg["min_groups"])
                out = it.interpolate(a[:1], b[:1], [0.5])
        finally:
            it.close()  # drop cached frame/pair states (also after an OOM): each cell starts from nothing
        stats = {key: v - stats0.get(key, 0) for key, v in getattr(it, "stats", {}).items()}
        fl = self.flops(size)
        row = {"model": self.model, "size": str(size), "hw": list(size.hw), "precision": precision, "batch": batch,
               "flags": flags, "cudnn_benchmark": self.cudnn_benchmark, "interp_per_s": m["rate"],
               "ms_per_call": m["ms_per_step"], "rate_min": m["rate_min"], "rate_max": m["rate_max"],
               "first_call_s": m["first_call_s"], "groups": m["groups"], "peak_mem_gib": mem.gib,
               "fast": _fast_report(it), "work": stats}
        if fl:
            row["tflops"] = fl["per_interp_video"] * m["rate"] / 1e12
        row["finite"] = bool(torch.isfinite(out).all())  # random FILM weights must not overflow fp16
        ref = self.refs.get((size, precision))
        if flags == "none" and not self.cudnn_benchmark:
            self.refs[(size, precision)] = out
        elif ref is not None and row["finite"] and bool(torch.isfinite(ref).all()):
            row["max_abs_vs_none"] = float((out - ref).abs().max())
        return row

    def stages(self, size: Size, precision: str, batch: int, flags: str) -> dict:
        """Milliseconds of FILM's encode_frame, encode_pair and decode on padded inputs."""
        it = self.interp(precision, flags)
        net = it.model
        dtype = next(net.parameters()).dtype
        hp, wp = measure.padded(*size.hw, getattr(net, "pad_multiple", 64))
        g = torch.Generator(device=self.dev).manual_seed(7)
        x0 = torch.rand(batch, 3, hp, wp, device=self.dev, generator=g).to(dtype)
        x1 = torch.rand(batch, 3, hp, wp, device=self.dev, generator=g).to(dtype)
        t = torch.full((batch,), 0.5, device=self.dev, dtype=dtype)
        reps = self.cfg["stage_reps"]
        with torch.inference_mode(), _warp_scope(flags):
            s0, s1 = net.encode_frame(x0), net.encode_frame(x1)
            pair = net.encode_pair(s0, s1)
            ms = {"encode_frame": measure.time_ms(lambda: net.encode_frame(x0), self.dev, 1, reps),
                  "encode_pair": measure.time_ms(lambda: net.encode_pair(s0, s1), self.dev, 1, reps),
                  "decode": measure.time_ms(lambda: net.decode(s0, s1, pair, t), self.dev, 1, reps)}
        total = sum(v["median_ms"] for v in ms.values())
        row = {"size": str(size), "precision": precision, "batch": batch, "flags": flags,
               **{f"{k}_ms": v["median_ms"] for k, v in ms.items()},
               "video_ms_per_interp": total / batch, "video_interp_per_s": 1e3 * batch / total}
        fl = self.flops(size)
        if fl:
            for k in ms:
                row[f"{k}_tflops"] = fl[k] * batch / (ms[k]["median_ms"] * 1e-3) / 1e12
        return row


def _fast_report(it) -> dict | None:
    fast = getattr(it, "fast", None)
    if fast is None:
        return None
    return {"applied": list(getattr(fast, "applied", [])), "skipped": dict(getattr(fast, "skipped", {}))}


def _name(size: Size, precision: str, batch: int, flags: str, cudnn: bool = False) -> str:
    return f"{size}/{precision}/b{batch}/{flags}" + ("+cudnn_benchmark" if cudnn else "")


def _rate(row: dict | None) -> float:
    return row["interp_per_s"] if row else 0.0


# ------------------------------------------------------------------------------------ sections
def section_models(cfg: dict, cells) -> None:
    """Every cell of one model (``cfg["params"]["model"]``), in the order of the module docstring."""
    model = cfg["params"]["model"]
    mb = cells.call("setup", lambda: ModelBench(cfg, cells, model), describe=ModelBench.describe)
    if mb is None:
        return
    try:
        best = _ablation(mb, cells)
        _sweep(mb, cells, best["flags"])
        best["batch"] = _ladder(mb, cells, best["flags"])
        _other_sizes(mb, cells, best["flags"], best["batch"])
        best["precision"] = _faster_precision(mb, cells, best["flags"])
        if model == "film":
            _film_stages(mb, cells, best["flags"], best["batch"])
        cells.note("best", best)
    finally:
        mb.close()


def _ablation(mb: ModelBench, cells) -> dict:
    """Each fast-path flag set at the main size, first precision, batch 1 (``none`` first: the
    reference the others are compared with); then cuDNN autotuning on top of the best set."""
    prec = mb.precisions[0]
    rows = {}
    for flags in mb.cfg["flag_sets"]:
        rows[flags] = cells.run(_name(mb.main, prec, 1, flags), lambda f=flags: mb.cell(mb.main, prec, 1, f),
                                need_s=3)
    ok = {f: r for f, r in rows.items() if r}
    best = max(ok, key=lambda f: _rate(ok[f])) if ok else default_flags()
    out = {"flags": best, "cudnn_benchmark": False}
    if mb.dev.type == "cuda" and ok:
        mb.cudnn_benchmark = True
        torch.backends.cudnn.benchmark = True
        r = cells.run(_name(mb.main, prec, 1, best, True), lambda: mb.cell(mb.main, prec, 1, best), need_s=3)
        if not r or _rate(r) < 1.03 * _rate(ok[best]):
            mb.cudnn_benchmark = False
            torch.backends.cudnn.benchmark = False
        out["cudnn_benchmark"] = mb.cudnn_benchmark
    return out


def _sweep(mb: ModelBench, cells, flags: str) -> None:
    for size in [mb.main, *[s for s in mb.sizes if s != mb.main]]:
        for prec in mb.precisions:
            name = _name(size, prec, 1, flags, mb.cudnn_benchmark)
            cells.run(name, lambda s=size, p=prec: mb.cell(s, p, 1, flags), need_s=3)


def _ladder(mb: ModelBench, cells, flags: str) -> int:
    """Batches up the ladder at the main size while the rate still grows by >= 5 %."""
    prec = mb.precisions[0]
    best_b = 1
    best = cells.result(_name(mb.main, prec, 1, flags, mb.cudnn_benchmark))
    for b in [x for x in mb.cfg["batches"] if x > 1]:
        r = cells.run(_name(mb.main, prec, b, flags, mb.cudnn_benchmark),
                      lambda b=b: mb.cell(mb.main, prec, b, flags), need_s=4)
        if not r:
            break
        if _rate(r) > _rate(best):
            grew = _rate(r) >= 1.05 * _rate(best)
            best_b, best = b, r
            if not grew:
                break
        else:
            break
    return best_b


def _other_sizes(mb: ModelBench, cells, flags: str, batch: int) -> None:
    if batch <= 1:
        return
    prec = mb.precisions[0]
    for size in [s for s in mb.sizes if s != mb.main]:
        b = batch
        while b > 1:  # a large batch may not fit at 2160p: halve until it does
            r = cells.run(_name(size, prec, b, flags, mb.cudnn_benchmark),
                          lambda s=size, b=b: mb.cell(s, prec, b, flags), need_s=4)
            if r:
                break
            measure.free_device_memory(mb.dev)
            b //= 2


def _faster_precision(mb: ModelBench, cells, flags: str) -> str:
    rates = {p: _rate(cells.result(_name(mb.main, p, 1, flags, mb.cudnn_benchmark))) for p in mb.precisions}
    return max(rates, key=rates.get)


def _film_stages(mb: ModelBench, cells, flags: str, batch: int) -> None:
    prec = mb.precisions[0]
    plan = [(s, 1) for s in [mb.main, *[s for s in mb.sizes if s != mb.main]]]
    if batch > 1:
        plan.append((mb.main, batch))
    for size, b in plan:
        cells.run(f"stages/{size}/{prec}/b{b}/{flags}", lambda s=size, b=b: mb.stages(s, prec, b, flags),
                  need_s=3)


def section_compile(cfg: dict, cells) -> None:
    """``compile`` or ``cudagraphs`` (``cfg["params"]["flag"]``) on top of the best eager flags of
    the model's section, at the main size, first precision, batch 1; the first call's seconds are
    the compilation time. The eager reference output is recomputed here for the comparison."""
    model, flag = cfg["params"]["model"], cfg["params"]["flag"]
    base = (cfg.get("best") or {}).get("flags") or default_flags()
    flags = flag if base == "none" else f"{base},{flag}"
    mb = cells.call("setup", lambda: ModelBench(cfg, cells, model), describe=ModelBench.describe)
    if mb is None:
        return
    cells.note("flags", flags)
    prec = mb.precisions[0]
    try:
        cells.run(_name(mb.main, prec, 1, "none"), lambda: mb.cell(mb.main, prec, 1, "none"), need_s=5)
        cells.run(_name(mb.main, prec, 1, flags), lambda: mb.cell(mb.main, prec, 1, flags), need_s=20)
    finally:
        mb.close()


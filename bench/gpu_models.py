"""Model-only sections of the GPU profile: RIFE 4.25 (shipped weights) and FILM (random weights, the
released configuration) through the public interpolator, on frames already on the device.

One cell (:meth:`ModelBench.cell`) is the interpolations/s of ``interp.interpolate`` at one size,
precision, batch and set of fast-path flags, called as a video conversion calls it (frame keys
advance by the batch, so FILM encodes each frame once and reuses it for the next pair), timed by
:func:`filmrt.bench.timing.measure`; with the first call's seconds (compilation, autotuning), peak
device memory, achieved TFLOP/s from the counted FLOPs (:mod:`filmrt.bench.flops`) and, against the
plain path (flags ``none``) on the same input, the largest output difference: a fast path that is
fast but wrong shows.

The cells run in the order of their value when time runs short: the fast-path flags one by one at
the main size and batch 1, then every size and precision with the best flags, a batch ladder, the
best batch at the other sizes, then FILM's per-stage times. :func:`section_compile` measures
``compile`` / ``cudagraphs`` on top of the best eager flags, in a process and under a cap of its own.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from filmrt.bench.context import ModelCache
from filmrt.bench.film_stages import stage_row
from filmrt.bench.flops import film_stage_flops, model_flops
from filmrt.bench.timing import device_peak_mib, measure
from filmrt.engine import open_interpolator
from filmrt.engine.cuda.fast import DEFAULT as DEFAULT_FLAGS
from filmrt.models import get_spec
from filmrt.sizes import Size, parse_size
from filmrt.stages import STAGES
from filmrt.warp import use_warp_impl


def default_flags() -> str:
    """The fast-path flags the torch backend applies on CUDA when none are given."""
    return ",".join(DEFAULT_FLAGS) or "none"


def _warp_scope(flags: str):
    """The grid_sample warp for flag sets without ``warp``: the kernel, once registered by an
    interpolator of this process, is otherwise picked for every CUDA warp."""
    return contextlib.nullcontext() if "warp" in flags.split(",") else use_warp_impl("grid_sample")


class ModelBench:
    """Cells of one model on one device; interpolators and frames are kept between cells."""

    def __init__(self, cfg: dict, cells, model: str):
        self.cfg, self.cells, self.model = cfg, cells, model
        self.dev = torch.device(cfg["device"])
        self.sizes = [parse_size(s) for s in cfg["sizes"]]
        self.main = parse_size(cfg["main_size"])
        self.precisions = list(cfg["precisions"])
        self.cache = ModelCache(Path(cfg["workdir"]), {"film": cfg["film_config"]} if cfg.get("film_config") else None)
        self.weights = self.cache.weights_for(model)
        self._interps: dict = {}
        self._frames: dict = {}
        self._flops: dict = {}
        self.refs: dict = {}
        self.cudnn_benchmark = False

    def describe(self) -> dict:
        return {"model": self.model, "weights": self.weights.description, "default_flags": default_flags(),
                "sizes": [str(s) for s in self.sizes], "main": str(self.main), "precisions": self.precisions}

    def interp(self, precision: str, flags: str):
        key = (precision, flags, self.cudnn_benchmark)
        if key not in self._interps:
            self._interps[key] = open_interpolator(self.cache.runtime(
                self.model, backend="torch", device=str(self.dev), precision=precision,
                max_batch=max(self.cfg["batches"]), fast=flags))
        return self._interps[key]

    def close(self) -> None:
        for it in self._interps.values():
            it.close()
        self._interps.clear()
        self._frames.clear()
        if self.dev.type == "cuda":
            torch.cuda.empty_cache()

    def frames(self, size: Size, batch: int) -> torch.Tensor:
        """batch + 1 random frames (N, 3, H, W) float32 in [0, 1] on the device (never zeros); the
        first two are the same at every batch (drawn on the CPU, in order), so every output of the
        first pair can be compared with the plain path's."""
        key = (size, batch)
        if key not in self._frames:
            g = torch.Generator().manual_seed(0)
            self._frames = {k: v for k, v in self._frames.items() if k[0] == size}  # bound memory
            self._frames[key] = torch.rand(batch + 1, 3, *size.hw, generator=g).to(self.dev)
        return self._frames[key]

    def flops(self, size: Size) -> dict | None:
        """Counted FLOPs of one interpolation in video order (a staged model: per stage, features once)."""
        def count():
            net = self.cache.module(self.model, torch.device("cpu"))
            if get_spec(self.model).staged:
                st = film_stage_flops(net, *size.hw)
                return {**st, "per_interp_video": sum(st.values())}
            return {"per_interp_video": model_flops(net, *size.hw)["flops"]}
        if size not in self._flops:
            self._flops[size] = self.cells.run(f"flops/{size}", count)
        return self._flops[size]

    def cell(self, size: Size, precision: str, batch: int, flags: str) -> dict:
        """Interpolations/s of a keyed video-order call (see the module docstring)."""
        it = self.interp(precision, flags)
        x = self.frames(size, batch)
        a, b, t, k = x[:batch], x[1:], [0.5] * batch, [0]

        def step():
            ka = list(range(k[0], k[0] + batch))
            k[0] += batch
            return it.interpolate(a, b, t, keys_a=ka, keys_b=[i + 1 for i in ka])

        stats0 = dict(getattr(it, "stats", {}))
        try:
            with _warp_scope(flags):
                device_peak_mib(self.dev, reset=True)
                # two warm-up calls (compilation, autotuning), then >= 3 calls and ~cell_s / 2 of them;
                # a call slower than the whole budget is measured once (its warm-up)
                m = measure(step, self.dev, warmup=2, repeats=3, budget_s=4 * self.cfg["cell_s"],
                            min_time_s=self.cfg["cell_s"] / 2)
                out = it.interpolate(a[:1], b[:1], [0.5])
                peak = device_peak_mib(self.dev)
        finally:
            it.close()  # drop cached frame/pair states (also after an OOM): each cell starts from nothing
        fast = getattr(it, "fast", None)
        row = {"model": self.model, "size": str(size), "hw": list(size.hw), "precision": precision, "batch": batch,
               "flags": flags, "cudnn_benchmark": self.cudnn_benchmark, "interp_per_s": batch * 1e3 / m["median_ms"],
               "ms_per_call": m["median_ms"], "rate_min": batch * 1e3 / m["max_ms"],
               "rate_max": batch * 1e3 / m["min_ms"], "first_call_s": (m["first_ms"] or 0) / 1e3, "groups": m["n"],
               "peak_mem_gib": peak and peak / 1024,
               "work": {key: v - stats0.get(key, 0) for key, v in getattr(it, "stats", {}).items()},
               "fast": None if fast is None else {"applied": list(getattr(fast, "applied", [])),
                                                  "skipped": dict(getattr(fast, "skipped", {}))}}
        fl = self.flops(size)
        if fl:
            row["tflops"] = fl["per_interp_video"] * row["interp_per_s"] / 1e12
        row["finite"] = bool(torch.isfinite(out).all())  # random FILM weights must not overflow fp16
        ref = self.refs.get((size, precision))
        if flags == "none" and not self.cudnn_benchmark:
            self.refs[(size, precision)] = out
        elif ref is not None and row["finite"] and bool(torch.isfinite(ref).all()):
            row["max_abs_vs_none"] = float((out - ref).abs().max())
        return row

    def stages(self, size: Size, precision: str, batch: int, flags: str) -> dict:
        """Milliseconds of each FILM stage (:func:`filmrt.bench.film_stages.stage_row`), as a video runs them."""
        net = self.interp(precision, flags).model
        with _warp_scope(flags):
            row = stage_row(net, net, size, precision, self.dev, batch, warmup=1, repeats=self.cfg["stage_reps"],
                            budget_s=5.0, min_time_s=0)
        total = sum(row[f"{k}_ms"] for k in STAGES)
        row.update(flags=flags, video_ms_per_interp=total / batch, video_interp_per_s=1e3 * batch / total)
        fl = self.flops(size)
        for k in STAGES if fl else ():
            row[f"{k}_tflops"] = fl[k] * batch / (row[f"{k}_ms"] * 1e-3) / 1e12
        return row


def _name(size: Size, precision: str, batch: int, flags: str, cudnn: bool = False) -> str:
    return f"{size}/{precision}/b{batch}/{flags}" + ("+cudnn_benchmark" if cudnn else "")


def _rate(row: dict | None) -> float:
    return row["interp_per_s"] if row else 0.0


def section_models(cfg: dict, cells) -> None:
    """Every cell of one model (``cfg["params"]["model"]``), in the order of the module docstring."""
    model = cfg["params"]["model"]
    mb = cells.call("setup", lambda: ModelBench(cfg, cells, model), describe=ModelBench.describe)
    if mb is None:
        return
    try:
        best = _ablation(mb, cells)
        flags, prec = best["flags"], mb.precisions[0]
        for size in [mb.main, *[s for s in mb.sizes if s != mb.main]]:  # every size and precision
            for p in mb.precisions:
                cells.run(_name(size, p, 1, flags, mb.cudnn_benchmark), lambda s=size, p=p: mb.cell(s, p, 1, flags),
                          need_s=3)
        best["batch"] = _ladder(mb, cells, flags)
        _other_sizes(mb, cells, flags, best["batch"])
        rates = {p: _rate(cells.result(_name(mb.main, p, 1, flags, mb.cudnn_benchmark))) for p in mb.precisions}
        best["precision"] = max(rates, key=rates.get)
        if get_spec(model).staged:
            plan = [(s, 1) for s in [mb.main, *[s for s in mb.sizes if s != mb.main]]]
            for size, b in plan + ([(mb.main, best["batch"])] if best["batch"] > 1 else []):
                cells.run(f"stages/{size}/{prec}/b{b}/{flags}", lambda s=size, b=b: mb.stages(s, prec, b, flags),
                          need_s=3)
        cells.note("best", best)
    finally:
        mb.close()


def _ablation(mb: ModelBench, cells) -> dict:
    """Each fast-path flag set at the main size, first precision, batch 1 (``none`` first: the
    reference the others are compared with); then cuDNN autotuning on top of the best set."""
    prec = mb.precisions[0]
    rows = {f: cells.run(_name(mb.main, prec, 1, f), lambda f=f: mb.cell(mb.main, prec, 1, f), need_s=3)
            for f in mb.cfg["flag_sets"]}
    ok = {f: r for f, r in rows.items() if r}
    best = max(ok, key=lambda f: _rate(ok[f])) if ok else default_flags()
    if mb.dev.type == "cuda" and ok:
        mb.cudnn_benchmark = torch.backends.cudnn.benchmark = True
        r = cells.run(_name(mb.main, prec, 1, best, True), lambda: mb.cell(mb.main, prec, 1, best), need_s=3)
        if not r or _rate(r) < 1.03 * _rate(ok[best]):
            mb.cudnn_benchmark = torch.backends.cudnn.benchmark = False
    return {"flags": best, "cudnn_benchmark": mb.cudnn_benchmark}


def _ladder(mb: ModelBench, cells, flags: str) -> int:
    """Batches up the ladder at the main size while the rate still grows by >= 5 %."""
    prec, best_b = mb.precisions[0], 1
    best = cells.result(_name(mb.main, prec, 1, flags, mb.cudnn_benchmark))
    for b in [x for x in mb.cfg["batches"] if x > 1]:
        r = cells.run(_name(mb.main, prec, b, flags, mb.cudnn_benchmark), lambda b=b: mb.cell(mb.main, prec, b, flags),
                      need_s=4)
        if not r or _rate(r) <= _rate(best):
            break
        grew = _rate(r) >= 1.05 * _rate(best)
        best_b, best = b, r
        if not grew:
            break
    return best_b


def _other_sizes(mb: ModelBench, cells, flags: str, batch: int) -> None:
    prec = mb.precisions[0]
    for size in [s for s in mb.sizes if s != mb.main] if batch > 1 else ():
        b = batch
        while b > 1:  # a large batch may not fit at 2160p: halve until it does
            if cells.run(_name(size, prec, b, flags, mb.cudnn_benchmark), lambda s=size, b=b: mb.cell(s, prec, b, flags),
                         need_s=4):
                break
            mb.close()
            b //= 2


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

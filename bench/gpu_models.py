"""The GPU check's model-only sections: RIFE 4.25 (shipped weights) and FILM (released configuration,
random weights) through the public interpolator, on frames already on the device.

A cell (:meth:`ModelBench.cell`) is the interpolations/s of keyed video-order calls at one size,
precision, batch and set of fast-path flags, with its first call's seconds, peak memory, TFLOP/s
and its largest difference from the plain path (flags ``none``). :func:`section_models` runs them
in the order of their value: the flags at the main size, then sizes and precisions with the best
flags (:func:`best_flags`), a batch ladder, FILM's stages, and last ``compile`` and ``cudagraphs``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from filmrt.bench.film_stages import stage_row
from filmrt.bench.flops import film_stage_flops, model_flops
from filmrt.bench.gpu_report import MAX_ABS_OK
from filmrt.bench.settings import ModelCache
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
        self._interps, self._frames, self._flops, self.refs = {}, {}, {}, {}
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
        if (size, batch) not in self._frames:
            self._frames = {k: v for k, v in self._frames.items() if k[0] == size}  # bound memory
            self._frames[(size, batch)] = torch.rand(batch + 1, 3, *size.hw,
                                                     generator=torch.Generator().manual_seed(0)).to(self.dev)
        return self._frames[(size, batch)]

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

    def run(self, size: Size, precision: str, batch: int, flags: str, need_s: float = 3) -> dict | None:
        """:meth:`cell` as the section's cell ``SIZE/PRECISION/bBATCH/FLAGS[+cudnn_benchmark]`` (its row, or None)."""
        name = f"{size}/{precision}/b{batch}/{flags}" + ("+cudnn_benchmark" if self.cudnn_benchmark else "")
        return self.cells.run(name, lambda: self.cell(size, precision, batch, flags), need_s=need_s)

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
        try:  # the grid_sample warp for sets without "warp": a kernel registered earlier would be picked
            with contextlib.nullcontext() if "warp" in flags.split(",") else use_warp_impl("grid_sample"):
                device_peak_mib(self.dev, reset=True)
                # two warm-up calls (compilation, autotuning), then >= 3 calls and ~cell_s / 2 of them;
                # a call slower than the whole budget is measured once (its warm-up)
                m = measure(step, self.dev, warmup=2, repeats=3, budget_s=4 * self.cfg["cell_s"],
                            min_time_s=self.cfg["cell_s"] / 2)
                out = it.interpolate(a[:1], b[:1], [0.5])
                peak = device_peak_mib(self.dev)
        finally:
            it.close()  # drop cached frame/pair states (also after an OOM): each cell starts from nothing
        fast, fl = getattr(it, "fast", None), self.flops(size)
        row = {"model": self.model, "size": str(size), "hw": list(size.hw), "precision": precision, "batch": batch,
               "flags": flags, "cudnn_benchmark": self.cudnn_benchmark, "interp_per_s": batch * 1e3 / m["median_ms"],
               "ms_per_call": m["median_ms"], "rate_min": batch * 1e3 / m["max_ms"],
               "rate_max": batch * 1e3 / m["min_ms"], "first_call_s": (m["first_ms"] or 0) / 1e3, "groups": m["n"],
               "peak_mem_gib": peak and peak / 1024, "finite": bool(torch.isfinite(out).all()),  # fp16 overflow
               "work": {key: v - stats0.get(key, 0) for key, v in getattr(it, "stats", {}).items()},
               "fast": None if fast is None else {"applied": list(fast.applied), "skipped": dict(fast.skipped)}}
        if fl:
            row["tflops"] = fl["per_interp_video"] * row["interp_per_s"] / 1e12
        ref = self.refs.get((size, precision))
        if flags == "none" and not self.cudnn_benchmark:
            self.refs[(size, precision)] = out
        elif ref is not None and row["finite"] and bool(torch.isfinite(ref).all()):
            row["max_abs_vs_none"] = float((out - ref).abs().max())
        return row

    def stages(self, size: Size, precision: str, batch: int, flags: str) -> dict:
        """Milliseconds of each FILM stage (:func:`filmrt.bench.film_stages.stage_row`), as a video runs them."""
        net = self.interp(precision, flags).model
        with contextlib.nullcontext() if "warp" in flags.split(",") else use_warp_impl("grid_sample"):
            row = stage_row(net, net, size, precision, self.dev, batch, warmup=1, repeats=self.cfg["stage_reps"],
                            budget_s=5.0, min_time_s=0)
        total = sum(row[f"{k}_ms"] for k in STAGES)
        row.update(flags=flags, video_ms_per_interp=total / batch, video_interp_per_s=1e3 * batch / total)
        fl = self.flops(size)
        for k in STAGES if fl else ():
            row[f"{k}_tflops"] = fl[k] * batch / (row[f"{k}_ms"] * 1e-3) / 1e12
        return row


def _rate(row: dict | None) -> float:
    return row["interp_per_s"] if row else 0.0


def best_flags(rows: dict) -> str:
    """The fastest flag set of ``rows`` ({flags: row or None}) whose every flag was applied (on the CPU,
    or without the kernel, none is) and whose output stays within ``MAX_ABS_OK`` of the plain path;
    the default flags when none qualifies."""
    def usable(r: dict) -> bool:
        got = {f for a in (r.get("fast") or {}).get("applied") or [] for f in a.split("+")}
        return (r.get("max_abs_vs_none") or 0) <= MAX_ABS_OK and set(r["flags"].split(",")) - {"none"} <= got
    rates = {f: r["interp_per_s"] for f, r in rows.items() if r and usable(r)}
    return max(rates, key=rates.get) if rates else default_flags()


def section_models(cfg: dict, cells) -> None:
    """Every cell of one model (``cfg["params"]["model"]``), in the order of the module docstring;
    the choices taken on the way are the section's note ``best``."""
    mb = cells.call("setup", lambda: ModelBench(cfg, cells, cfg["params"]["model"]), describe=ModelBench.describe)
    if mb is None:
        return
    main, prec, others = mb.main, mb.precisions[0], [s for s in mb.sizes if s != mb.main]
    try:
        # each flag set ("none" first: the reference), then cuDNN autotuning on top of the best (kept if >= 3 %)
        rows = {f: mb.run(main, prec, 1, f) for f in cfg["flag_sets"]}
        flags = best_flags(rows)
        if mb.dev.type == "cuda" and rows.get(flags):
            mb.cudnn_benchmark = torch.backends.cudnn.benchmark = True
            if _rate(mb.run(main, prec, 1, flags)) < 1.03 * _rate(rows[flags]):
                mb.cudnn_benchmark = torch.backends.cudnn.benchmark = False
        for size in [main, *others]:  # every size and precision with those flags
            for p in mb.precisions:
                mb.run(size, p, 1, flags)
        by_prec = {p: _rate(mb.run(main, p, 1, flags)) for p in mb.precisions}  # done cells: their rows
        batch, best = 1, _rate(mb.run(main, prec, 1, flags))
        for b in cfg["batches"][1:]:  # the ladder, while the rate still grows by >= 5 %
            r = _rate(mb.run(main, prec, b, flags, need_s=4))
            batch, best, grew = (b, r, r >= 1.05 * best) if r > best else (batch, best, False)
            if not grew:
                break
        for size in others if batch > 1 else ():  # the best batch at the other sizes, halved until it fits
            b = batch
            while b > 1 and mb.run(size, prec, b, flags, need_s=4) is None:
                mb.close()
                b //= 2
        if get_spec(mb.model).staged:
            for size, b in [(s, 1) for s in [main, *others]] + ([(main, batch)] if batch > 1 else []):
                cells.run(f"stages/{size}/{prec}/b{b}/{flags}", lambda s=size, b=b: mb.stages(s, prec, b, flags),
                          need_s=3)
        cells.note("best", {"flags": flags, "cudnn_benchmark": mb.cudnn_benchmark, "batch": batch,
                            "precision": max(by_prec, key=by_prec.get)})
        for extra in (extra if flags == "none" else f"{flags},{extra}" for extra in cfg["compile_flags"]):
            if mb.dev.type == "cuda":  # the compilation needs the GPU's toolchain (Triton)
                mb.run(main, prec, 1, extra, need_s=20)
            else:
                cells.skip(f"{main}/{prec}/b1/{extra}", "PyTorch sees no CUDA GPU: torch.compile is measured on CUDA only")
    finally:
        mb.close()

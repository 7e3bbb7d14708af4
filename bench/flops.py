"""Counted FLOPs (``FlopCounterMode`` on the meta device: convolutions and matmuls, 2 per MAC, no
arithmetic) and the matmul peak per precision they are compared against.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from filmrt.bench.timing import measure
from filmrt.machine import cpu_flags
from filmrt.padding import MULTIPLE, padded_size
from filmrt.stages import STAGES  # FILM's stage names: features, flow, fusion

#: published multiply-accumulates per 1080p interpolation (TMAC), checked against the count
EXPECTED_TMAC_1080P = {"film": 4.44}
_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def padded_hw(net: torch.nn.Module, h: int, w: int) -> tuple[int, int]:
    """(H, W) padded to the model's multiple (``net.pad_multiple``, else the project's 64)."""
    mult = getattr(net, "pad_multiple", MULTIPLE)
    return padded_size(h, mult), padded_size(w, mult)


def count_flops(net: torch.nn.Module, fn: Callable[[torch.nn.Module, torch.device], object]) -> int:
    """FLOPs (conv + matmul, 2 per MAC) of ``fn(net_copy, meta)``, counted on the meta device (shapes
    only). Every model of the registry runs there (film, rife-4.25, blend)."""
    dev = torch.device("meta")
    m = copy.deepcopy(net).to(dev)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        fn(m, dev)
    return int(fc.get_total_flops())


def model_flops(net: torch.nn.Module, h: int, w: int) -> dict:
    """Counted FLOPs of one interpolation at (h, w), padded as the model pads."""
    ph, pw = padded_hw(net, h, w)

    def call(m, dev):
        a = torch.zeros(1, 3, ph, pw, device=dev)
        m(a, a, torch.full((1,), 0.5, device=dev))

    flops = count_flops(net, call)
    return {"padded_hw": [ph, pw], "flops": flops, "macs": flops // 2, "counted_on": "meta",
            "flops_per_padded_pixel": flops / (ph * pw)}


def film_stage_flops(net: torch.nn.Module, h: int, w: int) -> dict:
    """Counted FLOPs of each stage of the staged protocol (meta device only), keyed by stage name."""
    ph, pw = padded_hw(net, h, w)

    def features(m, dev):
        m.encode_frame(torch.zeros(1, 3, ph, pw, device=dev))

    def flow(m, dev):
        s = m.encode_frame(torch.zeros(1, 3, ph, pw, device=dev))
        m.encode_pair(s, s)

    def whole(m, dev):
        s = m.encode_frame(torch.zeros(1, 3, ph, pw, device=dev))
        m.decode(s, s, m.encode_pair(s, s), torch.full((1,), 0.5, device=dev))

    # each count includes the stages before it: the differences are the stages' own
    cumulative = [count_flops(net, fn) for fn in (features, flow, whole)]
    own = [cumulative[0], cumulative[1] - cumulative[0], cumulative[2] - cumulative[1]]
    return dict(zip(STAGES, own, strict=True))


def matmul_peak(device: torch.device, precisions: Sequence[str], quick: bool) -> list[dict]:
    """Achieved FLOP/s of a square matmul, per precision: the practical ceiling of the device."""
    rows = []
    cuda = device.type == "cuda"
    n = (4096 if quick else 8192) if cuda else (1024 if quick else 2048)
    want = ["fp32", "tf32", "fp16", "bf16"] if cuda else ["fp32"]
    if not cuda and ("bf16" in precisions or {"amx_bf16", "avx512_bf16"} & set(cpu_flags())):
        want.append("bf16")  # AMX / AVX512-BF16: what a bf16 model could reach on this CPU
    for prec in want:
        if cuda and prec == "bf16" and prec not in precisions:
            continue
        a = torch.randn(n, n, device=device, dtype=_DTYPES[prec])
        b = torch.randn(n, n, device=device, dtype=_DTYPES[prec])
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        try:
            tm = measure(lambda a=a, b=b: torch.mm(a, b), device, warmup=2, repeats=10 if cuda else 5,
                         budget_s=10.0)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old
        flops = 2 * n**3
        rows.append({"precision": prec, "n": n, "timing": tm, "tflops": flops / (tm["median_ms"] * 1e-3) / 1e12})
    return rows


def peak_for(peaks: list[dict], precision: str, device: torch.device) -> float | None:
    """The matmul peak a model at ``precision`` is compared with (fp32 on CUDA: TF32, cuDNN's default)."""
    key = precision
    if device.type == "cuda" and precision == "fp32" and torch.backends.cudnn.allow_tf32:
        key = "tf32"
    for r in peaks:
        if r["precision"] == key:
            return r["tflops"]
    return None


def check_1080p(net: torch.nn.Module, expected_tmac: float) -> dict:
    """The counted MACs of one 1080p interpolation next to the published figure."""
    f = model_flops(net, 1080, 1920)
    return {"macs": f["macs"], "tmac": f["macs"] / 1e12, "padded_hw": f["padded_hw"], "expected_tmac": expected_tmac,
            "relative_difference": f["macs"] / (expected_tmac * 1e12) - 1}

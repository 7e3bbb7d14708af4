"""The torch backend on the CPU: a chunk of large pairs runs one pair at a time.

Why one at a time: engine/torch_backend.py, "Pairs one at a time on the CPU". What it guarantees:
a pair's output is bit-equal to the same pair run alone (``--batch 1``), whatever the chunk holds
beside it. A batched call does not give that: oneDNN picks its convolution kernels by batch size,
so a batch of 3 or 4 differs from single pairs in the last float32 bits, which RIFE's five flow
refinements carry into the picture (max 0.0016 at 720p on 2 threads, 0.03 at 512 x 576 on random
pictures, 2026-12-07); before this, a pair's pixels depended on how full its chunk was.
"""

from __future__ import annotations

import pytest
import torch

from filmrt.engine import torch_backend
from filmrt.engine.torch_backend import TorchInterpolator
from filmrt.options import RuntimeOptions


@pytest.fixture(scope="module")
def rife():
    return TorchInterpolator("rife-4.25", RuntimeOptions(device="cpu", threads=2))


def _pairs(n: int, h: int, w: int):
    g = torch.Generator().manual_seed(5)
    a = torch.rand(n, 3, h, w, generator=g)
    # b: a shifted by a few pixels plus noise, so the flows are not zero
    b = (torch.roll(a, shifts=(3, -5), dims=(2, 3)) + 0.05 * torch.rand(n, 3, h, w, generator=g)).clamp(0, 1)
    return a, b


@pytest.mark.parametrize("threads", [1, 2])
def test_a_pair_gives_the_same_bits_whatever_its_chunk(rife, threads):
    rife.threads = threads
    a, b = _pairs(3, 500, 530)  # pads to 512 x 576: above CPU_PAIR_PIXELS
    times = [0.25, 0.5, 0.8]
    calls = rife.stats["calls"]
    chunk = rife.interpolate(a, b, times)
    assert rife.stats["calls"] - calls == 3
    for i in range(3):
        alone = rife.interpolate(a[i : i + 1], b[i : i + 1], times[i])
        assert torch.equal(chunk[i : i + 1], alone)


def test_batched_call_differs_only_in_float32_noise(rife, monkeypatch):
    """The batched call of before, for scale: the same pairs, differences far below one 8-bit code
    (a wrong pairing or time would differ by tenths)."""
    rife.threads = 1
    a, b = _pairs(2, 500, 760)  # pads to 512 x 768
    times = [0.5, 0.5]
    one_by_one = rife.interpolate(a, b, times)
    monkeypatch.setattr(torch_backend, "CPU_PAIR_PIXELS", 1 << 40)
    calls = rife.stats["calls"]
    batched = rife.interpolate(a, b, times)
    assert rife.stats["calls"] - calls == 1
    assert float((one_by_one - batched).abs().mean()) < 1e-4


def test_small_frames_keep_the_batch(rife):
    a, b = _pairs(2, 64, 64)
    calls = rife.stats["calls"]
    rife.interpolate(a, b, 0.5)
    assert rife.stats["calls"] - calls == 1


# ------------------------------------------------------------------ the program's allocator setting
_FAULTS = """
import resource, sys, torch
from filmrt.cli.malloc import keep_freed_memory
if sys.argv[1] == "launch":  # the program's entry point, as `filmrt --version` runs it
    from filmrt.cli.launch import main
    try:
        main(["--version"])
    except SystemExit:
        pass
    applied = "launch"
else:
    applied = keep_freed_memory()
from filmrt.engine.torch_backend import TorchInterpolator
from filmrt.options import RuntimeOptions
interp = TorchInterpolator("rife-4.25", RuntimeOptions(device="cpu", threads=1))
a, b = torch.rand(1, 3, 512, 512), torch.rand(1, 3, 512, 512)
def faults_of_one_call():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    interp.interpolate(a, b, 0.5)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_one_call()
print(applied, min(faults_of_one_call() for _ in range(2)))
"""


def _faults(env_value: str | None, how: str = "call") -> tuple[bool, int]:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "FILMRT_MALLOC"}
    if env_value is not None:
        env["FILMRT_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", _FAULTS, how], env=env, capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()[-2:]
    return applied in ("True", "launch"), int(faults)


@pytest.mark.parametrize("how", ["call", "launch"])
def test_program_setting_keeps_freed_blocks(how):
    """A RIFE call at 512 x 512 after a warm-up: with glibc's defaults its large tensors are mapped
    and zero-filled again at every call (~20,000 page faults of 4 KiB); with the setting
    (made by the call, or by the program's entry point) they reuse the pages of the last call."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("the setting is glibc's mallopt")
    applied, kept = _faults(None, how)
    off, default = _faults("glibc", how)
    assert applied and (how == "launch" or not off)
    assert default > 5000 and kept < default / 10, (kept, default)

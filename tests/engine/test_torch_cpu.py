"""The torch backend on the CPU: the program's allocator setting (filmrt.cli.malloc).

glibc maps every tensor above its mmap threshold afresh and zero-fills it page by page; the
``filmrt`` program, when it runs ``--backend torch`` on the CPU, makes glibc keep freed blocks
instead. These tests run RIFE in a child process (the setting is process-wide) and count the
minor page faults of one call after a warm-up.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
import torch

from filmrt.cli.main import build_parser
from filmrt.cli.malloc import for_cpu_work, keep_freed_memory

_FAULTS = """
import resource, sys, torch
from filmrt.cli.malloc import keep_freed_memory
if sys.argv[1].startswith("program"):  # the program's own path: parse, setting, command (fails: no input)
    from filmrt.cli.launch import main
    how = ["--model", "blend"] if sys.argv[1] == "program-blend" else ["--backend", "torch"]
    main(["convert", "/nonexistent/in.mp4", "/nonexistent/out.mp4", *how, "--device", "cpu"])
    applied = "program"
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
print(applied, min(faults_of_one_call() for _ in range(3)))
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's mallopt")


def _faults(env_value: str | None, how: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "FILMRT_MALLOC"}
    if env_value is not None:
        env["FILMRT_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", _FAULTS, how], env=env, capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()[-2:]
    return applied, int(faults)


@glibc_only
@pytest.mark.parametrize("how", ["call", "program", "program-blend"])
def test_setting_keeps_freed_blocks(how):
    """A RIFE call at 512 x 512 after a warm-up: with glibc's defaults its large tensors are mapped
    and zero-filled again at every call (20,000-31,000 page faults of 4 KiB); with the setting
    (made by the call, or by the program for a torch-on-CPU command) they reuse the pages of
    earlier calls (0-5,000: the best of three calls, fragmentation can map a little anew);
    FILMRT_MALLOC=glibc turns it off."""
    applied, kept = _faults(None, how)
    off, default = _faults("glibc", how)
    assert applied in ("True", "program") and off in ("False", "program")
    assert default > 5000 and kept < default / 4, (kept, default)


@pytest.mark.parametrize(
    "argv, wanted",
    [
        (["convert", "a.mp4", "b.mp4", "--backend", "torch", "--device", "cpu"], True),
        (["convert", "a.mp4", "b.mp4", "--backend", "torch", "--device", "cuda"], False),
        (["convert", "a.mp4", "b.mp4", "--backend", "openvino", "--device", "cpu"], True),
        (["convert", "a.mp4", "b.mp4", "--model", "blend", "--device", "cpu"], True),
        (["live", "udp://127.0.0.1:1234", "out.ts", "--fps", "50", "--device", "cpu"], True),
        (["score", "a.mp4", "b.mp4"], False),  # not a work command: little goes through PyTorch
        (["bench", "--quick"], False),  # the bench measures allocators itself
    ],
)
def test_work_on_the_cpu_gets_it(argv, wanted):
    """Every backend on the CPU: the analysis and the colour conversion allocate through PyTorch too."""
    args = build_parser(argv[0]).parse_args(argv)
    assert for_cpu_work(args) is wanted


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto resolves to the GPU here")
def test_auto_device_without_a_gpu_gets_it():
    args = build_parser("convert").parse_args(["convert", "a.mp4", "b.mp4"])
    assert for_cpu_work(args) is True


@glibc_only
def test_not_when_main_is_called_as_a_function():
    """Tests and programs embedding filmrt call filmrt.cli.main.main: their allocator is theirs."""
    code = _FAULTS.replace("from filmrt.cli.launch import main", "from filmrt.cli.main import main")
    out = subprocess.run([sys.executable, "-c", code, "program"], capture_output=True, text=True, check=True)
    assert int(out.stdout.split()[-1]) > 5000


def test_the_variable_turns_it_off():
    assert keep_freed_memory({"FILMRT_MALLOC": "glibc"}) is False

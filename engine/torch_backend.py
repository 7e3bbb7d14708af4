"""The PyTorch backend: eager PyTorch on CPU or CUDA, fp32 / fp16 / bf16.

The model runs on padded float32 inputs cast to the compute precision; the output is cast back to
float32 by the Interpolator base class. On CPU, fp16 is slow and not recommended (bf16 works on
CPUs with AVX512-BF16/AMX).

Stage reuse. A model implementing the staged protocol (FILM: ``encode_frame``, ``encode_pair``,
``decode``; see :mod:`filmrt.models`) is not called as a whole. Within one ``_run`` chunk every
distinct frame is encoded once and every distinct pair's flows are computed once, then one batched
``decode`` produces all outputs: the same pair at t = 0.25, 0.5, 0.75 costs two feature passes,
one flow pass and three fusion passes. Frames are "the same" when their keys are equal or, without
keys, when their pixels are equal. With ``keys_a``/``keys_b`` the frame states and pair states are
also kept across calls in small LRU caches (``cache_frames``, ``cache_pairs`` entries; a FILM
frame state at 1080p is ~1.3 GB in fp32, so keep them small), so a video conversion encodes each
input frame once although it takes part in two pairs. ``stats`` counts the work done. The
bookkeeping is :class:`filmrt.stages.StagedRunner`, shared with the other backends.

Options. The class is constructed as ``TorchInterpolator(model, options)`` with a
:class:`filmrt.options.RuntimeOptions` (default: its defaults): ``device``, ``precision``,
``max_batch``, ``fast`` (CUDA fast path), ``threads`` and the cache sizes of ``options.torch``
(:class:`~filmrt.options.TorchSettings`). ``threads`` holds for this interpolator's own calls:
each ``_run`` sets PyTorch's intra-op thread count and puts the caller's back afterwards
(:func:`torch_threads`), so loading a model never changes the process's thread count.

The warp kernel. On CUDA, ``fast="warp"`` (the default there; :mod:`filmrt.engine.cuda.fast`)
runs the model's warps on the CUDA kernel: each ``_run`` is wrapped in
``filmrt.warp.use_warp_impl(self.warp_impl)``, so the choice holds for this interpolator's own
calls only, never for other code or other interpolators in the process.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterator

import torch

from filmrt.engine import resolve_device, resolve_precision
from filmrt.engine.cuda.fast import apply as apply_fast
from filmrt.interpolator import Interpolator
from filmrt.models import load_model
from filmrt.options import RuntimeOptions
from filmrt.padding import MULTIPLE
from filmrt.stages import StagedRunner, is_staged
from filmrt.warp import use_warp_impl

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``n`` for the ``with`` block (None: unchanged), the
    caller's count put back after it: a backend's ``threads`` never leaks into the caller's code."""
    before = torch.get_num_threads()
    if not n or n == before:
        yield
        return
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TorchInterpolator(Interpolator):
    backend = "torch"
    #: the torch module is run as it is: RIFE's flow scale can change per frame size
    flow_scale_settable = True

    def __init__(self, model: str | os.PathLike | torch.nn.Module, options: RuntimeOptions | None = None):
        options = options or RuntimeOptions()
        self.device = resolve_device(options.device)
        self.precision = resolve_precision(options.precision, self.device, backend="torch")
        #: CPU threads of this interpolator's calls (None: the caller's)
        self.threads = options.threads
        self.dtype = DTYPES[self.precision]
        self.max_batch = options.max_batch
        self.take_large_frame_options(options)  # --max-memory tiles, --flow-scale (filmrt.interpolator)
        net = model if isinstance(model, torch.nn.Module) else load_model(model, options.weights, self.device)
        self.model = net.to(self.device, self.dtype).eval()
        # speed-ups on CUDA (warp kernel, channels_last, compile); on a CPU every flag is skipped
        self.fast = apply_fast(self.model, self.device, options.fast)
        #: the warp this interpolator's model calls run with (None: filmrt.warp's reference)
        self.warp_impl = self.fast.warp
        self.model_name = net.name
        self.pad_align = getattr(net, "pad_align", "center")
        self.pad_multiple = getattr(net, "pad_multiple", MULTIPLE)
        self.staged = is_staged(net)
        #: work done so far: frames encoded, pairs encoded, outputs decoded (staged models),
        #: whole-model calls (others)
        self.stats = Counter({"frames": 0, "pairs": 0, "decodes": 0, "calls": 0})
        self.stages = (
            StagedRunner(
                lambda x: self.model.encode_frame(x.to(self.dtype)),
                lambda s0, s1: self.model.encode_pair(s0, s1),
                lambda s0, s1, pair, t: self.model.decode(s0, s1, pair, t.to(self.dtype)),
                cache_frames=options.torch.torch_cache_frames,
                cache_pairs=options.torch.torch_cache_pairs,
                tag=self.dtype,
                stats=self.stats,
            )
            if self.staged
            else None
        )

    @torch.inference_mode()
    def _run(self, a, b, t, keys_a=None, keys_b=None) -> torch.Tensor:
        scope = use_warp_impl(self.warp_impl) if self.warp_impl is not None else contextlib.nullcontext()
        with scope, torch_threads(self.threads):
            if self.stages is not None:
                return self.stages.run(a, b, t, keys_a, keys_b)
            self.stats["calls"] += 1
            return self.model(a.to(self.dtype), b.to(self.dtype), t.to(self.dtype))

    def close(self) -> None:
        if self.stages is not None:
            self.stages.clear()


def available(device: torch.device) -> tuple[bool, str]:
    if device.type == "cuda" and not torch.cuda.is_available():
        return False, "PyTorch sees no CUDA GPU"
    return True, ""

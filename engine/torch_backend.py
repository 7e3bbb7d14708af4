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
input frame once although it takes part in two pairs. ``stats`` counts the work done.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable, Sequence

import torch

from ..interpolator import Interpolator
from ..models import load_model

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


# -- helpers on stage states: nested dicts / lists / tuples of tensors with batch dim 0 ----------
def _tree_map(fn, s):
    if isinstance(s, torch.Tensor):
        return fn(s)
    if isinstance(s, dict):
        return {k: _tree_map(fn, v) for k, v in s.items()}
    if isinstance(s, (list, tuple)):
        return type(s)(_tree_map(fn, v) for v in s)
    return s


def _tree_cat(states: list):
    first = states[0]
    if len(states) == 1:
        return first
    if isinstance(first, torch.Tensor):
        return torch.cat(states, dim=0)
    if isinstance(first, dict):
        return {k: _tree_cat([s[k] for s in states]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_tree_cat([s[i] for s in states]) for i in range(len(first)))
    return first


def _tree_index(s, i: int):
    return _tree_map(lambda x: x[i : i + 1], s)


class _LRU:
    def __init__(self, size: int):
        self.size = max(0, int(size))
        self.data: OrderedDict = OrderedDict()

    def get(self, key):
        if key in self.data:
            self.data.move_to_end(key)
            return self.data[key]
        return None

    def put(self, key, value) -> None:
        if self.size == 0:
            return
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.size:
            self.data.popitem(last=False)

    def clear(self) -> None:
        self.data.clear()


class TorchInterpolator(Interpolator):
    backend = "torch"

    def __init__(
        self,
        model: str | os.PathLike | torch.nn.Module,
        *,
        weights: str | os.PathLike | None = None,
        device: torch.device = torch.device("cpu"),
        precision: str = "fp32",
        max_batch: int = 8,
        fast: str | bool | None = None,
        threads: int | None = None,
        cache_frames: int = 4,
        cache_pairs: int = 4,
    ):
        if threads:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        self.precision = precision
        self.dtype = DTYPES[precision]
        self.max_batch = max_batch
        net = model if isinstance(model, torch.nn.Module) else load_model(model, weights, self.device)
        self.model = net.to(self.device, self.dtype).eval()
        if self.device.type == "cuda":  # opt-in speed-ups (warp kernel, channels_last, compile): cuda_fast.py
            from .cuda_fast import apply as apply_fast

            self.fast = apply_fast(self.model, self.device, fast)
        self.model_name = net.name
        self.pad_align = getattr(net, "pad_align", "center")
        self.pad_multiple = getattr(net, "pad_multiple", 64)
        self.staged = all(callable(getattr(net, m, None)) for m in ("encode_frame", "encode_pair", "decode"))
        self._frames = _LRU(cache_frames)
        self._pairs = _LRU(cache_pairs)
        #: work done so far: frames encoded, pairs encoded, outputs decoded (staged models),
        #: whole-model calls (others)
        self.stats = {"frames": 0, "pairs": 0, "decodes": 0, "calls": 0}

    @torch.inference_mode()
    def _run(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        t: torch.Tensor,
        keys_a: Sequence[Hashable] | None,
        keys_b: Sequence[Hashable] | None,
    ) -> torch.Tensor:
        if not self.staged:
            self.stats["calls"] += 1
            return self.model(a.to(self.dtype), b.to(self.dtype), t.to(self.dtype))
        return self._run_staged(a, b, t, keys_a, keys_b)

    # -- staged models ------------------------------------------------------------------------
    def _frame_ids(self, a, b, keys_a, keys_b):
        """An identity per input frame: ("k", key, shape) with keys (cacheable), else by pixels.

        Without keys, frames with equal pixels share an identity; a cheap fingerprint (a sparse
        pixel subsample, one device sync for all frames) rules out most comparisons.
        """
        shape = (tuple(a.shape[1:]), self.dtype)
        n = a.shape[0]
        uniq: dict = {}  # id -> (3,H,W) tensor
        need_fp = keys_a is None or keys_b is None
        h, w = a.shape[-2:]
        fps = (
            [tuple(r) for r in torch.cat((a, b))[:, :, :: max(1, h // 8), :: max(1, w // 8)].flatten(1).tolist()]
            if need_fp else []
        )
        by_pixels: list = []  # (id, fingerprint, tensor) of frames without keys

        def ident(x: torch.Tensor, key, fp):
            if key is not None:
                fid = ("k", key, shape)
            else:
                fid = next((f for f, q, y in by_pixels if q == fp and torch.equal(x, y)), None)
                if fid is None:
                    fid = ("d", len(by_pixels))
                    by_pixels.append((fid, fp, x))
            uniq.setdefault(fid, x)
            return fid

        ids_a = [ident(a[i], None if keys_a is None else keys_a[i], fps[i] if fps else None) for i in range(n)]
        ids_b = [ident(b[i], None if keys_b is None else keys_b[i], fps[n + i] if fps else None) for i in range(n)]
        return ids_a, ids_b, uniq

    def _run_staged(self, a, b, t, keys_a, keys_b) -> torch.Tensor:
        m = self.model
        ids_a, ids_b, uniq = self._frame_ids(a, b, keys_a, keys_b)

        states: dict = {}
        for fid in uniq:
            if fid[0] == "k" and (hit := self._frames.get(fid)) is not None:
                states[fid] = hit
        todo = [f for f in uniq if f not in states]
        if todo:
            batch = torch.stack([uniq[f] for f in todo]).to(self.dtype)
            enc = m.encode_frame(batch)
            self.stats["frames"] += len(todo)
            for k, fid in enumerate(todo):
                states[fid] = _tree_index(enc, k)
                if fid[0] == "k":
                    self._frames.put(fid, _tree_map(torch.clone, states[fid]))

        pids = list(zip(ids_a, ids_b, strict=True))
        pairs: dict = {}
        for pid in dict.fromkeys(pids):
            if pid[0][0] == "k" and pid[1][0] == "k" and (hit := self._pairs.get(pid)) is not None:
                pairs[pid] = hit
        ptodo = [p for p in dict.fromkeys(pids) if p not in pairs]
        if ptodo:
            s0 = _tree_cat([states[p[0]] for p in ptodo])
            s1 = _tree_cat([states[p[1]] for p in ptodo])
            enc = m.encode_pair(s0, s1)
            self.stats["pairs"] += len(ptodo)
            for k, pid in enumerate(ptodo):
                pairs[pid] = _tree_index(enc, k)
                if pid[0][0] == "k" and pid[1][0] == "k":
                    self._pairs.put(pid, _tree_map(torch.clone, pairs[pid]))

        s0 = _tree_cat([states[f] for f in ids_a])
        s1 = _tree_cat([states[f] for f in ids_b])
        pair = _tree_cat([pairs[p] for p in pids])
        self.stats["decodes"] += len(pids)
        return m.decode(s0, s1, pair, t.to(self.dtype))

    def close(self) -> None:
        self._frames.clear()
        self._pairs.clear()


def available(device: torch.device) -> tuple[bool, str]:
    if device.type == "cuda" and not torch.cuda.is_available():
        return False, "PyTorch sees no CUDA GPU"
    return True, ""

"""Stage reuse for staged models (FILM), the ONE implementation every backend uses.

FILM splits into three stages whose work has different lifetimes:

- ``encode_frame``: a frame's feature pyramid, a property of ONE frame;
- ``encode_pair``: the flow pyramids, a property of one (frame0, frame1) PAIR;
- ``decode``: fusion, once per output TIME.

So converting 30 -> 120 fps needs one feature pass per input frame, one flow pass per pair and
three fusion passes per pair, not three whole-model calls. :class:`StagedRunner` does that
bookkeeping on one padded chunk (what :meth:`filmrt.interpolator.Interpolator._run` receives):

1. frame identities: ``("k", key, shape)`` from ``keys_a``/``keys_b`` (cacheable across calls);
   without keys, frames with equal pixels share one identity for this call only (a sparse pixel
   fingerprint, one device sync for all frames, rules out most comparisons);
2. every distinct frame not in the frame cache is encoded once (one batch, or chunks of
   ``chunk``), every distinct pair not in the pair cache once, then ONE batched decode;
3. keyed frame and pair states are kept in two small LRU caches (``cache_frames``,
   ``cache_pairs`` entries; a FILM frame state at 1080p is ~1.3 GB in fp32, keep them small);
4. ``stats`` counts ``frames`` and ``pairs`` encoded and ``decodes`` (outputs).

A backend supplies only its three stage callables on batches, in its own state types:

- ``encode_frames(frames)``: frames (n,3,H,W) float32 torch tensor -> batched frame state;
- ``encode_pairs(s0, s1)``: two batched frame states -> batched pair state;
- ``decode(s0, s1, pairs, t)``: batched states, t (n,) float32 torch tensor -> images (n,3,H,W).

A state is a tensor or a nested dict / list / tuple of them with the batch in dim 0, as torch
tensors (torch, TensorRT backends) or numpy arrays (ONNX Runtime backend); :func:`tree_cat` and
:func:`tree_split` stack and split them.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import torch

#: FILM's three stages, in order: the names of its stage graphs (``OUT.features.onnx`` ...) and
#: engines (``OUT.features.engine`` ...) for the exporter, the ort and trt backends and the builder
STAGES = ("features", "flow", "fusion")
#: the methods of the staged protocol, one per stage (see :mod:`filmrt.models`)
STAGE_METHODS = ("encode_frame", "encode_pair", "decode")
#: input-name prefixes of the two frames' states in the flow and fusion stage graphs
FRAME_PREFIXES = ("frame0.", "frame1.")
State = Any  # a tensor / array, or nested dict / list / tuple of them, batch in dim 0


def is_staged(module) -> bool:
    """Whether a model module implements the staged protocol (encode_frame / encode_pair / decode).

    For a registered model this is its spec's ``staged`` (:func:`filmrt.models.get_spec`); this
    check also covers a module built by hand."""
    return all(callable(getattr(module, m, None)) for m in STAGE_METHODS)


# ------------------------------------------------------------------------------- state trees
def tree_map(fn: Callable, s: State) -> State:
    """Apply ``fn`` to every tensor / array leaf of a state."""
    if isinstance(s, (torch.Tensor, np.ndarray)):
        return fn(s)
    if isinstance(s, dict):
        return {k: tree_map(fn, v) for k, v in s.items()}
    if isinstance(s, (list, tuple)):
        return type(s)(tree_map(fn, v) for v in s)
    return s


def tree_leaves(s: State) -> list:
    """The tensor / array leaves of a state, in order."""
    if isinstance(s, (torch.Tensor, np.ndarray)):
        return [s]
    if isinstance(s, dict):
        return [x for v in s.values() for x in tree_leaves(v)]
    if isinstance(s, (list, tuple)):
        return [x for v in s for x in tree_leaves(v)]
    return []


def tree_cat(states: Sequence[State]) -> State:
    """Concatenate states along the batch dim (torch.cat / np.concatenate at the leaves)."""
    first = states[0]
    if len(states) == 1:
        return first
    if isinstance(first, torch.Tensor):
        return torch.cat(list(states), dim=0)
    if isinstance(first, np.ndarray):
        return np.concatenate(states, axis=0)
    if isinstance(first, dict):
        return {k: tree_cat([s[k] for s in states]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(tree_cat([s[i] for s in states]) for i in range(len(first)))
    return first


def tree_split(s: State, n: int) -> list[State]:
    """A batched state -> n states of batch 1 (views into the batch)."""
    if n == 1:
        return [s]
    return [tree_map(lambda x, i=i: x[i : i + 1], s) for i in range(n)]


def _compact(x):
    """A copy that owns its memory: a cached view must not keep its whole batch alive."""
    return x.clone() if isinstance(x, torch.Tensor) else x.copy()


class LRU(OrderedDict):
    """A small least-recently-used map: ``get`` refreshes, ``put`` evicts the oldest."""

    def __init__(self, size: int):
        super().__init__()
        self.size = max(0, int(size))

    def get(self, key, default=None):
        if key in self:
            self.move_to_end(key)
            return self[key]
        return default

    def put(self, key, value) -> None:
        if self.size == 0:
            return
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


# ------------------------------------------------------------------------------- identities
def frame_ids(
    a: torch.Tensor,
    b: torch.Tensor,
    keys_a: Sequence[Hashable] | None,
    keys_b: Sequence[Hashable] | None,
    tag: Hashable = None,
) -> tuple[list, list, dict]:
    """An identity per input frame of a chunk a, b (n,3,H,W).

    With a key: ``("k", key, (C,H,W), tag)`` (cacheable across calls; the shape and ``tag``, e.g.
    the compute dtype, keep a key from matching a state of another size). Without: frames with
    equal pixels share ``("d", i)`` (this call only). Returns (ids_a, ids_b, {id: (3,H,W) frame}).
    """
    shape = tuple(a.shape[1:])
    n = a.shape[0]
    uniq: dict = {}
    need_fp = keys_a is None or keys_b is None
    h, w = a.shape[-2:]
    fps = (
        [tuple(r) for r in torch.cat((a, b))[:, :, :: max(1, h // 8), :: max(1, w // 8)].flatten(1).tolist()]
        if need_fp
        else []
    )
    by_pixels: list = []  # (id, fingerprint, frame) of frames without keys

    def ident(x: torch.Tensor, key, fp):
        if key is not None:
            fid = ("k", key, shape, tag)
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


def _keyed(fid) -> bool:
    return fid[0] == "k"


# ------------------------------------------------------------------------------- the runner
class StagedRunner:
    """Runs a staged model on padded chunks, reusing frame and pair work; see the module docstring.

    ``chunk``: largest batch given to ``encode_frames`` / ``encode_pairs`` (None: all at once).
    ``tag``: part of every keyed frame identity (e.g. the compute dtype).
    ``stats``: the counter to add ``frames``, ``pairs``, ``decodes`` to (the backend's ``stats``).
    """

    def __init__(
        self,
        encode_frames: Callable[[torch.Tensor], State],
        encode_pairs: Callable[[State, State], State],
        decode: Callable[[State, State, State, torch.Tensor], Any],
        *,
        cache_frames: int = 4,
        cache_pairs: int = 4,
        chunk: int | None = None,
        tag: Hashable = None,
        stats: Counter | dict | None = None,
    ):
        self.encode_frames, self.encode_pairs, self.decode = encode_frames, encode_pairs, decode
        self.frames = LRU(cache_frames)
        self.pairs = LRU(cache_pairs)
        self.chunk = chunk
        self.tag = tag
        self.stats = Counter() if stats is None else stats

    def _chunks(self, items: list) -> list[list]:
        step = self.chunk or max(1, len(items))
        return [items[s : s + step] for s in range(0, len(items), step)]

    def run(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        t: torch.Tensor,
        keys_a: Sequence[Hashable] | None = None,
        keys_b: Sequence[Hashable] | None = None,
    ):
        """Interpolate one padded chunk: a, b (n,3,H,W), t (n,); returns what ``decode`` returns."""
        ids_a, ids_b, uniq = frame_ids(a, b, keys_a, keys_b, self.tag)

        # per frame: encode the distinct frames not cached
        states: dict = {}
        for fid in uniq:
            if _keyed(fid) and (hit := self.frames.get(fid)) is not None:
                states[fid] = hit
        for todo in self._chunks([f for f in uniq if f not in states]):
            enc = self.encode_frames(torch.stack([uniq[f] for f in todo]))
            self.stats["frames"] += len(todo)
            for fid, s in zip(todo, tree_split(enc, len(todo)), strict=True):
                states[fid] = s
                if _keyed(fid):
                    self.frames.put(fid, tree_map(_compact, s) if len(todo) > 1 else s)

        # per pair: encode the distinct pairs not cached
        pids = list(zip(ids_a, ids_b, strict=True))
        distinct = list(dict.fromkeys(pids))
        pairs: dict = {}
        for pid in distinct:
            if _keyed(pid[0]) and _keyed(pid[1]) and (hit := self.pairs.get(pid)) is not None:
                pairs[pid] = hit
        for todo in self._chunks([p for p in distinct if p not in pairs]):
            s0 = tree_cat([states[p[0]] for p in todo])
            s1 = tree_cat([states[p[1]] for p in todo])
            enc = self.encode_pairs(s0, s1)
            self.stats["pairs"] += len(todo)
            for pid, s in zip(todo, tree_split(enc, len(todo)), strict=True):
                pairs[pid] = s
                if _keyed(pid[0]) and _keyed(pid[1]):
                    self.pairs.put(pid, tree_map(_compact, s) if len(todo) > 1 else s)

        # per output time: one batched decode
        s0 = tree_cat([states[f] for f in ids_a])
        s1 = tree_cat([states[f] for f in ids_b])
        pair = tree_cat([pairs[p] for p in pids])
        self.stats["decodes"] += len(pids)
        return self.decode(s0, s1, pair, t)

    def clear(self) -> None:
        """Drop the cached frame and pair states."""
        self.frames.clear()
        self.pairs.clear()


def prefixed_feeds(inputs: Sequence[str], s0: dict, s1: dict, prefixes=FRAME_PREFIXES) -> dict:
    """Graph feeds of two batched frame states for the stage graphs' names (``filmrt export
    --stages``): input ``frame0.<name>`` takes ``s0[name]``, ``frame1.<name>`` takes ``s1[name]``."""
    feeds = {}
    for prefix, s in zip(prefixes, (s0, s1), strict=True):
        for name in inputs:
            if name.startswith(prefix):
                feeds[name] = s[name[len(prefix) :]]
    return feeds

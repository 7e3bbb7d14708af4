"""filmrt.stages.StagedRunner on its own: toy stages (torch and numpy states), identities, caches,
chunking, stats -- the bookkeeping every backend shares."""

from __future__ import annotations

import numpy as np
import torch

from filmrt.stages import LRU, StagedRunner, frame_ids, tree_cat, tree_split


class Toy:
    """Stages of a 'model' whose output is (1-t)a + tb; records every batch it is given."""

    def __init__(self, as_numpy: bool = False):
        self.as_numpy, self.frames, self.pairs, self.decodes = as_numpy, [], [], []

    def encode_frames(self, x):
        self.frames.append(x.shape[0])
        s = {"img": x, "deep": [x * 2]}
        return {"img": x.numpy(), "deep": [x.numpy() * 2]} if self.as_numpy else s

    def encode_pairs(self, s0, s1):
        self.pairs.append(len(s0["img"]))
        return {"d": s1["img"] - s0["img"]}

    def decode(self, s0, s1, pair, t):
        self.decodes.append(len(t))
        tt = t.numpy() if self.as_numpy else t
        out = s0["img"] + tt.reshape(-1, 1, 1, 1) * pair["d"]
        return torch.as_tensor(out)

    def runner(self, **kw):
        return StagedRunner(self.encode_frames, self.encode_pairs, self.decode, **kw)


def _frames(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(3, 8, 8, generator=g) for _ in range(n)]


def test_torch_and_numpy_states_give_the_same_outputs_and_counts():
    f = _frames(3)
    a, b = torch.stack([f[0], f[0], f[1]]), torch.stack([f[1], f[1], f[2]])
    t = torch.tensor([0.25, 0.75, 0.5])
    want = torch.stack([(1 - x) * p + x * q for x, p, q in zip(t.tolist(), a, b, strict=True)])
    for as_numpy in (False, True):
        toy = Toy(as_numpy)
        r = toy.runner()
        out = r.run(a, b, t)  # no keys: equal frames found by pixels
        assert torch.allclose(out, want, atol=1e-6)
        assert toy.frames == [3] and toy.pairs == [2] and toy.decodes == [3]
        assert dict(r.stats) == {"frames": 3, "pairs": 2, "decodes": 3}
        assert len(r.frames) == 0 and len(r.pairs) == 0  # nothing kept without keys


def test_keys_cache_across_calls_and_the_lru_evicts():
    f = _frames(4)
    toy = Toy()
    r = toy.runner(cache_frames=2, cache_pairs=1)
    t = torch.tensor([0.5])
    for i in range(3):  # a video: pairs (0,1), (1,2), (2,3)
        r.run(f[i][None], f[i + 1][None], t, keys_a=[i], keys_b=[i + 1])
    assert r.stats["frames"] == 4 and r.stats["pairs"] == 3  # each frame encoded once
    assert len(r.frames) == 2 and len(r.pairs) == 1
    r.run(f[2][None], f[3][None], torch.tensor([0.3]), keys_a=[2], keys_b=[3])  # same pair: decode only
    assert r.stats["frames"] == 4 and r.stats["pairs"] == 3 and r.stats["decodes"] == 4
    r.run(f[0][None], f[1][None], t, keys_a=[0], keys_b=[1])  # evicted: encoded again
    assert r.stats["frames"] == 6 and r.stats["pairs"] == 4
    r.clear()
    assert len(r.frames) == 0 and len(r.pairs) == 0


def test_a_key_never_matches_a_state_of_another_size():
    toy = Toy()
    r = toy.runner()
    r.run(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.tensor([0.5]), keys_a=[0], keys_b=[1])
    r.run(torch.rand(1, 3, 16, 8), torch.rand(1, 3, 16, 8), torch.tensor([0.5]), keys_a=[0], keys_b=[1])
    assert toy.frames == [2, 2] and toy.pairs == [1, 1]


def test_chunking_and_compact_cache_entries():
    f = _frames(5)
    toy = Toy()
    r = toy.runner(chunk=2, cache_frames=8, cache_pairs=8)
    a, b = torch.stack(f[:4]), torch.stack(f[1:])
    r.run(a, b, torch.full((4,), 0.5), keys_a=[0, 1, 2, 3], keys_b=[1, 2, 3, 4])
    assert toy.frames == [2, 2, 1] and toy.pairs == [2, 2] and toy.decodes == [4]
    cached = r.frames.get(("k", 0, (3, 8, 8), None))
    assert cached["img"].shape == (1, 3, 8, 8) and cached["img"].untyped_storage().nbytes() == 3 * 8 * 8 * 4


def test_helpers():
    ids_a, ids_b, uniq = frame_ids(torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4), None, None)
    assert ids_a[0] == ids_a[1] and ids_b[0] == ids_b[1] and len(uniq) == 2
    s = {"x": np.arange(6).reshape(3, 2), "y": (torch.arange(3),)}
    parts = tree_split(s, 3)
    assert parts[1]["x"].tolist() == [[2, 3]] and parts[2]["y"][0].tolist() == [2]
    back = tree_cat(parts)
    assert back["x"].tolist() == s["x"].tolist() and torch.equal(back["y"][0], s["y"][0])
    c = LRU(0)
    c.put("a", 1)
    assert "a" not in c

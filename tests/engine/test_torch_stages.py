"""Stage reuse in the torch backend: FILM features once per frame, flows once per pair."""

from __future__ import annotations

import pytest
import torch

from filmrt.engine.torch_backend import TorchInterpolator
from filmrt.models.film import FILM
from filmrt.options import RuntimeOptions
from filmrt.padding import Padding

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {"pyramid_levels": 4, "fusion_pyramid_levels": 3, "specialized_levels": 2, "sub_levels": 3,
         "flow_convs": [2, 2, 2], "flow_filters": [8, 16, 16], "filters": 8}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = FILM(SMALL).eval()
    with torch.no_grad():  # random but lively weights
        for p in m.parameters():
            p.mul_(2.0)
    return m


def _counting(m: FILM):
    calls = {"encode_frame": 0, "encode_pair": 0, "decode": 0}
    for name in calls:
        orig = getattr(FILM, name).__get__(m)

        def wrap(*a, _orig=orig, _name=name, **k):
            calls[_name] += 1
            return _orig(*a, **k)

        setattr(m, name, wrap)
    return calls


def _whole(m: FILM, a, b, t: float) -> torch.Tensor:
    pad = Padding.for_size(a.shape[-2], a.shape[-1], 64, "center")
    with torch.no_grad():
        out = m(pad.pad(a[None]), pad.pad(b[None]), torch.tensor([t]))
    return pad.crop(out)[0].clamp(0, 1)


def test_one_call_three_times(model):
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(3, 50, 70, generator=g), torch.rand(3, 50, 70, generator=g)
    m = FILM(SMALL).eval()
    m.load_state_dict(model.state_dict())
    calls = _counting(m)
    interp = TorchInterpolator(m)
    times = [0.25, 0.5, 0.75]
    out = interp.interpolate(a.expand(3, -1, -1, -1), b.expand(3, -1, -1, -1), times)
    assert calls == {"encode_frame": 1, "encode_pair": 1, "decode": 1}  # batched: one call each
    assert interp.stats["frames"] == 2 and interp.stats["pairs"] == 1 and interp.stats["decodes"] == 3
    for i, t in enumerate(times):
        torch.testing.assert_close(out[i], _whole(model, a, b, t), atol=1e-5, rtol=0)


def test_keys_reuse_across_calls(model):
    g = torch.Generator().manual_seed(2)
    f = [torch.rand(3, 64, 64, generator=g) for _ in range(3)]
    m = FILM(SMALL).eval()
    m.load_state_dict(model.state_dict())
    interp = TorchInterpolator(m, RuntimeOptions.build(torch_cache_frames=4, torch_cache_pairs=4))
    outs = [interp.interpolate(f[0][None], f[1][None], [t], keys_a=[0], keys_b=[1]) for t in (0.25, 0.5, 0.75)]
    assert interp.stats["frames"] == 2 and interp.stats["pairs"] == 1 and interp.stats["decodes"] == 3
    for o, t in zip(outs, (0.25, 0.5, 0.75), strict=True):
        torch.testing.assert_close(o[0], _whole(model, f[0], f[1], t), atol=1e-5, rtol=0)
    # the next pair (1, 2) reuses frame 1's features: one new frame, one new pair
    o = interp.interpolate(f[1][None], f[2][None], [0.5], keys_a=[1], keys_b=[2])
    assert interp.stats["frames"] == 3 and interp.stats["pairs"] == 2
    torch.testing.assert_close(o[0], _whole(model, f[1], f[2], 0.5), atol=1e-5, rtol=0)
    # without keys nothing is cached across calls
    interp.interpolate(f[1][None], f[2][None], [0.5])
    assert interp.stats["frames"] == 5 and interp.stats["pairs"] == 3
    interp.close()


def test_mixed_pairs_in_one_call(model):
    """Pairs (0,1), (0,1), (1,2) in one chunk: 3 frames, 2 pairs, outputs as whole-model calls."""
    g = torch.Generator().manual_seed(3)
    f = [torch.rand(3, 64, 64, generator=g) for _ in range(3)]
    interp = TorchInterpolator(model)
    a = torch.stack([f[0], f[0], f[1]])
    b = torch.stack([f[1], f[1], f[2]])
    out = interp.interpolate(a, b, [0.3, 0.6, 0.5])
    assert interp.stats["frames"] == 3 and interp.stats["pairs"] == 2
    for i, (x, y, t) in enumerate([(0, 1, 0.3), (0, 1, 0.6), (1, 2, 0.5)]):
        torch.testing.assert_close(out[i], _whole(model, f[x], f[y], t), atol=1e-5, rtol=0)

"""Tiling of large frames (filmrt.tiles, through Interpolator.interpolate) and RIFE's flow scale."""

import pytest
import torch

from filmrt import tiles
from filmrt.engine import open_interpolator
from filmrt.errors import FilmrtError
from filmrt.interpolator import Interpolator
from filmrt.options import RuntimeOptions, parse_memory

#: three 3x3 convolutions: an output pixel depends on inputs within 3 pixels of it
RADIUS = 3


class ConvInterpolator(Interpolator):
    """A model with a known receptive field (RADIUS) and RIFE's padding (multiple 64, at the end)."""

    model_name = "toy"
    backend = "test"
    pad_align = "end"
    pad_multiple = 64

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.weights = [torch.randn(6, 6, 3, 3, generator=g) * 0.2 for _ in range(RADIUS)]
        self.weights[-1] = self.weights[-1][:3]
        self.calls = []

    def _run(self, a, b, t, keys_a, keys_b):
        self.calls.append((tuple(a.shape), keys_a))
        x = torch.cat((a, b), 1)
        for i, w in enumerate(self.weights):
            x = torch.nn.functional.conv2d(x, w, padding=1)
            if i < len(self.weights) - 1:
                x = torch.tanh(x)
        return torch.sigmoid(x + t.view(-1, 1, 1, 1))


def _pair(h=200, w=330, n=2):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, h, w, generator=g), torch.rand(n, 3, h, w, generator=g)


def test_plan_covers_the_frame_with_aligned_overlapping_tiles():
    plan = tiles.plan_tiles(448, 704, 256, overlap=128, multiple=64)
    assert {(t.y1 - t.y0, t.x1 - t.x0) for t in plan} == {(256, 256)}
    assert all(v % 64 == 0 for t in plan for v in (t.y0, t.x0))
    assert max(t.y1 for t in plan) == 448 and max(t.x1 for t in plan) == 704
    assert tiles.plan_tiles(128, 192, 256) == [tiles.Tile(0, 128, 0, 192)]


def test_weights_sum_to_one_and_skip_the_margin():
    plan = tiles.plan_tiles(448, 704, 256, overlap=128, multiple=64)
    weights = tiles.tile_weights(plan, 448, 704, margin=32)
    total = torch.zeros(448, 704)
    for t, w in zip(plan, weights, strict=True):
        total[t.y0:t.y1, t.x0:t.x1] += w
        if t.x1 < 704:  # a cut edge: its last 32 columns are never used
            assert float(w[:, -32:].abs().max()) == 0.0
        if t.y0 > 0:
            assert float(w[:32].abs().max()) == 0.0
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)


def test_tiled_equals_untiled_when_the_margin_covers_the_receptive_field():
    interp = ConvInterpolator()
    a, b = _pair()
    whole = interp.interpolate(a, b, [0.3, 0.7])
    interp.tile, interp.tile_overlap, interp.tile_margin = 128, 64, RADIUS
    interp.calls.clear()
    tiled = interp.interpolate(a, b, [0.3, 0.7], keys_a=[0, 1], keys_b=[1, 2])
    assert len(interp.calls) > 4 and all(shape[-2:] == (128, 128) for shape, _ in interp.calls)
    assert interp.calls[0][1][0][0] == 0 and isinstance(interp.calls[0][1][0][1], tiles.Tile)  # keys per tile
    # float32, values in [0, 1]: the same sums, but the CPU library picks its convolution algorithm
    # per input size (Winograd or direct on a 128 px tile, another on the whole frame), whose errors
    # are ~1e-5 of a layer's magnitude (54 products of |w| ~ 0.2 per output) instead of the 1e-7 of a
    # reordered sum: up to ~1e-4 after three layers and the sigmoid's 0.25 slope (2.8e-5 measured on
    # one machine). A margin that misses the receptive field is two orders above it (below).
    assert float((tiled - whole).abs().max()) < 2e-4
    # a margin smaller than the receptive field uses pixels that saw the tile's zero padding
    interp.tile_margin = 0
    interp.tile_overlap = 2
    assert float((interp.interpolate(a, b, [0.3, 0.7]) - whole).abs().max()) > 2e-3


def test_max_memory_sets_the_tile_side():
    interp = ConvInterpolator()
    assert len(interp.tile_plan(2176, 3840, 1)) == 1  # no budget: whole frames
    interp.max_memory = parse_memory("2G")
    plan = interp.tile_plan(2176, 3840, 1)
    side = plan[0].y1 - plan[0].y0
    per_px = tiles.DEFAULT_BYTES_PER_PIXEL
    frames = tiles.FRAME_BYTES_PER_PIXEL * 2176 * 3840
    assert side % 64 == 0 and side * side * per_px <= 2 * 2**30 - tiles.BASE_BYTES - frames
    assert len(interp.tile_plan(2176, 3840, 2)) > len(plan)  # more pairs per call: smaller tiles


def test_blend_with_a_budget_through_the_backend():
    interp = open_interpolator("blend", backend="torch", max_memory="1G")
    assert interp.max_memory == 2**30
    interp.tile = 64
    a, b = _pair(150, 260, 1)
    assert torch.allclose(interp.interpolate(a, b, 0.25), a * 0.75 + b * 0.25, atol=1e-6)


@pytest.mark.parametrize("text,n", [("4G", 4 * 2**30), ("1500M", 1500 * 2**20), ("2.5GB", int(2.5 * 2**30)),
                                    ("4GiB", 4 * 2**30), ("1000", 1000), ("512k", 512 * 1024)])
def test_parse_memory(text, n):
    assert parse_memory(text) == n


@pytest.mark.parametrize("text", ["", "G", "-1G", "4X", "inf"])
def test_parse_memory_refuses(text):
    with pytest.raises(FilmrtError, match="max-memory"):
        RuntimeOptions(max_memory=text)


def test_flow_scale_options():
    from filmrt.models.rife import auto_flow_scale

    assert [auto_flow_scale(*hw) for hw in ((720, 1280), (1440, 2560), (2160, 3840), (4320, 7680))] == [
        1.0, 1.0, 0.5, 0.25]
    with pytest.raises(FilmrtError, match="flow-scale"):
        RuntimeOptions(flow_scale=0.3)
    with pytest.raises(FilmrtError, match="torch backend"):
        Interpolator.take_large_frame_options(ConvInterpolator(), RuntimeOptions(flow_scale=0.5))


def test_rife_flow_scale_pads_to_its_multiple():
    interp = open_interpolator("rife-4.25", backend="torch", flow_scale=0.5)
    calls = []
    run = interp._run
    interp._run = lambda a, *rest: calls.append(a.shape) or run(a, *rest)
    a, b = _pair(72, 136, 1)
    out = interp.interpolate(a, b, 0.5)
    assert out.shape == (1, 3, 72, 136) and calls[0][-2:] == (128, 256) and interp.model.scale == 0.5

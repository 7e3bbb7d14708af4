"""Pictures kept as Y'CbCr planes (pipeline/io/planes.py): the same RGB as the decoder's RGB path,
a blend of planes within one code of a blend in RGB, the same scene thumbnail, and an encoder of
the same format taking the planes as they are (``filmrt live``: a source frame goes out with its
own codes, even out-of-gamut ones an RGB round trip would clip)."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.pipeline.io.colour import ColourSpec
from filmrt.pipeline.io.formats import PixelLayout
from filmrt.pipeline.io.pixels import planes_to_frame
from filmrt.pipeline.io.planes import Planes, frame_planes, frame_to_rgb, make_thumb
from filmrt.pipeline.io.source import DecodeRequest

CPU = torch.device("cpu")


def _noise_clip(path, *, frames: int, width: int, height: int, pix_fmt: str = "yuv420p", codec: str = "ffv1",
                rate: int = 25) -> list[np.ndarray]:
    """A clip of random codes over the whole code range (out of gamut too); returns each frame's planes."""
    rng = np.random.default_rng(7)
    made = []
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            s.codec_context.options = {"qp": "0", "preset": "ultrafast"}
        for i in range(frames):
            f = av.VideoFrame(width, height, pix_fmt)
            for p in f.planes:
                buf = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)
                buf[:] = rng.integers(0, 256, buf.shape, dtype=np.uint8)
            made.append(f.to_ndarray())
            f.pts = i
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    return made


def _decoded(path) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p10le", "yuv444p"])
def test_planes_give_the_decoders_rgb_exactly(tmp_path, pix_fmt):
    _noise_clip(tmp_path / "a.mkv", frames=2, width=64, height=36, pix_fmt=pix_fmt)
    for f in _decoded(tmp_path / "a.mkv"):
        planes, spec = frame_planes(f, None, CPU)
        rgb, spec2 = frame_to_rgb(f, None, CPU)
        assert isinstance(planes, Planes) and spec == spec2
        assert torch.equal(planes.to_rgb(), rgb)


def test_an_rgb_format_comes_as_rgb(tmp_path):
    _noise_clip(tmp_path / "a.mov", frames=1, width=32, height=16, pix_fmt="rgb24", codec="png")
    pic, _ = frame_planes(_decoded(tmp_path / "a.mov")[0], None, CPU)
    assert isinstance(pic, torch.Tensor) and pic.shape == (3, 16, 32)


def _smooth_planes(seed: int, spec: ColourSpec, h: int = 72, w: int = 128) -> Planes:
    """Planes whose RGB is in gamut: colours in [0.05, 0.95], each the same over its 2x2 chroma
    block (a random colour per pixel with averaged chroma would leave the gamut and be clipped)."""
    g = torch.Generator().manual_seed(seed)
    rgb = (0.05 + 0.9 * torch.rand(3, h // 2, w // 2, generator=g)).repeat_interleave(2, 1).repeat_interleave(2, 2)
    return Planes.from_rgb(rgb, spec, (2, 2))


@pytest.mark.parametrize("t", [0.25, 0.5, 0.8])
def test_a_blend_of_planes_is_a_blend_of_pictures_within_one_code(t):
    spec = ColourSpec("bt709", False, 8)
    a, b = _smooth_planes(1, spec), _smooth_planes(2, spec)
    mixed = a.lerp(b, t)
    via_rgb = Planes.from_rgb(torch.lerp(a.to_rgb(), b.to_rgb(), t), spec, (2, 2))
    for p, q in zip((mixed.y, mixed.cb, mixed.cr), (via_rgb.y, via_rgb.cb, via_rgb.cr), strict=True):
        # both round the same real value: they differ only where it lies within float error of x.5
        assert (p.int() - q.int()).abs().max() <= 1
    assert mixed.y.dtype == a.y.dtype and mixed.spec == spec


def test_the_thumbnail_from_planes_is_the_rgb_thumbnail():
    spec = ColourSpec("bt601", False, 8)
    p = _smooth_planes(3, spec, h=144, w=256)  # divisible by the thumbnail: the same areas in every plane
    # the area average is linear: equal up to float rounding (values in [0, 1], a few ulp of 1)
    assert torch.allclose(p.thumb(), make_thumb(p.to_rgb()), atol=1e-5)


def test_planes_go_to_an_encoder_of_their_own_format_as_they_are(tmp_path):
    made = _noise_clip(tmp_path / "a.mkv", frames=1, width=66, height=38)
    f = _decoded(tmp_path / "a.mkv")[0]
    planes, spec = frame_planes(f, None, CPU)
    same = planes_to_frame(planes, PixelLayout.of("yuv420p"), spec, 66, 38)
    assert np.array_equal(same.to_ndarray(), made[0])
    cropped = planes_to_frame(planes, PixelLayout.of("yuv420p"), spec, 64, 36)  # an odd output size's crop
    assert (cropped.width, cropped.height) == (64, 36)
    assert np.array_equal(cropped.to_ndarray()[:36], made[0][:36, :64])  # the luma rows
    for layout, other in [("yuv420p10le", spec), ("yuv444p", spec), ("yuv420p", ColourSpec("bt2020", False, 8)),
                          ("yuv420p", ColourSpec(spec.matrix, True, 8)), ("gbrp", spec)]:
        assert planes_to_frame(planes, PixelLayout.of(layout), other, 66, 38) is None, layout


def test_planes_and_alpha_are_not_both_asked():
    with pytest.raises(FilmrtError, match="alpha"):
        DecodeRequest(planes=True, keep_alpha=True)


def test_live_sends_source_frames_with_their_own_codes(tmp_path):
    """25 -> 50 with lossless x264: every source frame is in the output exactly, out-of-gamut codes
    and all (through RGB they would come back rounded and clipped), and the frames between are the
    blend of their neighbours within one code."""
    made = _noise_clip(tmp_path / "in.mkv", frames=20, width=64, height=48, codec="libx264")
    out, report = tmp_path / "out.ts", tmp_path / "r.json"
    rc = main(["live", str(tmp_path / "in.mkv"), str(out), "--fps", "50", "--model", "blend", "--latency", "200ms",
               "--crf", "0", "--json", str(report), "--quiet"])
    assert rc == 0
    r = json.loads(report.read_text())
    assert r["stats"]["late"] == 0
    got = [f.to_ndarray() for f in _decoded(out)]
    exact = [k for k, src in enumerate(made) if any(np.array_equal(src, g) for g in got)]
    # live starts on the live edge (the first frames, read during the start-up, are skipped)
    assert len(exact) >= len(made) - 4 and exact == list(range(exact[0], len(made))), exact
    assert r["stats"]["tiers"].get("source", 0) >= len(exact) - 1
    # a blend frame: between two exact copies two ticks apart
    pos = {k: next(i for i, g in enumerate(got) if np.array_equal(made[k], g)) for k in exact}
    pairs = [(pos[k], pos[k + 1]) for k in exact if k + 1 in pos and pos[k + 1] == pos[k] + 2]
    assert pairs
    for i, j in pairs:
        mid = (got[i].astype(np.int32) + got[j].astype(np.int32)) / 2
        if r["stats"]["tiers"].get("blend"):
            assert np.abs(got[i + 1].astype(np.int32) - mid).max() <= 1 or np.array_equal(got[i + 1], got[i]) \
                or np.array_equal(got[i + 1], got[j])  # a blend, or a repeat where the deadline said so


def test_live_takes_an_rgb_input(tmp_path):
    _noise_clip(tmp_path / "in.mov", frames=10, width=64, height=48, pix_fmt="rgb24", codec="png")
    out, report = tmp_path / "out.ts", tmp_path / "r.json"
    assert main(["live", str(tmp_path / "in.mov"), str(out), "--fps", "50", "--model", "blend",
                 "--latency", "200ms", "--json", str(report), "--quiet"]) == 0
    r = json.loads(report.read_text())
    got = _decoded(out)
    assert r["stats"]["late"] == 0 and len(got) == r["stats"]["frames_out"] >= 12
    assert got[-1].to_ndarray(format="rgb24").mean() > 60  # the pictures, not the black slate
    assert Fraction(got[1].pts - got[0].pts) * got[0].time_base == Fraction(1, 50)

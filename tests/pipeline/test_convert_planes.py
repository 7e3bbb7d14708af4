"""``filmrt convert`` carries pictures as Y'CbCr planes (pipeline/io/planes.py) unless an option
needs RGB: source frames reach the encoder with their own codes, ``--model blend`` mixes the planes
(within one code of the blend in RGB) without opening a runtime, and a model run still gets RGB."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from filmrt.options import RuntimeOptions
from filmrt.pipeline import convert as convert_mod
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.colour import guess_spec
from filmrt.pipeline.io.decode import open_input
from filmrt.pipeline.io.planes import Planes
from filmrt.pipeline.io.target import plan_target
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.prepare import decode_request, rgb_reasons
from filmrt.pipeline.time.cadence.analysis import TemporalReport

W, H = 64, 48


def _write(path, frames: list[list[np.ndarray]], pix_fmt: str = "yuv420p", rate: int = 25) -> None:
    """FFV1 (lossless) frames from their planes."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=rate)
        s.width, s.height, s.pix_fmt = W, H, pix_fmt
        for i, planes in enumerate(frames):
            f = av.VideoFrame(W, H, pix_fmt)
            for p, arr in zip(f.planes, planes, strict=True):
                buf = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)
                buf[:, : p.width] = arr
            f.pts = i
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


def _noise(n: int) -> list[list[np.ndarray]]:
    """Random codes over the whole range, out of gamut too (an RGB round trip clips and rounds them)."""
    rng = np.random.default_rng(3)
    return [[rng.integers(0, 256, (h, w), dtype=np.uint8) for h, w in ((H, W), (H // 2, W // 2), (H // 2, W // 2))]
            for _ in range(n)]


def _smooth(n: int) -> list[list[np.ndarray]]:
    """In-gamut pictures (each colour the same over its 2x2 chroma block), so RGB clips nothing
    (made with the matrix the decoder guesses for an untagged picture of this size)."""
    spec = guess_spec(W, H, bits=8)
    out = []
    for k in range(n):
        g = torch.Generator().manual_seed(k)
        rgb = (0.05 + 0.9 * torch.rand(3, H // 2, W // 2, generator=g)).repeat_interleave(2, 1).repeat_interleave(2, 2)
        p = Planes.from_rgb(rgb, spec, (2, 2))
        out.append([x.numpy().astype(np.uint8) for x in (p.y, p.cb, p.cr)])
    return out


def _planes_of(path) -> list[list[np.ndarray]]:
    with av.open(str(path)) as c:
        return [[np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy() for p in f.planes]
                for f in c.decode(video=0)]


def _run(src, dst, codec: str, backend: str = "auto", **fields):
    enc = EncodeOptions(codec=codec, crf=0, preset="ultrafast")
    return convert(src, dst, ConvertOptions(fps="50", encode=enc, dedup="off", scene_threshold=1.0,
                                            runtime=RuntimeOptions(model="blend", backend=backend), **fields))


@pytest.mark.parametrize(("codec", "ext", "backend"), [("libx264", "mp4", "auto"), ("ffv1", "mkv", "auto"),
                                                       ("ffv1", "mkv", "torch")])
def test_source_frames_go_out_with_their_own_codes(tmp_path, codec, ext, backend):
    """Lossless output: every source frame comes back exactly (out-of-gamut codes too), also when a
    runtime runs the model (``--backend torch``: the model reads RGB, the source frames stay planes);
    the frame between two is their blend within one code."""
    made = _noise(6)
    _write(tmp_path / "in.mkv", made)
    res = _run(tmp_path / "in.mkv", tmp_path / f"out.{ext}", codec, backend)
    assert res.backend == ("pipeline" if backend == "auto" else "torch")
    got = _planes_of(tmp_path / f"out.{ext}")
    assert len(got) == 2 * len(made)
    for k, src in enumerate(made):
        for p, q in zip(got[2 * k], src, strict=True):
            assert np.array_equal(p, q), f"source frame {k} changed"
    if backend == "auto":  # planes blended as codes: the mean, rounded
        for k in range(len(made) - 1):
            for p, a, b in zip(got[2 * k + 1], made[k], made[k + 1], strict=True):
                err = int(np.abs(p.astype(np.int32) * 2 - a.astype(np.int32) - b.astype(np.int32)).max())
                assert err <= 1, f"frame {2 * k + 1}: {err} half-codes from the mean"


def test_a_blend_of_planes_is_the_rgb_blend_within_one_code(tmp_path):
    """The pipeline's blend (planes) against the blend model on PyTorch (RGB, then back to codes)."""
    _write(tmp_path / "in.mkv", _smooth(5))
    _run(tmp_path / "in.mkv", tmp_path / "planes.mkv", "ffv1")
    _run(tmp_path / "in.mkv", tmp_path / "rgb.mkv", "ffv1", backend="torch")
    a, b = _planes_of(tmp_path / "planes.mkv"), _planes_of(tmp_path / "rgb.mkv")
    assert len(a) == len(b) == 10
    for fa, fb in zip(a, b, strict=True):
        for p, q in zip(fa, fb, strict=True):
            err = int(np.abs(p.astype(np.int32) - q.astype(np.int32)).max())
            assert err <= 1, err


def _request(tmp_path, **fields):
    _write(tmp_path / "in.mkv", _smooth(2))
    inp = open_input(str(tmp_path / "in.mkv"))
    try:
        options = ConvertOptions(fps="50", **fields)
        target = plan_target(str(tmp_path / "o.mkv"), options.encode, inp.info, inp.streams, inp.stream.index)
        return options, target
    finally:
        inp.container.close()


def test_options_that_need_rgb_keep_the_rgb_path(tmp_path):
    options, target = _request(tmp_path)
    assert rgb_reasons(options, target, TemporalReport()) == []
    assert decode_request(options, target, TemporalReport()).planes
    protect, _ = _request(tmp_path, protect="0,0,16,16")
    assert rgb_reasons(protect, target, TemporalReport()) == ["--protect"]
    assert not decode_request(protect, target, TemporalReport()).planes
    dedup = TemporalReport()
    dedup.dedup = "on"
    assert rgb_reasons(options, target, dedup) == ["dedup"]
    assert not decode_request(options, target, dedup).planes


def test_protect_runs_on_rgb_end_to_end(tmp_path, monkeypatch):
    seen = []
    real = convert_mod.open_source

    def spy(inp, request, **kw):
        seen.append(request.planes)
        return real(inp, request, **kw)

    monkeypatch.setattr(convert_mod, "open_source", spy)
    _write(tmp_path / "in.mkv", _smooth(4))
    res = _run(tmp_path / "in.mkv", tmp_path / "p.mkv", "ffv1", protect="0,0,16,16")
    _run(tmp_path / "in.mkv", tmp_path / "q.mkv", "ffv1")
    assert seen == [False, True]
    assert res.frames_out == 8 and res.backend == "pipeline"


def test_blend_opens_no_runtime(tmp_path, monkeypatch):
    def refuse(*a, **kw):
        raise AssertionError("a runtime was opened for --model blend")

    monkeypatch.setattr(convert_mod, "open_interpolator", refuse)
    _write(tmp_path / "in.mkv", _smooth(3))
    assert _run(tmp_path / "in.mkv", tmp_path / "o.mkv", "ffv1").interpolated == 2  # the last frame is held


def _write_gray(path, frames: list[np.ndarray], color_range: int) -> None:
    """FFV1 grey frames, tagged ``color_range`` (0: untagged, 1: tv, 2: pc)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "gray"
        s.codec_context.color_range = color_range
        for i, arr in enumerate(frames):
            f = av.VideoFrame(W, H, "gray")
            np.frombuffer(f.planes[0], np.uint8).reshape(H, -1)[:, :W] = arr
            f.pts, f.color_range = i, color_range
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


@pytest.mark.parametrize(("color_range", "backend"), [(0, "auto"), (2, "auto"), (1, "auto"), (2, "torch"), (1, "torch")])
def test_grey_keeps_its_levels(tmp_path, color_range, backend):
    """Grey in, grey out (FFV1): the source frames come back with their codes and the blends sit at
    their neighbours' mean, whatever the range tag. Before: a full-range (or untagged) grey picture
    was read as Y' and handed to libswscale as limited range, which expanded it (38 -> 26, codes
    up to 18 -> 0: blacks crushed, exit 0); a limited-range one was read brightened (38 -> 49)."""
    rng = np.random.default_rng(5)
    lo, hi = (16, 236) if color_range == 1 else (0, 256)
    made = [rng.integers(lo, hi, (H, W), dtype=np.uint8) for _ in range(4)]
    _write_gray(tmp_path / "in.mkv", made, color_range)
    _run(tmp_path / "in.mkv", tmp_path / "out.mkv", "ffv1", backend)
    with av.open(str(tmp_path / "out.mkv")) as c:
        got = [(f.format.name, f.to_ndarray().astype(np.int32)) for f in c.decode(video=0)]
    assert len(got) == 8 and all(name == "gray" for name, _ in got)
    for k, src in enumerate(made):
        assert np.array_equal(got[2 * k][1], src), f"source frame {k} changed"
    for k in range(len(made) - 1):  # torch: blended in RGB and written back: one code of rounding more
        err = int(np.abs(got[2 * k + 1][1] * 2 - made[k].astype(np.int32) - made[k + 1]).max())
        assert err <= (1 if backend == "auto" else 3), f"frame {2 * k + 1}: {err} half-codes from the mean"


def test_semi_planar_output_goes_through_rgb(tmp_path):
    """``--pix-fmt nv12`` (one interleaved chroma plane) from 4:2:0 planes: the planes are not nv12's
    layout, so they go through RGB. Before: they were taken as nv12's own and the encode thread
    failed (``zip() argument 2 is longer than argument 1``, a traceback, no output)."""
    made = _smooth(3)
    _write(tmp_path / "in.mkv", made)
    enc = EncodeOptions(codec="libx264", crf=0, preset="ultrafast", pix_fmt="nv12")
    res = convert(tmp_path / "in.mkv", tmp_path / "o.mp4",
                  ConvertOptions(fps="50", encode=enc, dedup="off", scene_threshold=1.0,
                                 runtime=RuntimeOptions(model="blend")))
    assert res.frames_out == 6
    with av.open(str(tmp_path / "o.mp4")) as c:
        got = [f.to_ndarray(format="yuv420p").astype(np.int32) for f in c.decode(video=0)]
    assert len(got) == 6
    src = np.concatenate([made[0][0].ravel(), made[0][1].ravel(), made[0][2].ravel()]).astype(np.int32)
    assert np.abs(got[0].ravel() - src).max() <= 2  # in-gamut codes: RGB rounds by a code at most


def test_nv12_source_frames_keep_their_codes(tmp_path):
    """An nv12 source (raw video: one interleaved chroma plane) to FFV1 4:2:0: its planes split as
    they are, so the source frames come back exactly. Before: the chroma was resampled to 4:4:4 and
    back through RGB (testsrc2-like colours: 28 dB, chroma off by up to 44 codes, a lossless output)."""
    made = _noise(3)
    with av.open(str(tmp_path / "in.nut"), "w") as c:
        s = c.add_stream("rawvideo", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "nv12"
        for i, (y, cb, cr) in enumerate(made):
            f = av.VideoFrame(W, H, "nv12")
            np.frombuffer(f.planes[0], np.uint8).reshape(H, -1)[:, :W] = y
            uv = np.frombuffer(f.planes[1], np.uint8).reshape(H // 2, -1)
            uv[:, 0:W:2], uv[:, 1:W:2] = cb, cr
            f.pts = i
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    _run(tmp_path / "in.nut", tmp_path / "o.mkv", "ffv1")
    got = _planes_of(tmp_path / "o.mkv")
    assert len(got) == 6
    for k, src in enumerate(made):
        for p, q in zip(got[2 * k], src, strict=True):
            assert np.array_equal(p, q), f"source frame {k} changed"

"""End-to-end `filmrt convert` on CPU with the `blend` model: counts, timestamps, colour round trip,
audio/subtitle passthrough, metadata, 10-bit, rotation, odd sizes, pipes, recursive mode."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction as F

import numpy as np
import pytest
import torch
from support.helpers import decode_all
from support.synth import frame_rgb, make_clip

from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.colour import ColourSpec, guess_spec, rgb_to_yuv, yuv_to_rgb
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.quality import psnr

pytestmark = pytest.mark.usefixtures("one_thread")


def fast(fps: str, *, max_batch: int | None = None, crf: int | None = None, **time) -> ConvertOptions:
    """ConvertOptions with the `blend` model and the fastest x264 preset."""
    runtime = RuntimeOptions(model="blend", **({} if max_batch is None else {"max_batch": max_batch}))
    encode = EncodeOptions(preset="ultrafast", **({} if crf is None else {"crf": crf}))
    return ConvertOptions(fps=fps, runtime=runtime, encode=encode, **time)


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {
        "25": make_clip(d / "s25.mp4", fps=25, frames=25, audio=True, language="eng"),
        "24": make_clip(d / "s24.mp4", fps=24, frames=24),
        "2997": make_clip(d / "s2997.mp4", fps=F(30000, 1001), frames=30),
        "odd": make_clip(d / "odd.mkv", width=129, height=73, codec="ffv1"),
        "rot": make_clip(d / "rot.mp4", rotation=90, frames=10),
        "p10": make_clip(d / "p10.mkv", codec="libx265", pix_fmt="yuv420p10le", frames=10),
    }


# ---------------------------------------------------------------------- colour
@pytest.mark.parametrize("spec", [ColourSpec("bt709"), ColourSpec("bt601"), ColourSpec("bt709", True),
                                  ColourSpec("bt2020", False, 10)])
def test_colour_round_trip_is_near_exact(spec):
    """YUV -> RGB -> YUV returns the same codes (up to rounding / gamut clipping)."""
    img = torch.from_numpy(frame_rgb(3, 64, 48, 10)).permute(2, 0, 1).float() / 255
    y, u, v = rgb_to_yuv(img, spec)
    rgb = yuv_to_rgb(*(torch.from_numpy(p.astype("int32")) for p in (y, u, v)), spec)
    y2, u2, v2 = rgb_to_yuv(rgb, spec)
    for p, q in ((y, y2), (u, u2), (v, v2)):
        assert abs(p.astype(int) - q.astype(int)).max() <= 1


@pytest.mark.parametrize("size", [(130, 70), (131, 71), (64, 33), (1, 1)])
@pytest.mark.parametrize("sub", [(2, 2), (1, 2), (2, 1), (1, 1)])
@pytest.mark.parametrize("spec", [ColourSpec("bt709"), ColourSpec("bt601", True), ColourSpec("bt2020", False, 10)])
def test_colour_bands_give_the_whole_frame_codes(monkeypatch, spec, sub, size):
    """The CPU converts in bands of BAND_ROWS rows: the codes and the RGB are exactly those of the
    whole frame at once (odd heights, every subsampling, out-of-gamut values)."""
    from filmrt.pipeline.io import colour

    h, w = size
    rgb = torch.rand(3, h, w, generator=torch.Generator().manual_seed(h * w)) * 1.2 - 0.1
    monkeypatch.setattr(colour, "BAND_ROWS", 8)
    banded = rgb_to_yuv(rgb, spec, sub)
    planes = [torch.from_numpy(p.astype("int32")) for p in banded]
    back = yuv_to_rgb(*planes, spec)
    monkeypatch.setattr(colour, "BAND_ROWS", 1 << 20)
    whole = rgb_to_yuv(rgb, spec, sub)
    for a, b in zip(banded, whole, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert torch.equal(back, yuv_to_rgb(*planes, spec))


def test_colour_heuristic():
    assert guess_spec(1280, 720).matrix == "bt709" and guess_spec(1280, 720).guessed
    assert guess_spec(720, 576).matrix == "bt601"
    assert guess_spec(720, 576, colorspace=1).matrix == "bt709"  # the stream's tag wins
    assert not guess_spec(640, 480).full_range
    assert guess_spec(640, 480, full_range_format=True).full_range


# ---------------------------------------------------------------------- end to end
def test_25_to_50_counts_timestamps_audio_and_copies(clips, tmp_path):
    out = tmp_path / "o.mp4"
    res = convert(clips["25"], out, fast("x2"))
    assert (res.frames_in, res.frames_out, res.fps_out) == (25, 50, F(50))
    assert res.interpolated == 24 and res.copied == 26 and res.held == 1
    src, dst = probe(clips["25"]), probe(out)
    assert [s.type for s in dst.streams] == ["video", "audio"]
    v = dst.video
    assert v.packets == 50 and v.rate == 50 and v.start == 0
    assert abs(v.duration - src.video.duration) <= F(1, 50)
    a_in, a_out = src.of_type("audio")[0], dst.of_type("audio")[0]
    assert a_out.codec == a_in.codec and a_out.packets == a_in.packets
    assert a_out.start == a_in.start and a_out.duration == a_in.duration  # remuxed untouched
    assert v.language == "eng" and a_out.language == "eng"
    # copied frames survive the whole decode -> RGB -> encode round trip
    frames_in = decode_all(clips["25"])
    frames_out = decode_all(out)
    assert len(frames_out) == 50
    assert [t for t, _ in frames_out] == [F(k, 50) for k in range(50)]
    for i, (_, rgb) in enumerate(frames_in):
        assert psnr(frames_out[2 * i][1], rgb) > 40
    # interpolated frames of `blend` sit between their neighbours
    mid = frames_out[1][1]
    want = 0.5 * (frames_in[0][1] + frames_in[1][1])
    assert psnr(mid, want) > 35


def test_24_to_60_and_ntsc(clips, tmp_path):
    out = tmp_path / "o60.mp4"
    res = convert(clips["24"], out, fast("60"))
    assert (res.frames_in, res.frames_out) == (24, 60)
    got = decode_all(out)
    assert [t for t, _ in got] == [F(k, 60) for k in range(60)]
    out2 = tmp_path / "o5994.mp4"
    res = convert(clips["2997"], out2, fast("59.94"))
    assert res.fps_out == F(60000, 1001) and (res.frames_in, res.frames_out) == (30, 60)
    assert res.interpolated == 29
    p = probe(out2).video
    assert p.packets == 60 and p.rate == F(60000, 1001)
    got = decode_all(out2)
    assert [t for t, _ in got] == [k * F(1001, 60000) for k in range(60)]


def test_real_clip_with_audio_passthrough(shared, tmp_path):
    clip = shared / "data" / "clips" / "bbb_720p25_audio.mp4"
    out = tmp_path / "bbb50.mp4"
    res = convert(clip, out, fast("50", t=1.0, max_batch=2))
    assert (res.frames_in, res.frames_out) == (25, 50) and res.streams_copied == 1
    p = probe(out)
    assert [s.type for s in p.streams] == ["video", "audio"]
    v, a = p.video, p.of_type("audio")[0]
    assert v.packets == 50 and abs(v.duration - 1) <= F(1, 50)
    assert a.codec == "aac" and abs(a.duration - 1) <= F(1, 25)  # packets are ~21 ms
    assert (v.width, v.height) == (1280, 720) and v.colorspace == 1  # BT.709 for HD, tagged


def test_ss_and_t_cut_both_streams(clips, tmp_path):
    out = tmp_path / "cut.mp4"
    res = convert(clips["25"], out, fast("50", ss=0.4, t=0.4))
    assert (res.frames_in, res.frames_out) == (10, 20)
    p = probe(out)
    assert p.video.start == 0 and p.video.duration == F(2, 5)
    a = p.of_type("audio")[0]
    assert abs(a.start) <= F(1, 40) and abs(a.end - F(2, 5)) <= F(1, 25)
    # the first output frame is the source frame at 0.4 s
    src = decode_all(clips["25"])
    assert psnr(decode_all(out)[0][1], src[10][1]) > 40


def test_down_conversion_drops_frames(clips, tmp_path):
    out = tmp_path / "down.mp4"
    res = convert(clips["25"], out, fast("12.5"))
    assert res.frames_out == 13 and res.interpolated == 0
    src, got = decode_all(clips["25"]), decode_all(out)
    for k, (_, rgb) in enumerate(got):
        assert psnr(rgb, src[2 * k][1]) > 40


def test_recursive_mode_is_chosen_by_model_properties(clips, tmp_path, film_small_random_weights):
    """Recursive midpoints are for models trained at t = 1/2 only (FILM: not time-conditioned);
    a time-conditioned model (blend, RIFE) is refused there, by its spec, not its name."""
    out = tmp_path / "rec.mp4"
    runtime = RuntimeOptions(model="film", weights=str(film_small_random_weights))
    opts = ConvertOptions(fps="60", mode="recursive", max_depth=3, runtime=runtime,
                          encode=EncodeOptions(preset="ultrafast"))
    res = convert(clips["24"], out, opts)
    assert res.frames_out == 60 and res.interpolated > 0
    with pytest.raises(FilmrtError, match="recursive"):
        convert(clips["24"], tmp_path / "blend.mp4", fast("60", mode="recursive", max_depth=3))
    assert not (tmp_path / "blend.mp4").exists()


def test_10bit_rotation_and_odd_size(clips, tmp_path):
    r = convert(clips["p10"], tmp_path / "p10.mp4", fast("x2"))
    assert probe(tmp_path / "p10.mp4").video.pix_fmt == "yuv420p10le" and "10-bit" in r.colour
    src, got = decode_all(clips["p10"]), decode_all(tmp_path / "p10.mp4")
    assert psnr(got[0][1], src[0][1]) > 40
    convert(clips["rot"], tmp_path / "rot.mp4", fast("x2"))
    assert probe(tmp_path / "rot.mp4").video.rotation == 90
    r = convert(clips["odd"], tmp_path / "odd.mp4", fast("x2"))
    v = probe(tmp_path / "odd.mp4").video
    assert (v.width, v.height) == (128, 72) and (r.width, r.height) == (128, 72)
    assert [d for d in r.dropped if "odd-sized" in d and "128x72" in d]  # said in the result, not printed


def test_cli_convert_and_json(clips, tmp_path, capsys):
    out, js = tmp_path / "cli.mkv", tmp_path / "r.json"
    rc = main(["convert", clips["25"], str(out), "--fps", "50", "--model", "blend", "--preset", "ultrafast",
               "--json", str(js)])
    assert rc == 0
    err = capsys.readouterr().err
    assert "25 -> 50 frames" in err
    import json

    data = json.loads(js.read_text())
    assert data["frames_out"] == 50 and data["fps_out"] == "50"


def test_stdin_to_stdout_pipe(clips, tmp_path):
    out = tmp_path / "pipe.mkv"
    with open(clips["25"], "rb") as fin, open(out, "wb") as fout:
        r = subprocess.run(
            [sys.executable, "-m", "filmrt", "convert", "-", "-", "--fps", "50", "--format", "matroska",
             "--model", "blend", "--preset", "ultrafast", "--quiet"],
            stdin=fin, stdout=fout, stderr=subprocess.PIPE, timeout=300,
        )
    assert r.returncode == 0, r.stderr.decode()
    p = probe(out)
    assert p.video.packets == 50 and len(p.of_type("audio")) == 1


def test_progress_callback_and_reused_interpolator(clips, tmp_path):
    from filmrt.engine import open_interpolator

    seen = []
    interp = open_interpolator("blend")
    res = convert(clips["24"], tmp_path / "p.mp4", ConvertOptions(fps="48", encode=EncodeOptions(preset="ultrafast")),
                  interpolator=interp, on_progress=seen.append)
    assert seen == list(range(1, res.frames_out + 1)) and res.model == "blend"


def test_subtitles_and_tags_copied(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "sub.mkv", frames=20, audio=True, subtitles=True, language="fra")
    out = tmp_path / "o.mkv"
    res = convert(clip, out, fast("50"))
    assert res.streams_copied == 2
    src, dst = probe(clip), probe(out)
    assert [s.type for s in dst.streams] == ["video", "subtitle", "audio"]
    s_in, s_out = src.of_type("subtitle")[0], dst.of_type("subtitle")[0]
    assert (s_out.codec, s_out.packets, s_out.start, s_out.duration) == (
        s_in.codec, s_in.packets, s_in.start, s_in.duration)
    assert s_out.language == "fra" and dst.of_type("audio")[0].language == "fra"
    # an mp4 cannot hold SubRip: refused up front (nothing written) unless asked to leave it out
    with pytest.raises(FilmrtError, match=r"cannot hold stream #1 subtitle .*--drop-stream 1"):
        convert(clip, tmp_path / "o.mp4", fast("50"))
    assert not (tmp_path / "o.mp4").exists()
    res = convert(clip, tmp_path / "o.mp4", fast("50").replace(
        encode=EncodeOptions(preset="ultrafast", drop_stream="s")))
    assert [s.type for s in probe(tmp_path / "o.mp4").streams] == ["video", "audio"]
    assert res.streams == ["#2 audio aac"] and res.streams_dropped == ["#1 subtitle srt: left out (--drop-stream)"]


def test_convert_options_helpers_for_batch():
    import argparse

    from filmrt.pipeline.cli import add_convert_options, options_from_args

    p = argparse.ArgumentParser()
    add_convert_options(p)
    opts = options_from_args(p.parse_args(["--fps", "59.94", "--model", "blend", "--crf", "20", "--t", "2"]))
    assert isinstance(opts, ConvertOptions)
    assert (opts.fps, opts.runtime.model, opts.encode.crf, opts.t, opts.encode.codec, opts.runtime.max_batch) == (
        "59.94", "blend", 20, 2.0, "auto", 4)


def test_cli_defaults_are_the_dataclass_defaults():
    """Each default is written once, in the dataclasses: the CLI passes only what was given."""
    from filmrt.cli.main import build_parser
    from filmrt.pipeline.cli import options_from_args

    args = build_parser().parse_args(["convert", "a.mp4", "b.mp4", "--fps", "50"])
    assert options_from_args(args) == ConvertOptions(fps="50")
    assert options_from_args(args).runtime == RuntimeOptions() and options_from_args(args).encode == EncodeOptions()
    # the backend extras are reachable from the CLI (through the runtime group)
    args = build_parser().parse_args(["convert", "a.mp4", "b.mp4", "--fps", "50", "--backend", "ort",
                                      "--onnx", "m.onnx", "--threads", "2", "--batch", "3"])
    rt = options_from_args(args).runtime
    assert (rt.backend, rt.onnx, rt.threads, rt.max_batch) == ("ort", "m.onnx", 2, 3)


@pytest.mark.parametrize("factor", ["2x", "x2"])
def test_cli_factor_rates(clips, tmp_path, capsys, factor):
    """`--fps 2x` and `--fps x2` both double the input rate, end to end (25 -> 50)."""
    out = tmp_path / f"{factor}.mp4"
    rc = main(["convert", clips["25"], str(out), "--fps", factor, "--model", "blend", "--preset", "ultrafast",
               "--quiet"])
    assert rc == 0, capsys.readouterr().err
    v = probe(out).video
    assert v.rate == 50 and v.packets == 50
    assert ConvertOptions(fps=factor).rate.resolve(F(30000, 1001)) == F(60000, 1001)


def test_json_path_is_checked_before_converting(clips, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    rc = main(["convert", clips["25"], str(out), "--fps", "50", "--model", "blend", "--quiet",
               "--json", str(tmp_path / "no" / "such" / "r.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "--json" in err and "does not exist" in err
    assert not out.exists()


def test_progress_bar_ends_at_the_real_count(tmp_path, capsys):
    """The bar's total is the expected count (from the input's header) until the end, then the real
    one: a truncated input whose header promises 50 frames still ends at 100%."""
    whole = make_clip(tmp_path / "whole.mkv", frames=50)
    data = open(whole, "rb").read()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    seen = []
    res = convert(cut, tmp_path / "a.mp4", fast("50"), on_start=seen.append)
    assert seen == [100] and 0 < res.frames_out < 100  # expected from the header, fewer written
    assert main(["convert", str(cut), str(tmp_path / "b.mp4"), "--fps", "50", "--model", "blend",
                 "--preset", "ultrafast"]) == 3  # done, from a damaged input
    err = capsys.readouterr().err
    n = res.frames_out
    assert "100%" in err and f"{n}/{n}" in err


def test_output_into_a_fifo_is_streamed(clips, tmp_path):
    """A FIFO (or a device) is written through, never replaced by a renamed temp file."""
    import os
    import threading

    fifo = tmp_path / "out.mkv"
    os.mkfifo(fifo)
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(open(fifo, "rb").read()))
    reader.start()
    res = convert(clips["25"], fifo, fast("50"))
    reader.join(timeout=60)
    assert res.frames_out == 50 and len(got) > 0
    assert fifo.is_fifo()
    copy = tmp_path / "copy.mkv"
    copy.write_bytes(bytes(got))
    assert probe(copy).video.packets == 50


@pytest.mark.parametrize("codec,pix,full", [("mjpeg", "yuvj420p", True), ("ffv1", "gray", True),
                                             ("ffv1", "yuv420p16le", False)])
def test_other_pixel_formats_round_trip(tmp_path, codec, pix, full):
    """Full-range (JPEG) and gray and 16-bit input: copies come back intact (lossless encode). An
    untagged grey plane is full-range Y' (as FFmpeg reads it), and said so."""
    clip = make_clip(tmp_path / "c.mkv", codec=codec, pix_fmt=pix, frames=4)
    out = tmp_path / "o.mkv"
    res = convert(clip, out, fast("x2", crf=0))
    assert ("full range" in res.colour) == full
    src, got = decode_all(clip), decode_all(out)
    for i in range(4):
        assert psnr(got[2 * i][1], src[i][1]) > 40


def test_vfr_input_gap_is_interpolated(tmp_path):
    """A variable-rate clip (frame 4 missing: an 80 ms gap) converted to constant 25 fps."""
    clip = make_clip(tmp_path / "vfr.mkv", frames=10, skip=(4,))
    out = tmp_path / "cfr.mp4"
    res = convert(clip, out, fast("25"))
    assert (res.frames_in, res.frames_out, res.interpolated) == (9, 10, 1)
    src, got = decode_all(clip), decode_all(out)
    assert [t for t, _ in got] == [F(k, 25) for k in range(10)]
    assert psnr(got[4][1], 0.5 * (src[3][1] + src[4][1])) > 35  # blend of the frames around the gap
    assert psnr(got[5][1], src[4][1]) > 40  # and the clip goes on in step


def test_probe_headers_only(clips):
    """`count=False, first_frame=False`: what the headers say, nothing demuxed or decoded."""
    p = probe(clips["25"], count=False, first_frame=False)
    v = p.video
    assert "mp4" in p.format and [s.type for s in p.streams] == ["video", "audio"]
    assert v.packets == 0 and v.duration is None and v.rate == 25 and (v.width, v.height) == (128, 72)
    assert v.header_frames == 25 and v.header_duration == 1

"""Silent-damage classes in containers and streams: each output is read back as a user would.

- a file we write (``--json``, ``interpolate -o``) naming the input or the output is refused;
- two runs writing the same OUT without ``-y``: the second exits 2 at the rename, the first's
  output is left intact (the check is atomic at the rename, not before decoding only);
- MPEG-TS: video and audio are only "copied" when they can be read back (codec names round-trip);
- the sample aspect ratio, MPEG-2 under ``--codec auto``, the main video stream and the other
  video streams, raw elementary streams' rates, HLS/DASH outputs, interpolate's alpha and depth.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from support.synth import make_clip

from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.target import dropped_streams
from filmrt.pipeline.options import ConvertOptions, EncodeOptions

pytestmark = pytest.mark.usefixtures("one_thread")

ARGS = ["--model", "blend", "--quiet", "--preset", "ultrafast", "--threads", "1"]


def cli(capsys, *argv):
    rc = main([*map(str, argv)])
    return rc, capsys.readouterr().err


def options(**enc) -> ConvertOptions:
    return ConvertOptions(fps="x2", runtime=RuntimeOptions(model="blend", threads=1),
                          encode=EncodeOptions(preset="ultrafast", **enc))


def streams_of(path) -> list[tuple[str, str | None]]:
    with av.open(str(path)) as c:
        return [(s.type, s.codec_context.name if s.codec_context is not None else None) for s in c.streams]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("classes") / "in.mp4", width=64, height=48, frames=6)


# ------------------------------------------------------------------ files we write never replace an input
@pytest.mark.parametrize("which", ["input", "output"])
def test_json_naming_in_or_out_is_refused(tmp_path, clip, capsys, which):
    src = tmp_path / "in.mp4"
    src.write_bytes(open(clip, "rb").read())
    out = tmp_path / "out.mp4"
    target = src if which == "input" else out
    before = src.read_bytes()
    rc, err = cli(capsys, "convert", src, out, "--fps", "x2", "--json", target, *ARGS)
    assert rc == 2 and "same file" in err, err
    assert src.read_bytes() == before and not out.exists()


def test_interpolate_output_naming_an_input_is_refused(tmp_path, capsys):
    from PIL import Image
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (16, 16), (10, 20, 30)).save(a)
    Image.new("RGB", (16, 16), (40, 50, 60)).save(b)
    before = a.read_bytes()
    rc, err = cli(capsys, "interpolate", a, b, "-o", a, "--model", "blend", "-y")
    assert rc == 2 and "same file" in err, err
    assert a.read_bytes() == before


# ------------------------------------------------------------------ two runs, one OUT
def test_out_appearing_during_the_run_is_not_replaced(tmp_path, clip):
    out = tmp_path / "o.mp4"

    def other_run_finishes_first(_expected):
        out.write_bytes(b"the first run's output")

    with pytest.raises(FilmrtError, match="exists, not overwritten"):
        convert(clip, out, options(), overwrite=None, on_start=other_run_finishes_first)
    assert out.read_bytes() == b"the first run's output"
    assert not [p for p in tmp_path.iterdir() if ".filmrt-" in p.name]
    # -y keeps replacing it
    convert(clip, out, options(), overwrite=True, on_start=other_run_finishes_first)
    assert streams_of(out)[0] == ("video", "h264")


def test_no_replace_rename_without_hard_links(tmp_path, monkeypatch):
    """Where the filesystem has no hard links, renameat2(RENAME_NOREPLACE) (or a last check) refuses."""
    import os

    from filmrt.fileio import atomic_path

    def no_links(*_a, **_k):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "r.json"
    with atomic_path(out, replace=False) as tmp:
        tmp.write_text("one")
    assert out.read_text() == "one"
    with pytest.raises(FilmrtError, match="exists, not overwritten"), atomic_path(out, replace=False) as tmp:
        tmp.write_text("two")
    assert out.read_text() == "one" and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


# ------------------------------------------------------------------ HLS / DASH
@pytest.mark.parametrize("name", ["out.m3u8", "out.mpd"])
def test_segmenting_outputs_are_refused_up_front(tmp_path, clip, capsys, name):
    rc, err = cli(capsys, "convert", clip, tmp_path / name, "--fps", "x2", *ARGS)
    assert rc == 2 and "not supported" in err and "segment" in err, err
    assert list(tmp_path.iterdir()) == []  # no playlist, no segments, no temp files


# ------------------------------------------------------------------ MPEG-TS: held means readable
def frames_of(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_ts_prores_video_becomes_a_readable_codec(tmp_path):
    src = make_clip(tmp_path / "p.mov", width=64, height=48, frames=4, codec="prores_ks", pix_fmt="yuv422p10le")
    out = tmp_path / "o.ts"
    res = convert(src, out, options())
    assert streams_of(out) == [("video", "h264")]
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv422p10le"  # the closest TS holds: 4:2:2 10-bit
    assert frames_of(out) == res.frames_out == 8
    assert any("readable" in n and "libx264" in n for n in res.dropped), res.dropped


def test_ts_pcm_and_flac_audio_are_reencoded_not_copied_as_data(tmp_path):
    from support.media import make_multi_audio
    src = make_multi_audio(tmp_path / "a.mkv", ("pcm_s16le", "flac", "aac"), frames=10)
    out = tmp_path / "o.ts"
    res = convert(src, out, options())
    assert streams_of(out) == [("video", "h264"), ("audio", "aac"), ("audio", "aac"), ("audio", "aac")]
    assert res.streams == ["#3 audio aac"]  # only the AAC stream was copied
    notes = [d for d in res.dropped if "re-encoded" in d or "-> aac" in d]
    assert len(notes) == 2 and "pcm_s16le" in notes[0] and "flac" in notes[1], res.dropped
    with av.open(str(out)) as c:  # the re-encoded audio is there and lasts as long as the source's
        for s in c.streams.audio:
            samples = sum(f.samples for f in c.decode(s))
            assert abs(samples - 10 * 48000 // 25) <= 2048, samples
            c.seek(0)


def test_ts_subrip_is_refused_not_written_as_data(tmp_path, capsys):
    src = make_clip(tmp_path / "s.mkv", width=64, height=48, frames=25, subtitles=True)  # cues end before the video
    rc, err = cli(capsys, "convert", src, tmp_path / "o.ts", "--fps", "x2", *ARGS)
    assert rc == 2 and "subtitle srt" in err and "no decoder reads" in err and "--drop-stream" in err, err
    rc, err = cli(capsys, "convert", src, tmp_path / "o.ts", "--fps", "x2", "--drop-stream", "s", *ARGS)
    assert rc == 0 and streams_of(tmp_path / "o.ts") == [("video", "h264")], err


# ------------------------------------------------------------------ non-square pixels
def make_anamorphic(path, codec="libx264", pix_fmt="yuv420p", sar=Fraction(4, 3), frames=4) -> str:
    """64x48 coded, shown 16:9 (SAR 4:3), like 1440x1080 HDV or 720x576 16:9 PAL."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream(codec, rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, pix_fmt
        vs.codec_context.sample_aspect_ratio = vs.sample_aspect_ratio = sar
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            f = f.reformat(format=pix_fmt)
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    return str(path)


@pytest.mark.parametrize("ext", ["mp4", "mkv", "mov"])
def test_sample_aspect_ratio_is_kept(tmp_path, ext):
    src = make_anamorphic(tmp_path / "in.mp4")
    out = tmp_path / f"o.{ext}"
    convert(src, out, options())
    with av.open(str(out)) as c:
        vs = c.streams.video[0]
        assert vs.sample_aspect_ratio == Fraction(4, 3)
        assert vs.codec_context.sample_aspect_ratio == Fraction(4, 3)  # the H.264 VUI too
        assert vs.display_aspect_ratio == Fraction(16, 9)


# ------------------------------------------------------------------ MPEG-2 stays MPEG-2
def make_mpeg2(path, pix_fmt: str, rate: int = 600_000, frames: int = 6) -> str:
    """MPEG-2 with its bit rate in the sequence header (CBR, as XDCAM HD422 at 50 Mb/s)."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream("mpeg2video", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, pix_fmt
        vs.codec_context.bit_rate = rate
        opts = {"maxrate": str(rate), "minrate": str(rate), "bufsize": str(rate // 2)}
        vs.codec_context.options = {**opts, **({"profile": "422"} if pix_fmt == "yuv422p" else {})}
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * i, np.uint8), format="rgb24")
            f = f.reformat(format=pix_fmt)
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    return str(path)


@pytest.mark.parametrize(("pix", "ext", "profile"), [("yuv422p", "mxf", "4:2:2"), ("yuv420p", "ts", "Main")])
def test_mpeg2_is_kept_under_codec_auto(tmp_path, pix, ext, profile):
    src = make_mpeg2(tmp_path / f"in.{ext}", pix)
    out = tmp_path / f"o.{ext}"
    res = convert(src, out, options())
    assert res.video["output"]["codec"] == "mpeg2video" and res.video["output"]["bitrate"] == 600_000
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.name, cc.pix_fmt, cc.profile, cc.bit_rate) == ("mpeg2video", pix, profile, 600_000)
    assert frames_of(out) == res.frames_out == 12


def test_mpeg2_rate_beyond_the_picture_is_a_ceiling_not_a_crash(tmp_path):
    src = make_mpeg2(tmp_path / "in.mpg", "yuv420p", rate=8_000_000)  # 52 bits a pixel at 50 fps
    out = tmp_path / "o.mpg"
    res = convert(src, out, options())
    assert streams_of(out) == [("video", "mpeg2video")] and frames_of(out) == res.frames_out == 12


# ------------------------------------------------------------------ the main video, the other pictures
def make_thumb_first(path, *, thumb: bool = True, main: bool = True) -> str:
    """MP4: a 32x24 two-frame thumbnail track first (flagged default), the 64x48 programme second,
    and PNG cover art (attached picture)."""
    import io

    from av.stream import Disposition
    from PIL import Image

    def h264(c, w, h):
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast"}
        return vs

    with av.open(str(path), "w") as c:
        tracks = ([(h264(c, 32, 24), 2)] if thumb else []) + ([(h264(c, 64, 48), 6)] if main else [])
        cover = c.add_mux_stream("png", width=16, height=16)
        cover.disposition = Disposition.attached_pic
        for vs, n in tracks:
            for i in range(n):
                f = av.VideoFrame.from_ndarray(np.full((vs.height, vs.width, 3), 40 * i, np.uint8), format="rgb24")
                f = f.reformat(format="yuv420p")
                f.pts = i
                for p in vs.encode(f):
                    c.mux(p)
            for p in vs.encode(None):
                c.mux(p)
        png = io.BytesIO()
        Image.new("RGB", (16, 16), (200, 30, 30)).save(png, format="PNG")
        pk = av.Packet(png.getvalue())
        pk.stream, pk.time_base, pk.pts, pk.dts = cover, Fraction(1, 90000), 0, 0
        c.mux(pk)
    return str(path)


def video_streams(path) -> list[tuple]:
    with av.open(str(path)) as c:
        return [(s.codec_context.name, s.codec_context.width, int(s.disposition) & 0x401)
                for s in c.streams.video]


def test_main_video_is_the_programme_and_the_other_pictures_are_kept(tmp_path):
    src = make_thumb_first(tmp_path / "in.mp4")
    out = tmp_path / "o.mp4"
    res = convert(src, out, options())
    assert (res.width, res.height, res.frames_out) == (64, 48, 12)  # the programme, not the thumbnail
    # converted stream first and default; the thumbnail copied (not default); the cover art copied
    assert video_streams(out) == [("h264", 64, 1), ("h264", 32, 0), ("png", 16, 0x400)]
    assert res.streams == ["#0 video h264", "#2 video png"] and res.streams_dropped == []
    assert [f["reason"] for f in res.output["streams"]] == [
        "another video stream, remuxed", "encoded as libx264", "cover art, remuxed"]
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.demux(c.streams.video[1]) if _.size) == 2  # the thumbnail's two frames


@pytest.mark.parametrize("ext", ["mov", "ts"])
def test_cover_art_a_container_cannot_keep_is_said(tmp_path, capsys, ext):
    src = make_thumb_first(tmp_path / "in.mp4")
    out = tmp_path / f"o.{ext}"
    rc, err = cli(capsys, "convert", src, out, "--fps", "x2", "--json", tmp_path / "r.json", *ARGS)
    assert rc == 0, err
    assert "stream #2 video png: cover art, left out" in err
    import json
    report = json.loads((tmp_path / "r.json").read_text())
    fmt = {"mov": "mov", "ts": "mpegts"}[ext]
    assert dropped_streams(report["output"]) == [f"#2 video png: cover art, left out: {fmt} keeps no cover art "
                                         "(.mp4 and .mkv do)"]
    assert [(n, w) for n, w, _ in video_streams(out)] == [("h264", 64), ("h264", 32)]


def test_cover_art_becomes_a_matroska_attachment(tmp_path):
    src = make_thumb_first(tmp_path / "in.mp4")
    out = tmp_path / "o.mkv"
    res = convert(src, out, options())
    assert res.streams == ["#0 video h264", "#2 video png"]
    assert res.output["streams"][2]["reason"] == "cover art, kept as an image attachment"
    assert res.extras["attachments"] == 1 and res.streams_dropped == []
    # read back as cover art again (an image attachment), the same picture
    assert video_streams(out) == [("h264", 64, 1), ("h264", 32, 0), ("png", 16, 0x400)]
    with av.open(str(out)) as c, av.open(src) as s:
        assert next(c.decode(c.streams.video[2])).to_ndarray().tolist() == \
            next(s.decode(s.streams.video[2])).to_ndarray().tolist()


def test_cover_art_alone_is_not_a_video(tmp_path, capsys):
    src = make_thumb_first(tmp_path / "in.mp4", thumb=False, main=False)
    rc, err = cli(capsys, "convert", src, tmp_path / "o.mp4", "--fps", "x2", *ARGS)
    assert rc == 2 and "no video stream" in err and "cover art" in err, err


# ------------------------------------------------------------------ raw elementary streams
def make_raw(path, codec: str, fmt: str, rate, opts=None, frames: int = 6) -> str:
    with av.open(str(path), "w", format=fmt) as c:
        vs = c.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.codec_context.options = opts or {}
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * i, np.uint8), format="rgb24")
            f = f.reformat(format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    return str(path)


def rate_and_frames(path) -> tuple:
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        return vs.average_rate, sum(1 for _ in c.decode(vs))


@pytest.mark.parametrize(("name", "codec", "fmt"), [("in.h264", "libx264", "h264"), ("in.m2v", "mpeg2video", "mpeg2video")])
def test_raw_stream_rate_comes_from_the_bitstream(tmp_path, name, codec, fmt):
    src = make_raw(tmp_path / name, codec, fmt, 50, {"preset": "ultrafast"} if codec == "libx264" else None)
    res = convert(src, tmp_path / "o.mp4", options())
    assert (res.fps_in, res.fps_out, res.frames_out) == (50, 100, 12)  # not 25 -> 50
    assert rate_and_frames(tmp_path / "o.mp4") == (100, 12)


def test_raw_stream_without_a_rate_needs_input_fps(tmp_path, capsys):
    src = make_raw(tmp_path / "in.hevc", "libx265", "hevc", 50,
                   {"preset": "ultrafast", "x265-params": "log-level=error:vui-timing-info=0"})
    out = tmp_path / "o.mp4"
    rc, err = cli(capsys, "convert", src, out, "--fps", "x2", *ARGS)
    assert rc == 2 and "--input-fps" in err and "25" in err and not out.exists(), err
    rc, err = cli(capsys, "convert", src, out, "--fps", "x2", "--input-fps", "50", *ARGS)
    assert rc == 0, err
    assert rate_and_frames(out) == (100, 12)


def test_input_fps_is_refused_for_inputs_with_timestamps(tmp_path, clip, capsys):
    rc, err = cli(capsys, "convert", clip, tmp_path / "o.mp4", "--fps", "x2", "--input-fps", "50", *ARGS)
    assert rc == 2 and "--input-fps is for raw elementary streams" in err, err
    rc, err = cli(capsys, "convert", clip, tmp_path / "o.mp4", "--fps", "x2", "--input-fps", "x2", *ARGS)
    assert rc == 2 and "not a factor" in err, err


# ------------------------------------------------------------------ interpolate: alpha and depth
def test_interpolate_keeps_alpha_and_16_bit(tmp_path, capsys):
    import torch

    from filmrt.imageio import read_picture, write_image

    a, b = torch.zeros(4, 8, 12), torch.zeros(4, 8, 12)
    a[:3], b[:3] = 0.25, 0.75
    a[3], b[3] = 0.0, 1.0  # transparent -> opaque
    write_image(tmp_path / "a.png", a, bits=16)
    write_image(tmp_path / "b.png", b, bits=16)
    rc, err = cli(capsys, "interpolate", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "m.png",
                  "--model", "blend")
    assert rc == 0, err
    from PIL import Image
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode == "RGBA"
    with av.open(str(tmp_path / "m.png")) as c:
        assert next(c.decode(video=0)).format.name == "rgba64be"  # written as 16-bit RGBA
    m = read_picture(tmp_path / "m.png")
    assert m.bits == 16 and m.pixels.shape == (4, 8, 12)
    assert torch.allclose(m.pixels[3], torch.full((8, 12), 0.5), atol=1e-3)  # alpha interpolated
    assert torch.allclose(m.pixels[:3], torch.full((3, 8, 12), 0.5), atol=1e-3)  # finer than 8-bit steps


def test_interpolate_8_bit_rgb_stays_8_bit_rgb(tmp_path, capsys):
    from PIL import Image
    Image.new("RGB", (12, 8), (0, 0, 0)).save(tmp_path / "a.png")
    Image.new("RGBA", (12, 8), (200, 200, 200, 128)).save(tmp_path / "b.png")
    rc, err = cli(capsys, "interpolate", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "m.png",
                  "--model", "blend")
    assert rc == 0, err
    with Image.open(tmp_path / "m.png") as im:  # one side has alpha: the other is opaque, alpha kept
        assert im.mode == "RGBA" and im.getpixel((0, 0))[3] in (191, 192)


def test_mpeg_ps_holds_only_what_reads_back(tmp_path, capsys):
    """MPEG-PS took ProRes under an MPEG-video id (read back as "MP3 audio": no video) and SubRip as
    DVD subtitles; MP2 audio into TS reads back under the MP3 decoder, still the same stream."""
    from support.media import make_multi_audio
    src = make_clip(tmp_path / "p.mov", width=64, height=48, frames=4, codec="prores_ks", pix_fmt="yuv422p10le")
    res = convert(src, tmp_path / "o.mpg", options())
    # --codec auto: MPEG-PS gets MPEG-2 (its own family, placed by its picture headers), said
    assert streams_of(tmp_path / "o.mpg") == [("video", "mpeg2video")] and frames_of(tmp_path / "o.mpg") == 8
    assert any("holds mpeg2video video: --codec auto writes it" in n for n in res.output["notes"]), res.output
    # ProRes by name stays refused: it would read back as no video at all
    with pytest.raises(FilmrtError, match="cannot hold it"):
        convert(src, tmp_path / "p.mpg", options(codec="prores_ks"))
    subs = make_clip(tmp_path / "s.mkv", width=64, height=48, frames=25, subtitles=True)
    rc, err = cli(capsys, "convert", subs, tmp_path / "s.mpg", "--fps", "x2", *ARGS)
    assert rc == 2 and "DVD-subtitle" in err, err
    mp2 = make_multi_audio(tmp_path / "a.mkv", ("mp2",), frames=10)
    res = convert(mp2, tmp_path / "a.ts", options())
    assert res.streams == ["#1 audio mp2"] and streams_of(tmp_path / "a.ts")[1][0] == "audio"


def test_pcm_without_channel_order_goes_into_mp4(tmp_path):
    """PCM from Matroska (two channels, no order) failed at MP4's trailer ("Invalid argument", exit 2)."""
    from support.media import make_multi_audio
    src = make_multi_audio(tmp_path / "a.mkv", ("pcm_s16le",), frames=10)
    res = convert(src, tmp_path / "o.mp4", options())
    assert res.streams == ["#1 audio pcm_s16le"]
    with av.open(str(tmp_path / "o.mp4")) as c:
        a = c.streams.audio[0]
        assert (a.codec_context.name, a.codec_context.layout.name) == ("pcm_s16le", "stereo")
        samples = sum(f.samples for f in c.decode(a))
    with av.open(src) as c:
        assert samples == sum(f.samples for f in c.decode(audio=0))  # every sample copied


def test_explicit_mpeg2_without_a_rate_is_constant_quality_said(tmp_path, clip):
    res = convert(clip, tmp_path / "o.mpg", options(codec="mpeg2video"))
    assert res.video["output"]["codec"] == "mpeg2video" and res.video["output"]["bitrate"] is None
    assert any("constant quality" in n for n in res.dropped), res.dropped
    assert streams_of(tmp_path / "o.mpg") == [("video", "mpeg2video")] and frames_of(tmp_path / "o.mpg") == 12


def test_timecode_track_is_not_a_stream_to_copy(tmp_path):
    """A MOV timecode track made Matroska/MPEG-PS outputs fail (exit 2, "pass --drop-stream"), and was
    listed as copied where it was not: the conversion writes the timecode again at the output rate."""
    src = tmp_path / "tc.mov"
    with av.open(str(src), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.metadata["timecode"] = "10:00:00:00"
        for i in range(4):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * i, np.uint8), format="rgb24")
            f = f.reformat(format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    res = convert(src, tmp_path / "o.mkv", options())
    assert res.streams == [] and "timecode track" in res.streams_dropped[0]
    assert res.temporal["timecode_out"] == "10:00:00:00"
    with av.open(str(tmp_path / "o.mkv")) as c:
        tags = [{k.lower(): v for k, v in d.items()} for d in [c.metadata, *(s.metadata for s in c.streams)]]
        assert "10:00:00:00" in [t.get("timecode") for t in tags]  # Matroska: the TIMECODE tag


def test_slowmo_audio_stretch_of_pcm_without_channel_order(tmp_path):
    """--audio stretch re-encodes to AAC, which needs a channel order: PCM from Matroska has none
    (it failed with 'Invalid argument', exit 2)."""
    from support.media import make_multi_audio
    src = make_multi_audio(tmp_path / "a.mkv", ("pcm_s16le",), frames=10)
    o = ConvertOptions(fps="50", slowmo="2", audio="stretch", runtime=RuntimeOptions(model="blend", threads=1),
                       encode=EncodeOptions(preset="ultrafast"))
    convert(src, tmp_path / "o.mp4", o)
    assert streams_of(tmp_path / "o.mp4") == [("video", "h264"), ("audio", "aac")]

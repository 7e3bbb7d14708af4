"""Silent-damage classes the full conformance matrix found on main (2026-12-06), each at the depth
it was fixed: a Matroska file whose audio outlasts the video called truncated; chapters into a
container without chapters counted as copied (verification then failed the output); chapters
written from 0 in a file whose timestamps start at 1 h lost; the note on a codec a container cannot
hold advising a container that cannot hold it either; a progressive fast pan that idet calls combed
deinterlaced at field rate (exit 0, every source picture replaced by a half-resolution field)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from support.ffmpeg_oracle import ffmpeg
from support.formats_synth import make_extras_clip

from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.probe import stream_duration
from filmrt.pipeline.io.target import fit_container
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.time.cadence.analysis import analyse, field_instants


def _opts(fps: str = "50", **enc) -> ConvertOptions:
    return ConvertOptions(fps=fps, dedup="off", runtime=RuntimeOptions(model="blend"),
                          encode=EncodeOptions(preset="ultrafast", **enc))


def _mkv(path, seconds_video: float, seconds_audio: float, *, start: float = 0.0, chapters=()) -> str:
    """H.264 25 fps + AAC 48 kHz in Matroska, the video ``seconds_video`` long, the audio
    ``seconds_audio``, every timestamp from ``start`` s; ``chapters``: (start, end) seconds."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast"}
        a = c.add_stream("aac", rate=48000)
        a.layout = "stereo"
        if chapters:
            ms = Fraction(1, 1000)
            c.set_chapters([{"id": i + 1, "start": round(s * 1000), "end": round(e * 1000), "time_base": ms,
                             "metadata": {"title": f"C{i}"}} for i, (s, e) in enumerate(chapters)])
        v0, a0 = round(start * 25), round(start * 48000)
        for i in range(round(seconds_video * 25)):
            img = np.full((64, 64, 3), (i * 7) % 256, np.uint8)
            f = av.VideoFrame.from_ndarray(img, "rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = v0 + i, Fraction(1, 25)
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        t = np.arange(round(seconds_audio * 48000)) / 48000
        pcm = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(pcm), 1024):
            chunk = np.stack([pcm[k:k + 1024]] * 2)
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
            f.sample_rate, f.pts, f.time_base = 48000, a0 + k, Fraction(1, 48000)
            for p in a.encode(f):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    return str(path)


def test_audio_longer_than_video_in_matroska_is_not_damage(tmp_path):
    """The container's duration is the audio's (3 s); the video's own DURATION tag says 1 s: the
    video is complete, the output is not flagged as converted from a damaged input."""
    src = _mkv(tmp_path / "long_audio.mkv", 1.0, 3.0)
    with av.open(src) as c:
        assert float(stream_duration(c.streams.video[0])) == 1.0  # the tag, not the container's 3 s
        assert c.duration / 1e6 > 2.9
    r = convert(src, tmp_path / "out.mkv", _opts())
    assert r.problems == [], r.problems
    assert r.frames_out == 50
    assert r.verify.get("status") == "ok", r.verify


def test_chapters_into_a_container_without_chapters_are_said_left_out(tmp_path):
    """MPEG-TS keeps no chapters: the report counts 0 (what verification expects) and says what
    the output does not carry (as any loss: ``--strict`` refuses it)."""
    src = make_extras_clip(tmp_path / "x.mkv", frames=40)
    r = convert(src, tmp_path / "x.ts", _opts(drop_stream="s"))  # its SubRip track: not in TS
    assert r.extras["chapters"] == 0
    assert any("2 chapter(s) left out" in d and "mpegts" in d for d in r.dropped), r.dropped
    assert r.verify.get("status") == "ok", r.verify


def test_chapters_from_zero_in_a_file_starting_at_an_hour_are_kept(tmp_path):
    """ffmpeg -output_ts_offset 3600 moves every timestamp but the chapters (0-1, 1-2 s): they count
    from the file's start, and come out at 0 and 1 s of the output (which starts at 0)."""
    src = _mkv(tmp_path / "late.mkv", 2.0, 2.0, start=3600.0, chapters=[(0, 1), (1, 2)])
    with av.open(src) as c:
        assert c.start_time / 1e6 >= 3599.9
    r = convert(src, tmp_path / "out.mkv", _opts())
    assert r.extras["chapters"] == 2
    with av.open(str(tmp_path / "out.mkv")) as c:
        got = [round(float(ch["start"] * ch["time_base"]), 3) for ch in c.chapters()]
        first = float(c.start_time / 1e6)
    assert [round(t - first, 3) for t in got] == [0.0, 1.0] or got == [0.0, 1.0]


def test_the_fallback_note_names_only_containers_that_hold_the_codec():
    """DNxHR cannot go into Matroska (FFmpeg's muxer has no codec id for it): the note advises .mov
    and .mxf, never .mkv."""
    from filmrt.pipeline.io.formats import choose_format

    out = choose_format("dnxhd", "yuv422p", codec="auto")
    fitted = fit_container(out, "matroska")
    assert fitted.codec == "libx264"
    note = fitted.notes[0]
    assert ".mov" in note and ".mxf" in note and ".mkv" not in note, note


def _weave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A frame whose even lines come from ``a`` and odd lines from ``b``."""
    out = a.copy()
    out[1::2] = b[1::2]
    return out


def test_field_instants_tell_progressive_from_interlaced_either_field_order():
    y, x = np.mgrid[0:96, 0:600].astype(np.float32)
    tex = 0.5 + 0.25 * np.sin(x / 4 + y / 6) + 0.2 * np.sin(x / 9 - y / 4)  # smooth: fields fit each other
    at = [tex[:, 3 * k: 3 * k + 160] for k in range(60)]  # a pan of 3 px per field time
    prog = [torch.from_numpy(at[2 * n]) for n in range(25)]
    tff = [torch.from_numpy(_weave(at[2 * n], at[2 * n + 1])) for n in range(25)]
    bff = [torch.from_numpy(_weave(at[2 * n + 1], at[2 * n])) for n in range(25)]
    fp, ft, fb = field_instants(prog), field_instants(tff), field_instants(bff)
    assert (fp["moving"], fp["same"], ft["moving"], ft["same"], fb["moving"], fb["same"]) == (23, 23, 23, 0, 23, 0)
    assert fp["ratio"] >= 3 and ft["ratio"] < 1.5 and fb["ratio"] < 1.5
    still = [torch.from_numpy(at[0])] * 10  # nothing moves: time tells nothing
    assert field_instants(still)["moving"] == 0


def _luma(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.float64) for f in c.decode(video=0)]


@pytest.mark.parametrize("lavfi", ["testsrc2=s=960x180:r=25:d=2,crop=320:180:x='4*n':y=0",  # a fast pan
                                   "testsrc2=s=1280x180:r=25:d=2,crop=320:180:x='8*n':y=0"])  # a faster one
def test_progressive_picture_that_idet_calls_combed_is_not_deinterlaced(tmp_path, lavfi):
    src, out = tmp_path / "prog.mp4", tmp_path / "out.mp4"
    ffmpeg("-f", "lavfi", "-i", lavfi, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv420p",
           str(src))
    rep = analyse(src)
    assert rep.field_order == "progressive"
    assert rep.idet["tff"] + rep.idet["bff"] > rep.frames_analysed // 2  # idet is fooled: the bug's cause
    res = convert(str(src), str(out), _opts(crf=10))
    assert res.temporal["detected"] == "progressive" and res.temporal["deinterlace"] == "off"
    assert any("one instant" in n for n in res.temporal["notes"])
    a, b = _luma(src), _luma(out)
    assert len(b) == 2 * len(a) == 100
    # at 25 -> 50 every second output frame is a source instant: the source picture itself, not a
    # field-rate reconstruction (those were 25-28 dB); crf 10 twice keeps it above 40 dB
    worst = min(10 * np.log10(255**2 / max(np.mean((x - y) ** 2), 1e-9)) for x, y in zip(a, b[::2], strict=True))
    assert worst > 40


def test_interlaced_pictures_in_a_stream_flagged_progressive_are_still_deinterlaced(tmp_path):
    src = tmp_path / "woven.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=50:d=2", "-vf", "scroll=h=0.02,interlace=scan=tff,setfield=prog",
           "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv420p", str(src))
    res = convert(str(src), str(tmp_path / "out.mp4"), _opts())
    assert (res.temporal["detected"], res.temporal["deinterlace"]) == ("interlaced", "bwdif")
    assert res.temporal["field_instants"]["same"] == 0 < res.temporal["field_instants"]["moving"]


def test_deep_pcm_copied_into_mp4_says_old_readers_misread_it(tmp_path):
    src = tmp_path / "pcm24.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x64:r=25:d=1", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=1",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s24le", str(src))
    reasons = {}
    for ext in ("mp4", "mov"):
        res = convert(str(src), str(tmp_path / f"out.{ext}"), _opts())
        (audio,) = [f for f in res.output["streams"] if f["kind"] == "audio"]
        assert (audio["fate"], audio["codec"]) == ("copied", "pcm_s24le")
        reasons[ext] = audio["reason"]
    assert "FFmpeg < 7 reads pcm_s24le in MP4 as 16-bit" in reasons["mp4"] and reasons["mov"] == "remuxed"


def test_mpeg4_part2_copied_into_ts_carries_its_header_in_band(tmp_path):
    """A second MPEG-4 part 2 video track from Matroska (its VOL header in the container header)
    copied into MPEG-TS, which has no such header: 18 of 50 packets did not decode (exit 4). The
    header now goes in front of every keyframe (dump_extra): every packet decodes."""
    from support.conformance import Case
    from support.conformance_media import make

    src = make(Case("mkv", "mpeg4", "aac", extra="video2"), tmp_path / "in")
    out = tmp_path / "out.ts"
    convert(str(src), str(out), _opts())
    with av.open(str(out)) as c:
        second = [s for s in c.streams.video if s.codec_context.name == "mpeg4"][0]
        frames = sum(1 for _ in c.decode(second))  # a packet that does not decode raises
    with av.open(str(src)) as c:
        assert frames == sum(1 for _ in c.decode(c.streams.video[1]))


def test_ss_into_mxf_starts_at_the_first_picture_with_the_sound_from_there(tmp_path):
    """MXF starts every stream together: --ss 0.5 on 25 fps (pictures at 0.48, 0.52) cut the PCM at
    0.5 while the first picture was 0.52, so the muxer put 20 ms of earlier sound under it (exit 4).
    The start moves to the first picture; the PCM is cut there, sample-exact."""
    from support.conformance import Case
    from support.conformance_media import make

    src = make(Case("mxf", "mpeg2", "pcm24"), tmp_path / "in")
    out = tmp_path / "out.mxf"
    res = convert(str(src), str(out), ConvertOptions(fps="50", ss=0.5, t=1, dedup="off",
                                                     runtime=RuntimeOptions(model="blend")))
    assert res.verify["status"] == "ok"
    assert any("first picture after it, 0.52 s" in n for n in res.temporal["notes"])
    with av.open(str(out)) as c:
        a, v = c.streams.audio[0], c.streams.video[0]
        assert a.start_time * a.time_base == v.start_time * v.time_base == 0
        assert Fraction(98, 100) <= a.duration * a.time_base <= 1  # --t 1 of sound (the muxer may end it with the video)


def test_a_clock_reset_keeps_the_copied_sound_after_the_old_part(tmp_path):
    """Two 2 s TS recordings joined, the second's clock starting where the first's did (a reset):
    the pictures of the second part are placed after the first's; its copied sound was squashed
    onto one time (each packet moved one tick after the previous) and mostly lost. Now it follows
    the first part's sound: the audio lasts the 4 s of both parts, in order."""
    parts = []
    for name in ("a", "b"):
        part = tmp_path / f"{name}.ts"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=2", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=2",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "mp2",
               "-output_ts_offset", "10", "-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts", str(part))
        parts.append(part.read_bytes())
    src, out = tmp_path / "reset.ts", tmp_path / "out.mkv"
    src.write_bytes(b"".join(parts))
    res = convert(str(src), str(out), ConvertOptions(fps="25", dedup="off", no_verify=True,
                                                     runtime=RuntimeOptions(model="blend")))
    assert res.frames_out == 100
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        times = [p.pts * a.time_base for p in c.demux(a) if p.size]
    assert all(y > x for x, y in zip(times, times[1:], strict=False))
    assert abs(float(times[-1] - times[0]) - 4.0) < 0.1


@pytest.mark.parametrize("phase", ["b", "t"])
def test_shifted_2_2_pulldown_gives_the_film_frames_at_their_own_times(tmp_path, phase):
    """25p shifted by a field (one field delayed), a fast pan: idet still finds 30 % combed after
    fieldmatch, so it was deinterlaced at field rate (each film frame twice, from single fields).
    The field-instant test finds it (each bottom field is a neighbour's picture): fieldmatch gives
    the whole film frames back. A film frame spans two video frames, so its slot is one of them:
    the output may sit a frame either side of the reference's numbering (half a frame in time)."""
    pan = "testsrc2=s=1280x180:r=25:d=2,crop=320:180:x='16*n':y=0"
    ref, src, out = tmp_path / "ref.mkv", tmp_path / "shifted.mkv", tmp_path / "out.mkv"
    for path, vf in ((ref, "null"), (src, f"phase=mode={phase}")):
        ffmpeg("-f", "lavfi", "-i", pan, "-vf", vf, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8",
               "-pix_fmt", "yuv420p", str(path))
    res = convert(str(src), str(out), _opts(fps="25", crf=8))
    assert (res.temporal["detected"], res.temporal["deinterlace"]) == ("pulldown 2:2", "fieldmatch")
    a, b = _luma(ref), _luma(out)
    best = max(np.median([10 * np.log10(255**2 / max(np.mean((x - y) ** 2), 1e-9))
                          for x, y in zip(a[2 + k:-3 + k], b[2:-3], strict=True)]) for k in (-1, 0, 1))
    assert best > 40  # a field-rate rebuild of the film frames: about 20 dB at any shift


def test_h264_into_mxf_is_read_back_in_time_order(tmp_path):
    """FFmpeg's MXF muxer writes no reordering for H.264: with B-frames, PyAV read the pictures back
    as 0, 2, 1, 4, 3 ... (exit 0; FFmpeg 6.0 showed a gap). H.264 into MXF is written without them."""
    from support.conformance import Case
    from support.conformance_media import make

    src = make(Case("mp4", "h264"), tmp_path / "in")
    out = tmp_path / "out.mxf"
    convert(str(src), str(out), ConvertOptions(fps="50", dedup="off", runtime=RuntimeOptions(model="blend"),
                                               encode=EncodeOptions(preset="medium")))  # B-frames by default
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        pts = [f.pts for f in c.decode(video=0)]
    assert len(pts) > 10 and all(b > a for a, b in zip(pts, pts[1:], strict=False))

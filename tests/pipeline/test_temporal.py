"""Temporal structure (issue 14): motion-compensated down-conversion, slow motion, timecode.

Clips: a square moving a fixed number of pixels per frame (filmrt.bench.temporal), converted with
the parameter-free ``blend`` model, whose output moves the square's centroid exactly linearly in t:
what is measured is which times the scheduler asks for."""

from __future__ import annotations

from fractions import Fraction as F

import av
import numpy as np
import pytest
from support.synth import make_clip

from filmrt.bench.temporal import displacements, judder, square_frame, square_x, write_clip
from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.time.schedule import INTERP, NEAREST, schedule
from filmrt.pipeline.time.timecode import convert_timecode

pytestmark = pytest.mark.usefixtures("one_thread")
W, H = 128, 72


def opts(fps: str, **kw) -> ConvertOptions:
    return ConvertOptions(fps=fps, runtime=RuntimeOptions(model="blend"),
                          encode=EncodeOptions(preset="ultrafast", crf=2), **kw)


def xs_of(path) -> list[float]:
    with av.open(str(path)) as c:
        return [square_x(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def test_scheduler_down_interp_asks_each_output_time():
    ts = [F(i * 1001, 60000) for i in range(60)]
    near = schedule(ts, F(50), down="nearest")
    interp = schedule(ts, F(50), down="interp")
    assert {j.kind for j in near} >= {NEAREST} and NEAREST not in {j.kind for j in interp}
    for j in interp:
        if j.kind == INTERP:  # exact: the output time sits at t between its two source frames
            assert ts[j.a] + j.t * (ts[j.b] - ts[j.a]) == j.time


def test_5994_to_50_interp_is_smooth_nearest_judders(tmp_path):
    src = write_clip(tmp_path / "p.mp4", [square_frame(2 * i, W, H, 16, textured=False) for i in range(48)],
                     F(60000, 1001))
    res = {}
    for down in ("interp", "nearest"):
        r = convert(src, tmp_path / f"{down}.mp4", opts("50", down=down))
        assert r.temporal["down"] == down
        res[down] = judder(xs_of(tmp_path / f"{down}.mp4")[:-1])  # the last frame is held
    # 2 px per source frame = 2.3976 px per output frame; nearest: 2 px, and a 4 px jump every sixth frame
    assert res["interp"]["spread_px"] < 0.5 and abs(res["interp"]["mean_px"] - 2.3976) < 0.05
    assert res["nearest"]["max_px"] > 3.5 and res["nearest"]["min_px"] < 2.2


def test_down_auto_follows_the_model():
    from filmrt.models import get_spec
    from filmrt.pipeline.time.cadence.analysis import choose_down

    assert choose_down("auto", get_spec("rife"), "direct")[0] == "interp"
    down, note = choose_down("interp", get_spec("film"), "recursive")
    assert down == "interp" and "1/2**max-depth" in note
    assert choose_down("auto", get_spec("film"), "recursive")[0] == "nearest"


def test_slowmo_4_positions_linear_in_time_audio_dropped_subtitles_retimed(tmp_path):
    src = write_clip(tmp_path / "p.mp4", [square_frame(4 * i, W, H, 16, textured=False) for i in range(20)], 25)
    r = convert(src, tmp_path / "slow.mp4", opts("25", slowmo="4"))
    assert r.frames_out == 80 and r.temporal["slowmo"] == "4"
    d = displacements(xs_of(tmp_path / "slow.mp4"))[:76]  # the last source frame is held 4 frames
    assert np.abs(d - 1.0).max() < 0.1  # 4 px per source frame, 1 px per slowed frame
    assert probe(tmp_path / "slow.mp4").video.duration == F(16, 5)
    clip = make_clip(tmp_path / "s.mkv", fps=25, frames=20, audio=True, subtitles=True)
    r = convert(clip, tmp_path / "slow.mkv", opts("25", slowmo="2.5"))
    assert r.temporal["audio"] == "drop" and r.frames_out == 50
    out = probe(tmp_path / "slow.mkv")
    assert [s.type for s in out.streams] == ["video", "subtitle"]
    with av.open(str(tmp_path / "slow.mkv")) as c:
        cues = [(p.pts, p.duration) for p in c.demux(c.streams.subtitles[0]) if p.pts is not None]
    assert cues == [(0, 1000), (1000, 1000)]  # 0 s and 0.4 s, 400 ms long, played 2.5 x slower


def test_slowmo_without_a_sound_track_says_no_audio_was_dropped(tmp_path):
    src = write_clip(tmp_path / "p.mp4", [square_frame(4 * i, W, H, 16, textured=False) for i in range(6)], 25)
    for audio in ("auto", "copy", "stretch"):
        r = convert(src, tmp_path / f"slow-{audio}.mp4", opts("25", slowmo="2", audio=audio))
        assert r.frames_out == 12 and not [n for n in r.temporal["notes"] if "audio" in n], (audio, r.temporal["notes"])
    clip = make_clip(tmp_path / "a.mkv", fps=25, frames=6, audio=True)  # with one, it is said
    r = convert(clip, tmp_path / "slow-a.mkv", opts("25", slowmo="2"))
    assert any("audio dropped" in n for n in r.temporal["notes"])


@pytest.mark.parametrize("bad", ["0.5", "x", "-2"])
def test_slowmo_checked_up_front(bad):
    with pytest.raises(FilmrtError, match="--slowmo"):
        opts("25", slowmo=bad)


@pytest.mark.parametrize("tc, rin, rout, want", [
    ("10:00:00:00", 25, 50, "10:00:00:00"),
    ("01:00:00:24", 25, 50, "01:00:00:48"),
    ("10:00:00;02", F(30000, 1001), F(60000, 1001), "10:00:00;04"),
    ("00:01:00:00", 25, F(30000, 1001), "00:01:00:00"),  # non-drop stays non-drop
    ("00:01:00;02", F(30000, 1001), F(60000, 1001), "00:01:00;04"),  # drop-frame stays drop-frame
    ("00:10:00;00", F(30000, 1001), F(60000, 1001), "00:10:00;00"),  # every tenth minute keeps ;00
])
def test_timecode_re_expressed_at_output_rate(tc, rin, rout, want):
    assert convert_timecode(tc, F(rin), F(rout)) == want


def test_timecode_carried_to_output(tmp_path):
    src = write_clip(tmp_path / "tc.mov", [square_frame(2 * i, W, H, 16, textured=False) for i in range(10)], 25,
                     timecode="10:00:00:00")
    r = convert(src, tmp_path / "o.mov", opts("50"))
    assert (r.temporal["timecode_in"], r.temporal["timecode_out"]) == ("10:00:00:00", "10:00:00:00")
    with av.open(str(tmp_path / "o.mov")) as c:
        tags = [s.metadata.get("timecode") for s in c.streams] + [c.metadata.get("timecode")]
        assert "10:00:00:00" in tags and c.streams.video[0].average_rate == 50


# ---------------------------------------------------------------------- interlaced input
@pytest.fixture(scope="module")
def progressive50():
    return [square_frame(6 * i, 160, 96, 20) for i in range(16)]  # textured; 6 px per field


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_woven_25i_deinterlaced_back_to_50p(order, progressive50, tmp_path):
    """50p woven into 25i (fieldops.WEAVE: libavfilter separatefields/select/weave) -> convert
    --deinterlace auto at 50 -> every output frame matches its 50p original (bwdif: ~37 dB here)."""
    src = write_clip(tmp_path / "i.mp4", progressive50, 50, interlace=order)
    r = convert(src, tmp_path / "d.mp4", opts("50"))
    t = r.temporal
    assert (t["detected"], t["field_parity"], t["deinterlace"]) == ("interlaced", order, "bwdif")
    assert r.frames_in == 16 and r.frames_out == 16 and r.interpolated == 0  # every frame is a field
    with av.open(str(tmp_path / "d.mp4")) as c:
        got = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    from filmrt.quality import psnr

    scores = [psnr(g, o) for g, o in zip(got[1:-1], progressive50[1:-1], strict=True)]
    assert min(scores) > 33, scores
    xs = [square_x(g) for g in got]
    assert np.abs(np.diff(xs) - 6).max() < 0.5  # motion at field rate: 6 px per output frame
    # without deinterlacing the same frames comb: far lower
    r = convert(src, tmp_path / "off.mp4", opts("25", deinterlace="off"))
    with av.open(str(tmp_path / "off.mp4")) as c:
        woven = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert psnr(woven[3], progressive50[6]) < min(scores) - 5


def test_flagged_interlaced_progressive_content_is_left_alone(progressive50, tmp_path):
    src = write_clip(tmp_path / "f.mp4", progressive50, 25, interlace="tff", flag_only=True)
    r = convert(src, tmp_path / "o.mp4", opts("25"))
    t = r.temporal
    assert t["flagged_interlaced"] > 0 and t["detected"] == "progressive" and t["deinterlace"] == "off"
    assert any("no combing" in n for n in t["notes"])
    assert r.frames_out == 16 and r.copied == 16


# ---------------------------------------------------------------------- interlaced output
@pytest.mark.parametrize("order", ["tff", "bff"])
def test_interlace_output_weaves_fields_and_tags_them(order, progressive50, tmp_path):
    """50p -> --interlace: 25 interlaced frames a second, flagged, field order in the stream;
    deinterlacing that output again gives back the 50p pictures."""
    src = write_clip(tmp_path / "p.mp4", progressive50, 50)
    r = convert(src, tmp_path / "i.mkv", opts("50", interlace=order))
    assert r.temporal["interlace_out"] == order
    with av.open(str(tmp_path / "i.mkv")) as c:
        vs = c.streams.video[0]
        frames = list(c.decode(vs))
        assert vs.average_rate == 25 and len(frames) == 8
        assert all(f.interlaced_frame for f in frames)
        assert vs.codec_context.field_order == (2 if order == "tff" else 3)  # AV_FIELD_TT / AV_FIELD_BB
    back = convert(tmp_path / "i.mkv", tmp_path / "b.mp4", opts("50"))
    assert back.temporal["field_parity"] == order and back.frames_out == 16
    with av.open(str(tmp_path / "b.mp4")) as c:
        xs = [square_x(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert np.abs(np.array(xs) - [square_x(p) for p in progressive50]).max() < 0.6


# ---------------------------------------------------------------------- cadence and duplicates
def test_telecined_film_recovers_the_original_frames(tmp_path):
    """23.976p -> 3:2 pulldown (libavfilter telecine) -> 29.97i; convert at 23.976 detects the
    cadence, fieldmatch+decimate give back the 24 film frames: copies, nothing interpolated."""
    film = [square_frame(5 * i, 160, 96, 20) for i in range(24)]
    src = write_clip(tmp_path / "tc.mp4", film, F(24000, 1001), telecine=True)
    r = convert(src, tmp_path / "f.mp4", opts("24000/1001"))
    assert r.temporal["detected"] == "telecined" and r.temporal["deinterlace"] == "fieldmatch+decimate"
    assert r.frames_out == 24 and r.interpolated == 0
    with av.open(str(tmp_path / "f.mp4")) as c:
        got = [f for f in c.decode(video=0)]
    from filmrt.quality import psnr

    for g, o in zip(got, film, strict=True):  # luma: the film frame itself (chroma was mixed by 4:2:0 telecine)
        want = av.VideoFrame.from_ndarray(o, format="rgb24").reformat(format="yuv420p").to_ndarray()[:96]
        assert psnr(g.to_ndarray()[:96] / 255.0, want / 255.0) > 50
        assert abs(square_x(g.to_ndarray(format="rgb24")) - square_x(o)) < 0.3


def test_dedup_animation_on_twos_moves_smoothly(tmp_path):
    """Each drawing held for two frames (6 px per drawing): at 50 fps, with --dedup auto the square
    moves 1.5 px every output frame; with --dedup off it stops and jumps."""
    pics = [square_frame(6 * (i // 2), W, H, 16, textured=False) for i in range(24)]
    src = write_clip(tmp_path / "twos.mp4", pics, 25)
    r = convert(src, tmp_path / "on.mp4", opts("50"))
    assert r.temporal["dedup"] == "on" and r.temporal["duplicates_dropped"] == 12
    assert r.temporal["repeat_cadence"] == "animation on twos"
    d = displacements(xs_of(tmp_path / "on.mp4"))[:-4]  # the last drawing is held to the end
    assert np.abs(d - 1.5).max() < 1.0 and np.abs(d - 1.5).mean() < 0.2
    convert(src, tmp_path / "off.mp4", opts("50", dedup="off"))
    d = displacements(xs_of(tmp_path / "off.mp4"))[:-4]
    assert d.min() < 0.2 and d.max() > 2.8


# ---------------------------------------------------------------------- batch
def test_batch_applies_and_reports_the_temporal_options(progressive50, tmp_path):
    from filmrt.pipeline.batch import run_batch

    lib = tmp_path / "lib"
    lib.mkdir()
    write_clip(lib / "i25.mp4", progressive50, 50, interlace="tff")
    write_clip(lib / "p25.mp4", progressive50[:8], 25)
    rep = run_batch(lib, tmp_path / "out", opts("25", slowmo="2"), workers=0, quiet=True)
    assert rep.counts() == {"done": 2}
    by = {f.rel: f for f in rep.files}
    assert by["i25.mp4"].temporal["deinterlace"] == "bwdif" and by["i25.mp4"].frames_out == 16  # 0.32 s x 2 at 25
    assert by["p25.mp4"].temporal["slowmo"] == "2" and by["p25.mp4"].frames_out == 16
    assert rep.to_dict()["files"][0]["temporal"]["slowmo"] == "2"


def test_slowmo_audio_stretch_keeps_pitch_and_length(tmp_path):
    """--audio stretch: the 440 Hz tone lasts N times longer at the same pitch (atempo chain)."""
    from filmrt.pipeline.time.audiostretch import atempo_chain

    assert atempo_chain(F(4)) == [("atempo", "0.5"), ("atempo", "0.5")]
    assert atempo_chain(F(5, 2)) == [("atempo", "0.5"), ("atempo", "0.8")]
    clip = make_clip(tmp_path / "a.mp4", fps=25, frames=25, audio=True)
    r = convert(clip, tmp_path / "o.mp4", opts("25", slowmo="4", audio="stretch"))
    assert r.temporal["audio"] == "stretch"
    out = probe(tmp_path / "o.mp4")
    assert abs(out.of_type("audio")[0].duration - 4) < 0.1 and out.video.duration == 4
    with av.open(str(tmp_path / "o.mp4")) as c:
        a = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    spectrum = np.abs(np.fft.rfft(a[24000:72000]))
    assert abs(np.argmax(spectrum) * 48000 / 48000 - 440) <= 2  # 1 s window: 1 Hz bins
    with pytest.raises(FilmrtError, match="--audio stretch goes with --slowmo"):
        opts("25", audio="stretch")


def test_cli_options_and_json_record(tmp_path, capsys):
    import json

    from filmrt.cli.main import main

    src = write_clip(tmp_path / "p.mp4", [square_frame(4 * i, W, H, 16, textured=False) for i in range(10)], 25)
    rc = main(["convert", str(src), str(tmp_path / "o.mp4"), "--fps", "x1", "--slowmo", "2", "--down", "nearest",
               "--deinterlace", "off", "--dedup", "off", "--model", "blend", "--preset", "ultrafast",
               "--json", str(tmp_path / "r.json"), "--quiet"])
    assert rc == 0
    t = json.loads((tmp_path / "r.json").read_text())["temporal"]
    assert (t["slowmo"], t["down"], t["deinterlace"], t["dedup"]) == ("2", "nearest", "off", "off")
    assert json.loads((tmp_path / "r.json").read_text())["frames_out"] == 20
    assert "filmrt: rates below the source take the nearest" in capsys.readouterr().err


def test_decide_trusts_the_pictures_over_the_flags():
    from filmrt.pipeline.time.cadence.analysis import TemporalReport, decide

    def report(**idet):
        counts = {"tff": 0, "bff": 0, "progressive": 0, "undetermined": 0, "repeated": 0, **idet}
        return TemporalReport(field_order="tt", flagged_interlaced=30, frames_analysed=30, idet=counts)

    o = opts("50")
    r = decide(report(bff=28), o)  # the stream says tt, the pictures comb bottom first
    assert (r.detected, r.field_parity, r.deinterlace) == ("interlaced", "bff", "bwdif")
    r = decide(report(bff=28), opts("50", field_order="tff", deinterlace="yadif"))
    assert (r.field_parity, r.deinterlace) == ("tff", "yadif")
    r = decide(report(progressive=30), o)  # flagged, but nothing combs
    assert r.deinterlace == "off" and "no combing" in r.notes[0]
    r = decide(report(tff=30, repeated=12), o)  # a repeated field in 2 of 5 frames
    assert (r.detected, r.deinterlace) == ("telecined", "fieldmatch+decimate")
    assert decide(report(tff=30, repeated=12), opts("50", ivtc="off")).deinterlace == "bwdif"
    assert decide(report(tff=30), opts("50", deinterlace="off")).deinterlace == "off"


def test_22_pulldown_shifted_by_a_field_is_field_matched(tmp_path):
    """25p carried in 25i with its fields shifted by one (every frame combs, like interlaced video):
    fieldmatch re-pairs the fields and the 25p pictures come back, no deinterlacing at field rate."""
    pics = [square_frame(6 * i, 160, 96, 20) for i in range(13)]
    shifted = [pics[0]] + [pics[(i + 1) // 2] for i in range(1, 24)]  # fields: p0 | p1 p1 | p2 p2 ...
    src = write_clip(tmp_path / "s22.mp4", shifted, 50, interlace="tff")
    r = convert(src, tmp_path / "o.mp4", opts("25"))
    assert (r.temporal["detected"], r.temporal["deinterlace"]) == ("pulldown 2:2", "fieldmatch")
    assert r.frames_out == 12 and r.interpolated == 0
    d = displacements(xs_of(tmp_path / "o.mp4"))[1:]  # the first frame has no partner for its first field
    assert np.abs(d - 6).max() < 0.3


def test_reencoded_audio_keeps_its_place_among_the_streams(tmp_path):
    """Slowed (re-encoded) audio is added where it was, as ``ffmpeg -map 0`` would, not after the subtitles;
    the target's output indices say the same, and the sound keeps its disposition."""
    made = make_clip(tmp_path / "s.mkv", fps=25, frames=20, audio=True, subtitles=True)
    clip = str(tmp_path / "vas.mkv")  # remuxed with the sound before the subtitles
    with av.open(made) as c, av.open(clip, "w") as o:
        ins = sorted(c.streams, key=lambda s: ["video", "audio", "subtitle"].index(s.type))
        outs = {s.index: o.add_stream_from_template(s) for s in ins}
        o.streams.audio[0].disposition = av.stream.Disposition.default | av.stream.Disposition.dub
        for p in c.demux():
            if p.dts is not None:
                p.stream = outs[p.stream.index]
                o.mux(p)
    order = ["video", "audio", "subtitle"]
    assert [s.type for s in probe(clip).streams] == order
    r = convert(clip, tmp_path / "slow.mkv", opts("25", slowmo="2", audio="stretch"))
    assert [s.type for s in probe(tmp_path / "slow.mkv").streams] == order
    fates = {f["kind"]: f for f in r.output["streams"]}
    assert (fates["audio"]["output_index"], fates["subtitle"]["output_index"]) == (1, 2)
    with av.open(str(tmp_path / "slow.mkv")) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.index == 1 and a.disposition & av.stream.Disposition.dub

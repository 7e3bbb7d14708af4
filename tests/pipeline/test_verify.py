"""Verification of outputs (pipeline.io.verify): a correct convert passes with every check listed;
hand-made wrong outputs (a frame missing, a shifted timestamp, an audio stream removed, SAR or a
colour tag changed, a copied stream truncated) fail with exit 4 and a line naming the difference,
in ``filmrt verify IN OUT`` and inside ``convert`` (OUT left as it was); ``--no-verify`` skips."""

from __future__ import annotations

import json
import os
import threading
from fractions import Fraction as F
from pathlib import Path

import av
import pytest
from support.synth import make_clip

from filmrt.cli.main import main
from filmrt.errors import EXIT_VERIFY_FAILED, VerificationFailed
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io import encode
from filmrt.pipeline.io.verify import verify_pair
from filmrt.pipeline.options import ConvertOptions, EncodeOptions

pytestmark = pytest.mark.usefixtures("one_thread")

#: BT.709 matrix, limited range, BT.709 primaries and transfer (FFmpeg's numbers)
BT709 = (1, 1, 1, 1)


def fast(fps: str = "50", **kw) -> ConvertOptions:
    return ConvertOptions(fps=fps, runtime=RuntimeOptions(model="blend"), encode=EncodeOptions(preset="ultrafast"),
                          **kw)


def write(src, dst, *, skip=(), shift: dict | None = None, audio: str = "copy", sar=None, colour=BT709,
          rate: F | None = None) -> str:
    """Re-encode ``src``'s video (libx264, every frame a keyframe) and copy its audio, with one fault:
    ``skip`` frames left out, ``shift`` {frame: ticks} moved, ``audio`` "copy", "none" or "half"
    (the first half of the packets), ``sar`` set, ``colour`` tags. Rate: the source's (or ``rate``)."""
    with av.open(str(src)) as i:
        iv = i.streams.video[0]
        frames = [f.to_ndarray(format="yuv420p") for f in i.decode(iv)]
        rate = rate or F(iv.average_rate)
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        iv = i.streams.video[0]
        ov = o.add_stream("libx264", rate=rate)
        ov.width, ov.height, ov.pix_fmt = iv.codec_context.width, iv.codec_context.height, "yuv420p"
        ov.time_base = ov.codec_context.time_base = 1 / (4 * rate)  # 4 ticks a frame: room to shift one
        cc = ov.codec_context
        cc.options = {"preset": "ultrafast", "g": "1", "bf": "0"}
        cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = colour
        if sar is not None:
            cc.sample_aspect_ratio = sar
        ia = i.streams.audio[0] if i.streams.audio and audio != "none" else None
        oa = o.add_stream_from_template(ia) if ia is not None else None
        for k, arr in enumerate(frames):
            if k in skip:
                continue
            f = av.VideoFrame.from_ndarray(arr, format="yuv420p")
            f.colorspace, f.color_range = colour[0], colour[1]
            f.pts, f.time_base = 4 * k + (shift or {}).get(k, 0), 1 / (4 * rate)
            for p in ov.encode(f):
                o.mux(p)
        for p in ov.encode(None):
            o.mux(p)
        if oa is not None:
            packets = [p for p in i.demux(ia) if p.size]
            for p in packets[: len(packets) // 2] if audio == "half" else packets:
                p.stream = oa
                o.mux(p)
    return str(dst)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """IN (25 fps, BT.709 tags, AAC audio) and a correct OUT made from it by :func:`write`."""
    d = tmp_path_factory.mktemp("verify")
    raw = make_clip(d / "raw.mp4", fps=25, frames=25, audio=True, width=64, height=48)
    src = write(raw, d / "in.mp4")
    return d, src, write(src, d / "good.mp4")


@pytest.fixture(scope="module")
def converted(pair):
    d, src, _ = pair
    res = convert(src, d / "conv.mp4", fast("50"))
    return src, str(d / "conv.mp4"), res


def test_a_correct_convert_passes_every_check(converted):
    src, out, res = converted
    v = res.verify
    assert v["status"] == "ok" and v["differences"] == [] and v["seconds"] > 0
    for name in ("video frame count", "video timestamps on the planned grid", "video duration", "start time",
                 "sample aspect ratio", "colour tags", "field order", "HDR static metadata",
                 "copied streams: present, decodable, codec, duration, A/V offset, channels, sample rate, language",
                 "dropped streams as planned",
                 "chapters", "attachments", "video frames decodable"):
        assert name in v["checks"], name
    assert json.loads(json.dumps(res.to_dict()))["verify"]["status"] == "ok"


def test_verify_command_on_a_converted_pair_with_json(converted, capsys):
    src, out, _ = converted
    assert main(["verify", src, out, "--json"]) == 0
    cap = capsys.readouterr()
    report = json.loads(cap.out)
    assert report["status"] == "ok" and "video timestamps on the planned grid" in report["checks"]
    assert "verify" in cap.err and "ok" in cap.err


@pytest.mark.parametrize(("fault", "line"), [
    ({"skip": (12,)}, "video frames: 24 in OUT, 25 planned"),
    ({"skip": (12,)}, "video timestamps: no frame at planned 0.4800 s"),
    ({"shift": {7: 1}}, "video timestamps: a frame at 0.2900 s is off the planned grid (nearest planned 0.2800 s, 10 ms from it)"),
    ({"audio": "none"}, "stream #1 audio aac: missing from OUT"),
    ({"sar": F(4, 3)}, "SAR: 4:3 in OUT, the source's 1:1"),
    ({"colour": (6, 1, 1, 1)}, "colour matrix: 6 in OUT, planned 1"),
    ({"audio": "half"}, "stream #1 audio: lasts"),
])
def test_wrong_outputs_fail_with_exit_4_and_a_line_each(pair, tmp_path, capsys, fault, line):
    _, src, _ = pair
    bad = write(src, tmp_path / "bad.mp4", **fault)
    rc = main(["verify", src, bad])
    err = capsys.readouterr().err
    assert rc == EXIT_VERIFY_FAILED, err
    assert f"filmrt: mismatch: {line}" in err, err
    assert "filmrt: error: verification failed: " in err


def test_a_stream_left_out_on_purpose_is_said_not_failed(pair, tmp_path, capsys):
    _, src, _ = pair
    bad = write(src, tmp_path / "noaudio.mp4", audio="none")
    assert main(["verify", src, bad, "--dropped", "a"]) == 0
    err = capsys.readouterr().err
    assert err.count("dropped (no plan to say why)") == 1 and "verify:" in err


def test_the_correct_hand_made_output_passes(pair):
    _, src, good = pair
    rep = verify_pair(src, good)
    assert rep.ok, rep.differences


def _drop_packets(monkeypatch, which):
    """Make the muxer lose the packets ``which(packet, n)`` picks (n: that stream's packets so far)."""
    real, seen = encode.Muxer._mux, {}

    def lossy(self, packet):
        n = seen[packet.stream.index] = seen.get(packet.stream.index, 0) + 1
        if not which(packet, n):
            real(self, packet)

    monkeypatch.setattr(encode.Muxer, "_mux", lossy)


def test_convert_refuses_a_wrong_output_and_keeps_the_old_out(pair, tmp_path, monkeypatch, capsys):
    _, src, _ = pair
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the previous OUT")
    _drop_packets(monkeypatch, lambda p, n: p.stream.type == "video" and n == 20)
    rc = main(["convert", src, str(out), "--fps", "50", "--model", "blend", "--preset", "ultrafast", "-y",
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == EXIT_VERIFY_FAILED, err
    assert "filmrt: mismatch: video frames: 49 in OUT, 50 planned" in err
    assert out.read_bytes() == b"the previous OUT"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temp file left


def test_keep_failed_keeps_the_output_beside_out(pair, tmp_path, monkeypatch):
    _, src, _ = pair
    out = tmp_path / "out.mp4"
    _drop_packets(monkeypatch, lambda p, n: p.stream.type == "audio" and n > 10)  # a truncated copy
    with pytest.raises(VerificationFailed) as e:
        convert(src, out, fast("50", keep_failed=True))
    assert e.value.exit_code == 4
    assert any(d.startswith("mismatch: stream #1 audio: lasts") for d in e.value.differences), str(e.value)
    assert not out.exists() and (tmp_path / "out.failed-verify.mp4").is_file()


def test_no_verify_skips(pair, tmp_path, monkeypatch):
    _, src, _ = pair
    _drop_packets(monkeypatch, lambda p, n: p.stream.type == "video" and n == 3)
    res = convert(src, tmp_path / "out.mkv", fast("50", no_verify=True))
    assert res.verify["status"] == "skipped (--no-verify)" and (tmp_path / "out.mkv").is_file()


def test_streamed_output_is_not_verified(pair, tmp_path):
    _, src, _ = pair
    fifo = tmp_path / "fifo.mkv"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(Path(fifo).read_bytes()), daemon=True)
    reader.start()
    res = convert(src, fifo, fast("50"))
    reader.join(timeout=30)
    assert res.verify["status"] == "not verified (streamed)" and got and got[0]


def test_batch_item_that_fails_verification_is_failed_with_the_reason(pair, tmp_path, monkeypatch):
    from filmrt.pipeline.batch import worker as batch_worker

    _, src, _ = pair
    _drop_packets(monkeypatch, lambda p, n: p.stream.type == "video" and n == 5)
    job = batch_worker.Job(rel="in.mp4", src=src, dst=str(tmp_path / "o.mp4"), tmp_dst=str(tmp_path / "w" / "o.mp4"),
                           options=fast("50"), attempt_id=1)
    worker = batch_worker.Worker()
    try:
        res = worker.run(job)
    finally:
        worker.close()
    assert res["ok"] is False and "\n" not in res["error"] and res["permanent"] is True
    assert res["error"].startswith("verification failed") and "video frames: 49 in OUT, 50 planned" in res["error"]


def test_anamorphic_source_keeps_its_sar(pair, tmp_path):  # found by verification, fixed by the muxer
    _, src, _ = pair
    ana = write(src, tmp_path / "ana.mp4", sar=F(16, 15))
    assert convert(ana, tmp_path / "out.mp4", fast("50")).verify["status"] == "ok"


def test_verify_command_takes_the_converted_range(pair, tmp_path, capsys):
    _, src, _ = pair
    out = tmp_path / "part.mkv"
    convert(src, out, fast("50", ss=0.2, t=0.4))
    assert main(["verify", src, str(out), "--ss", "0.2", "--t", "0.4"]) == 0
    assert main(["verify", src, str(out)]) == EXIT_VERIFY_FAILED  # the whole of IN is not in OUT
    assert "filmrt: mismatch: video frames: 20 in OUT, 50 planned" in capsys.readouterr().err


def test_expectation_reads_an_output_targets_fates():
    """The adapter takes the OutputTarget (pipeline/io/target.py) as it is: copied streams with their
    output index, re-encoded audio with any codec, dropped ones with the reason; the video fate is not a stream."""
    from types import SimpleNamespace as NS

    from filmrt.pipeline.io.verify import expectation_from_plan

    fates = (NS(index=0, kind="video", codec="h264", fate="reencoded", reason="", output_index=0),
             NS(index=1, kind="audio", codec="aac", fate="copied", reason="", output_index=1),
             NS(index=2, kind="audio", codec="ac3", fate="reencoded", reason="--audio stretch", output_index=2),
             NS(index=3, kind="subtitle", codec="subrip", fate="dropped", reason="left out (--drop-stream)",
                output_index=None))
    muxer = NS(fps_out=F(50), frame_offset=0, width=64, height=48, colorspace=1, codec="libx264",
               spec=NS(guessed=False, color_range=1, primaries=1, trc=1))
    exp = expectation_from_plan(src_read=None, muxer=muxer, plan=NS(fates=fates),
                                temporal=NS(interlace_out="off", timecode_out=None), planned_frames=50,
                                origin=F(0), slowmo=None, extras={"chapters": 0, "attachments": 0},
                                side=NS(mastering=None, light=None))
    assert [(s.index, s.codec, s.out_index) for s in exp.streams] == [(1, "aac", 1), (2, None, 2)]
    assert exp.dropped == ((3, "#3 subtitle subrip: left out (--drop-stream)"),)
    assert exp.grid.count == 50 and exp.grid.time(1) == F(1, 50) and exp.colour == (1, 1, 1, 1)


@pytest.mark.parametrize("src_ext, out_ext", [("mkv", "mp4"), ("mp4", "mkv")])
def test_verify_command_pairs_mp2_read_back_as_mp3(tmp_path, capsys, src_ext, out_ext):
    """The MP4 demuxer reports MPEG audio layer II as MP3 (one object type for MPEG-1/2 audio): the
    copied stream is the same stream, on either side of the pair."""
    from support.media import make_multi_audio

    src = make_multi_audio(tmp_path / f"in.{src_ext}", ("mp2",), frames=10)
    out = tmp_path / f"out.{out_ext}"
    convert(src, out, fast("50"))
    with av.open(src) as i, av.open(str(out)) as o:
        names = {i.streams.audio[0].codec_context.name, o.streams.audio[0].codec_context.name}
    assert names == {"mp2", "mp3float"}  # the read-back names differ, the stream is the same
    assert main(["verify", src, str(out)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(("out_ext", "ss"), [("ts", None), ("ts", 0.5), ("mxf", 0.5), ("mxf", 0.3)])
def test_verify_command_asks_convert_what_the_container_takes(tmp_path, capsys, out_ext, ss):
    """Without a plan, ``filmrt verify`` asks convert's own decisions for the pair: MPEG-TS gets the
    24-bit PCM re-encoded as AAC and has no place for the timecode; MXF starts every stream at the
    first picture at or after --ss (0.52 s for 0.5 at 25 fps). These correct outputs were refused
    (exit 4) by the command alone; a wrong one still is."""
    from support.media import make_multi_audio

    src = make_multi_audio(tmp_path / "in.mov", ("pcm_s24le",), frames=40, timecode="10:00:00:00")
    out = tmp_path / f"out.{out_ext}"
    convert(src, out, fast("50", ss=ss))
    at = ["--ss", str(ss)] if ss else []
    assert main(["verify", src, str(out), *at]) == 0, capsys.readouterr().err
    capsys.readouterr()
    if out_ext == "mxf":  # another range is not this output
        assert main(["verify", src, str(out), "--ss", str(ss + 0.2)]) == EXIT_VERIFY_FAILED
        return
    silent = tmp_path / "silent.ts"  # the sound left out: a difference unless the user says so
    convert(src, silent, ConvertOptions(fps="50", ss=ss, runtime=RuntimeOptions(model="blend"),
                                        encode=EncodeOptions(preset="ultrafast", drop_stream="a")))
    assert main(["verify", src, str(silent), *at]) == EXIT_VERIFY_FAILED
    assert "filmrt: mismatch: stream #1 audio pcm_s24le: missing from OUT" in capsys.readouterr().err
    assert main(["verify", src, str(silent), *at, "--dropped", "a"]) == 0


def test_a_re_encoded_sound_moved_off_its_picture_is_a_difference(tmp_path, capsys):
    """PCM re-encoded as AAC into MPEG-TS: its start is checked too (within the encoder's priming,
    one packet), not only its duration: the sound moved 150 ms later fails, the right one passes."""
    from support.media import make_multi_audio

    src = make_multi_audio(tmp_path / "in.mov", ("pcm_s16le",), frames=40)
    out = tmp_path / "out.ts"
    assert convert(src, out, fast("50")).verify["status"] == "ok"
    assert main(["verify", src, str(out)]) == 0, capsys.readouterr().err
    moved = tmp_path / "moved.ts"
    with av.open(str(out)) as i, av.open(str(moved), "w", format="mpegts") as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams if s.type in ("video", "audio")}
        late = {s.index: int(F(15, 100) / F(s.time_base)) if s.type == "audio" else 0 for s in i.streams}
        for p in i.demux():
            if p.dts is None or p.stream.index not in streams:
                continue
            p.pts, p.dts = p.pts + late[p.stream.index], p.dts + late[p.stream.index]
            p.stream = streams[p.stream.index]
            o.mux(p)
    capsys.readouterr()
    assert main(["verify", src, str(moved)]) == EXIT_VERIFY_FAILED
    assert "stream #1 audio: starts at" in capsys.readouterr().err

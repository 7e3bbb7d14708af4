"""What ``filmrt live`` does with the streams and header facts beside the picture, found by the
sweep of tests/support/live_sweep.py: nothing a TS carries may be lost without a word."""

from __future__ import annotations

import json
import time
from fractions import Fraction

import av
import numpy as np
from av.stream import Disposition
from support.synth import frame_rgb

from filmrt.cli.main import main
from filmrt.pipeline.live.passthrough import _Silence

RATE = 48000


def _clip(path, tracks: list[dict], *, frames: int = 25, chapters: bool = False) -> str:
    """H.264 96x64 at 25 fps and one tone per ``tracks`` entry ({codec, language, disposition})."""
    path = str(path)
    with av.open(path, "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 96, 64, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast"}
        auds = []
        for t in tracks:
            a = c.add_stream(t.get("codec", "aac"), rate=RATE)
            a.layout = "stereo"
            if t.get("language"):
                a.metadata["language"] = t["language"]
            if t.get("disposition") is not None:
                a.disposition = t["disposition"]
            auds.append(a)
        if chapters:
            tb = Fraction(1, 25)
            c.set_chapters([{"id": 1, "start": 0, "end": 12, "time_base": tb, "metadata": {"title": "One"}},
                            {"id": 2, "start": 12, "end": frames, "time_base": tb, "metadata": {"title": "Two"}}])
        sent = [0] * len(auds)  # samples encoded per track
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(frame_rgb(i, 96, 64, frames), "rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
            for j, a in enumerate(auds):  # each track's sound up to the end of this picture
                fs = a.codec_context.frame_size or 1024
                while sent[j] < (i + 1) * RATE // 25:
                    k = np.arange(sent[j], sent[j] + fs)
                    tone = (0.2 * np.sin(2 * np.pi * 440 * k / RATE)).astype(np.float32)
                    af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
                    af.sample_rate, af.pts, af.time_base = RATE, sent[j], Fraction(1, RATE)
                    for p in a.encode(af):
                        c.mux(p)
                    sent[j] += fs
        for st in (vs, *auds):
            for p in st.encode(None):
                c.mux(p)
    return path


def _live(src, out, report, *extra) -> int:
    return main(["live", str(src), str(out), "--fps", "50", "--model", "blend", "--latency", "200ms", "--quiet",
                 "--json", str(report), *extra])


def test_audio_dispositions_reach_the_ts(tmp_path):  # and are said lost in HLS
    """A second language flagged "visual impaired" (audio description) keeps the flag: MPEG-TS
    carries it as the ISO 639 descriptor's audio type, and players pick tracks by it. Live copied
    the packets and the language but not the dispositions (convert does: pipeline.io.extras)."""
    src = _clip(tmp_path / "in.mp4", [{"language": "eng", "disposition": Disposition.default},
                                      {"language": "fra", "disposition": Disposition.visual_impaired}])
    out, report = tmp_path / "out.ts", tmp_path / "r.json"
    assert _live(src, out, report) == 0
    with av.open(str(out)) as c:
        got = [(s.metadata.get("language"), bool(s.disposition & Disposition.visual_impaired)) for s in c.streams.audio]
    assert got == [("eng", False), ("fra", True)]
    # HLS: FFmpeg's segmenter passes the tags to its segments, not the dispositions: said
    (tmp_path / "hls").mkdir()
    assert _live(src, tmp_path / "hls" / "s.m3u8", report) == 0
    assert any("#2 (visual impaired) is lost in HLS" in n for n in json.loads(report.read_text())["notes"])


def test_chapters_left_out_are_said(tmp_path, capsys):
    """Matroska chapters were lost without a word; an MP4's chapter track was said "carried as the
    container's chapter list" (convert's reason), which a live output is not."""
    src = _clip(tmp_path / "in.mkv", [{"language": "eng"}], chapters=True)
    report = tmp_path / "r.json"
    assert _live(src, tmp_path / "out.ts", report) == 0
    assert "note: 2 chapter(s) left out" in capsys.readouterr().err
    assert any("chapter" in n for n in json.loads(report.read_text())["notes"])
    src = _clip(tmp_path / "in.mp4", [{"language": "eng"}], chapters=True)
    assert _live(src, tmp_path / "out2.ts", report) == 0
    track = [f for f in json.loads(report.read_text())["output"]["streams"] if f["kind"] == "data"]
    assert track and track[0]["fate"] == "dropped" and "keeps no chapters" in track[0]["reason"]


def test_mp3_audio_gets_silence(tmp_path):
    """Silence during a stall is encoded with the stream's codec, found by the codec's name: the
    decoder's name ("mp3float") found no encoder, so MP3 audio had gaps in every stall (noted)."""
    src = _clip(tmp_path / "in.mp4", [{"codec": "mp3"}])
    with av.open(src) as c:
        s = c.streams.audio[0]
        assert s.codec_context.name != "mp3"  # the premise: decoded by mp3float
        silence = _Silence(s, adts=True)
    with av.open(src) as c:  # the payload is one MP3 frame of silence that FFmpeg decodes
        dec = av.CodecContext.create(c.streams.audio[0].codec_context.name, "r")
        frames = dec.decode(av.Packet(silence.payload))
    assert silence.samples == 1152 and frames and not np.abs(frames[0].to_ndarray()).any()


def _video_only(path, codec: str, options: dict | None = None, metadata: dict | None = None) -> str:
    """One second of 96x64 25 fps video in ``codec`` (encoder ``options``, stream ``metadata``)."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream(codec, rate=25)
        vs.width, vs.height, vs.pix_fmt = 96, 64, "yuv420p"
        vs.codec_context.options = dict(options or {})
        vs.metadata.update(metadata or {})
        for i in range(25):
            f = av.VideoFrame.from_ndarray(frame_rgb(i, 96, 64, 25), "rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    return str(path)


def _mpeg2_interlaced(path) -> str:
    """MPEG-2 in MPEG-TS coded as interlaced (field pictures flagged in the stream's header)."""
    return _video_only(path, "mpeg2video", {"flags": "+ilme+ildct", "top": "1"})


def test_interlaced_input_is_said(tmp_path, capsys):
    """Live detects no interlacing (no look-ahead), but a stream flagged interlaced says so in its
    header: converted as it is, its woven fields were blended without a word."""
    src = _mpeg2_interlaced(tmp_path / "in.ts")
    report = tmp_path / "r.json"
    assert _live(src, tmp_path / "out.ts", report) == 0
    assert "is flagged interlaced" in capsys.readouterr().err
    assert _live(src, tmp_path / "out2.ts", report, "-y", "--deinterlace", "bwdif") == 0
    assert not any("interlaced" in n for n in json.loads(report.read_text())["notes"])


def test_timecode_not_carried_is_said(tmp_path, capsys):
    """A MOV master's timecode (a tmcd track) or an MXF's (a container tag): a live output writes
    none; the tmcd track's fate said "its label could not be read" (convert's reason) and the
    container tag was lost without a word."""
    mov = _video_only(tmp_path / "in.mov", "libx264", metadata={"timecode": "01:00:00:00"})
    report = tmp_path / "r.json"
    assert _live(mov, tmp_path / "out.ts", report) == 0
    tmcd = [f for f in json.loads(report.read_text())["output"]["streams"] if f["kind"] == "data"]
    assert tmcd and tmcd[0]["fate"] == "dropped" and "writes no timecode" in tmcd[0]["reason"]
    assert "writes no timecode" in capsys.readouterr().err
    mxf = str(tmp_path / "in.mxf")
    with av.open(mxf, "w") as c:
        c.metadata["timecode"] = "10:00:00:00"
        vs = c.add_stream("mpeg2video", rate=25)
        vs.width, vs.height, vs.pix_fmt = 96, 64, "yuv420p"
        for i in range(25):
            f = av.VideoFrame.from_ndarray(frame_rgb(i, 96, 64, 25), "rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    assert _live(mxf, tmp_path / "out2.ts", report) == 0
    assert "timecode (10:00:00:00) is not carried" in capsys.readouterr().err


def test_a_paced_file_is_shown_from_its_first_frame(tmp_path, monkeypatch):
    """A file (or --realtime pipe) is read at its own rate: it has no backlog to skip. The live-edge
    search (made for a network input's buffered backlog) cost every file its first 3 frames (the
    3 paced ones it waits for) and their sound, counted in "dropped" but not said; a hiccup of the
    input thread at the start (a loaded machine) made it skip more (here 10 of 25)."""
    import filmrt.pipeline.live.source as live_source

    class Hiccup(live_source.SceneDetector):
        calls = 0

        def update(self, thumb):
            Hiccup.calls += 1
            if Hiccup.calls == 1:
                time.sleep(0.25)  # the first picture comes late, the next ones in a burst
            return super().update(thumb)

    monkeypatch.setattr(live_source, "SceneDetector", Hiccup)
    src = _clip(tmp_path / "in.mp4", [{}], frames=25)
    report = tmp_path / "r.json"
    assert _live(src, tmp_path / "out.ts", report) == 0
    r = json.loads(report.read_text())
    assert r["input"]["dropped"] == 0 and r["stats"]["frames_out"] >= 50

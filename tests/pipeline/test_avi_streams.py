"""Copied audio in AVI, and pictures that start after the audio there, read back as a player would.

- AVI keeps no audio times: its header says how long a chunk lasts. AC-3, AAC, MP2 and MP3 copied
  from an AVI carry the WAVE header's block align FFmpeg wrote for them (a bound on a frame's
  bytes), which the muxer took as their block size (AC-3: 63 frames read back as 0.22 s). They are
  declared as FFmpeg's encoders declare them, one chunk per frame; audio whose frames have no one
  length (E-AC-3, FLAC) is re-encoded as AAC, said, instead of copied and then failing verification.
- ADPCM's blocks: FFmpeg knows their length only for its encoder's packets; copied, the muxer took
  the declared bit rate for it and refused a packet mid-run ('Invalid argument'): the length comes
  from the source's own AVI index.
- A picture stream that starts after the audio (the MP2 packet straddling ``--ss``) keeps its start:
  FFmpeg's AVI muxer writes a gap in the picture positions only after its first chunk, so the first
  picture was read at 0 and the second one frame late (FFV1; H.264's reorder delay hid it).
"""

from __future__ import annotations

from fractions import Fraction

import av
import pytest
from support.media import make_multi_audio

from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.options import ConvertOptions, EncodeOptions

pytestmark = pytest.mark.usefixtures("one_thread")

FRAMES = 25  # 1 s at 25 fps


def options(codec: str = "auto", **time) -> ConvertOptions:
    return ConvertOptions(fps="50", runtime=RuntimeOptions(model="blend", threads=1),
                          encode=EncodeOptions(preset="ultrafast", codec=codec), **time)


def audio_spans(path) -> list[tuple[float, float, float]]:
    """(first time, end, one packet) in seconds of each audio stream, from the demuxer alone."""
    out = []
    with av.open(str(path)) as c:
        n = len(c.streams.audio)
    for i in range(n):
        with av.open(str(path)) as c:
            s = c.streams.audio[i]
            pkts = [p for p in c.demux(s) if p.pts is not None]
            tb = float(s.time_base)
            out.append((pkts[0].pts * tb, (pkts[-1].pts + pkts[-1].duration) * tb, pkts[-1].duration * tb))
    return out


@pytest.mark.parametrize("codec", ["ac3", "aac", "mp2", "libmp3lame", "adpcm_ms", "adpcm_ima_wav"])
def test_audio_copied_from_avi_into_avi_lasts_as_long(tmp_path, codec):
    src = make_multi_audio(tmp_path / "in.avi", (codec,), frames=FRAMES)
    out = tmp_path / "out.avi"
    res = convert(src, out, options())  # verification would fail it (exit 4) if the index were wrong
    assert len(res.streams) == 1 and res.streams[0].startswith("#1 audio "), res.streams  # copied
    (s0, s1, _), = audio_spans(src)
    (o0, o1, packet), = audio_spans(out)
    assert o0 == pytest.approx(s0, abs=1e-6) and o1 == pytest.approx(s1, abs=packet), (s0, s1, o0, o1)


def test_audio_without_one_frame_length_is_reencoded_for_avi(tmp_path):
    src = make_multi_audio(tmp_path / "in.mkv", ("eac3", "flac"), frames=FRAMES)
    out = tmp_path / "out.avi"
    res = convert(src, out, options())
    with av.open(str(out)) as c:
        assert [s.codec_context.name for s in c.streams.audio] == ["aac", "aac"]
    notes = [d for d in res.dropped if "re-encoded as aac" in d]
    assert len(notes) == 2 and "eac3" in notes[0] and "flac" in notes[1], res.dropped
    assert all("AVI would time" in n for n in notes), notes
    for first, end, packet in audio_spans(out):  # 1 s, give or take the encoder's priming packet
        assert first <= 1e-6 and end == pytest.approx(1.0, abs=2 * packet), (first, end)


def test_pictures_after_the_straddling_audio_packet_keep_their_start(tmp_path):
    src = make_multi_audio(tmp_path / "in.avi", ("mp2",), frames=FRAMES)  # MP2: 24 ms frames
    out = tmp_path / "out.avi"
    # --ss 0.5: the audio packet at 0.48 s is kept whole, so the pictures start 0.02 s after it
    res = convert(src, out, options(codec="ffv1", ss=0.5, t=0.4))
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        times = [f.time for f in c.decode(v)]
    step = Fraction(1, 50)
    assert times == [pytest.approx(float((k + 1) * step)) for k in range(len(times))], times
    assert len(times) == res.frames_out >= 19  # 0.50 .. 0.86 s

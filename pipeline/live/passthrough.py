"""Audio, subtitles and data of a live run: copied packets on the output clock, and silence
while the input is stalled.

A copied packet is placed with the same anchor as the video (:mod:`~filmrt.pipeline.live.timeline`):
``out = pts - anchor_pts + anchor_out``, so it leaves with the same constant delay and stays in
sync with the picture it came with. Packets wait (bounded) until the video tick they belong to is
handed to the encoder, then are re-timed to ``out`` and muxed, never re-encoded.

Where an audio stream falls behind the picture with nothing to fill the gap (the input stalled,
the gap a re-sync leaves), it gets silence:
frames of zeros encoded once at start-up with the stream's own codec, sample rate and layout
(MP2, AAC, AC-3 ... whatever this FFmpeg can encode), sent with running timestamps, so players
keep a continuous audio clock. An audio codec FFmpeg cannot encode gets a gap instead (noted).
"""

from __future__ import annotations

import collections
import io
import math
import threading
from fractions import Fraction

import av

#: an audio stream this far (s) behind the video with nothing queued gets silence
SLACK = 0.06
#: copied packets may come this much earlier (s) than their pictures, on top of ``far``: muxers send
#: audio ahead (FFmpeg's MPEG-TS muxer interleaves up to 0.7 s); they wait in the queue for their tick
EARLY = 1.0


class _Silence:
    """One audio stream's silent packet (its payload, made once) and where its audio has got to."""

    def __init__(self, stream, adts: bool = False):
        cc = stream.codec_context
        # the codec's own name, not the decoder's (MP3 is decoded by "mp3float", encoded by libmp3lame)
        codec = av.Codec(cc.codec.canonical_name, "w")
        enc = av.CodecContext.create(codec, "w")
        enc.sample_rate, enc.layout = cc.sample_rate, cc.layout.name
        enc.format = codec.audio_formats[0].name
        enc.time_base = Fraction(1, cc.sample_rate)
        enc.bit_rate = cc.bit_rate or 128000
        enc.open()
        self.samples = enc.frame_size or 1024
        payload = b""
        for i in range(4):  # past the encoder's priming: a steady silent frame
            f = av.AudioFrame(format=enc.format.name, layout=enc.layout.name, samples=self.samples)
            for p in f.planes:
                p.update(bytes(p.buffer_size))
            f.sample_rate, f.pts, f.time_base = enc.sample_rate, i * self.samples, enc.time_base
            for pkt in enc.encode(f):
                payload = bytes(pkt)
        if adts and codec.canonical_name == "aac":
            payload = _adts_frame(enc, payload)
        self.payload = payload
        self.rate = cc.sample_rate


def _adts_frame(enc, raw: bytes) -> bytes:
    """``raw`` (one AAC frame of ``enc``) framed as ADTS by FFmpeg's own ``adts`` muxer: the MPEG-TS
    muxer takes AAC only as ADTS unless the stream carries an AudioSpecificConfig, which a stream
    copied from a TS input does not (raw silence was refused there: no sound during stalls)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="adts") as o:
        st = o.add_stream("aac", rate=enc.sample_rate)
        st.codec_context.extradata = enc.extradata  # the muxer builds the header from it
        st.layout = enc.layout.name
        pkt = av.Packet(raw)
        pkt.stream, pkt.pts, pkt.dts, pkt.time_base = st, 0, 0, Fraction(1, enc.sample_rate)
        o.mux(pkt)
    data = buf.getvalue()
    if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF0 != 0xF0:
        return raw
    return data


class Passthrough:
    """The copied streams of a live run (see the module docstring). ``copy_map``: the muxer's
    input index -> output stream; ``write``/``mux``: the muxer's ``write_packet``/``mux_encoded``."""

    def __init__(self, streams, copy_map: dict, write, mux, *, notes: list[str], adts: bool = False):
        self.copy_map, self.write, self.mux = copy_map, write, mux
        self.queue: collections.deque = collections.deque(maxlen=2048)  # (out seconds, packet)
        self.lock = threading.Lock()  # the queue: filled by the clock thread, taken by the encoder thread
        self.unanchored: collections.deque = collections.deque(maxlen=256)
        self.dropped = 0
        #: audio packets that came too long after their pictures (dropped), and by how much at most (s)
        self.late_audio = 0
        self.late_by = 0.0
        self.silent_packets = 0
        self.last_dts: dict[int, int] = {}
        #: output time (s) each audio stream has reached, in the clock thread (what was taken) and
        #: in the encoder thread (what was muxed): real packets and silence alike
        self.queued_end: dict[int, float] = {}
        self.audio_end: dict[int, float] = {}
        self.silence: dict[int, _Silence] = {}
        for s in streams:
            if s.type == "audio" and s.index in copy_map:
                try:
                    self.silence[s.index] = _Silence(s, adts)
                except (av.error.FFmpegError, ValueError, TypeError) as e:
                    notes.append(f"stream #{s.index} audio: no silence during stalls (cannot encode it: {e})")

    def place(self, item, anchor: tuple[Fraction, float] | None, here: float, far: float, retry: bool = True) -> None:
        """A copied packet demuxed now (``item``: a :class:`~filmrt.pipeline.live.source.Packet`;
        output time ``here``); ``far``: seconds from ``here`` beyond which a packet came just before
        a discontinuity the video has not shown yet (a PTS jump): it waits for the next picture's
        anchor once, then is dropped."""
        if anchor is None:
            self.unanchored.append(item)
            return
        pkt = item.packet
        pts = pkt.pts if pkt.pts is not None else pkt.dts
        if pts is None or item.index not in self.copy_map:
            return
        out = float(pts * Fraction(pkt.time_base) - anchor[0]) + anchor[1]
        if out - here > far + EARLY or here - out > far:
            if retry:
                self.unanchored.append(item)
            else:
                self.dropped += 1
                if 0 <= out < here and item.kind == "audio":  # its pictures have long gone out
                    self.late_audio += 1
                    self.late_by = max(self.late_by, here - out)
            return
        with self.lock:
            if out < 0 or (self.queue and out < self.queue[-1][0] - 1.0):
                self.dropped += 1  # before the start, or behind a re-sync
                return
            if len(self.queue) == self.queue.maxlen:
                self.dropped += 1
            self.queue.append((out, item))

    def late_note(self, latency: float) -> str | None:
        """What the run must say when audio came too late for the latency (else None)."""
        if not self.late_audio:
            return None
        return (f"{self.late_audio} audio packet(s) came up to {self.late_by:.2f} s after their pictures and were "
                f"dropped (silence in their place): --latency {math.ceil((latency + self.late_by) * 1000)}ms keeps them")

    def replace(self, anchor, here: float, far: float) -> None:
        """Place the packets that were waiting for an anchor (after a picture was placed)."""
        for _ in range(len(self.unanchored)):
            self.place(self.unanchored.popleft(), anchor, here, far, retry=False)

    def take(self, end: float) -> list:
        """The packets due before output time ``end`` (a tick's end). An audio stream that has
        fallen more than ``SLACK`` behind ``end`` with nothing queued to fill it (a stall, the gap
        a re-sync leaves) gets silence up to ``end`` or to its next real packet. Called by the
        encoder thread when it hands the tick over (the clock thread places packets meanwhile)."""
        with self.lock:
            return self._take(end)

    def _take(self, end: float) -> list:
        due = []
        while self.queue and self.queue[0][0] < end:
            out, item = self.queue.popleft()
            idx, pkt = item.index, item.packet
            if idx in self.silence:
                out = self._close_gap(idx, out, due)
                # a packet without a duration is taken to be one frame long (as its silence is)
                length = (pkt.duration or 0) * Fraction(pkt.time_base) or Fraction(self.silence[idx].samples,
                                                                                     self.silence[idx].rate)
                self.queued_end[idx] = out + float(length)
            due.append((out, item))
        for idx, s in self.silence.items():
            t = self.queued_end.get(idx)
            if t is None or t >= end - SLACK:  # no sound yet, or no gap
                continue
            nxt = next((o for o, p in self.queue if p.index == idx), None)
            limit = end if nxt is None else min(end, nxt)
            step = s.samples / s.rate
            while t + step <= limit + 1e-9:
                due.append((t, _SilentPacket(idx, s)))
                t += step
            self.queued_end[idx] = t
        return due

    def _close_gap(self, idx: int, out: float, due: list) -> float:
        """Where a real packet of audio stream ``idx`` due at ``out`` goes: right after the sound
        before it. A hole before it (the gap a re-sync leaves, what a stall's whole silent frames
        left over) gets whole silent frames and the packet follows the last of them, moved by at
        most half a frame from ``out`` (within a frame of its picture, as docs/live.md says); the
        audio clock stays continuous. A packet more than half a frame behind the sound before it
        keeps ``out`` (it is dropped as late)."""
        t = self.queued_end.get(idx)
        s = self.silence[idx]
        step = s.samples / s.rate
        if t is None or out - t < -step / 2:  # no sound yet, or a packet behind the sound (dropped as late)
            return out
        k = round((out - t) / step)
        for i in range(k):
            due.append((t + i * step, _SilentPacket(idx, s)))
        return t + k * step

    def mux_one(self, out: float, item) -> None:
        """Re-time ``pkt`` to output time ``out`` and mux it (encoder thread)."""
        if isinstance(item, _SilentPacket):
            self._mux_silence(out, item)
            return
        pkt = item.packet
        tb = Fraction(pkt.time_base)
        shift = round(Fraction(out).limit_denominator(1_000_000) / tb) - (pkt.pts if pkt.pts is not None else pkt.dts)
        if pkt.pts is not None:
            pkt.pts += shift
        if pkt.dts is not None:
            pkt.dts += shift
        idx = item.index
        if not self._advance(idx, out, (pkt.duration or 0) * tb, real=True):
            return
        self.write(pkt, index=idx)

    def _mux_silence(self, out: float, sp: _SilentPacket) -> None:
        s = sp.silence
        if not self._advance(sp.index, out, Fraction(s.samples, s.rate)):
            return
        pkt = av.Packet(s.payload)
        pkt.time_base = Fraction(1, s.rate)
        pkt.pts = pkt.dts = round(Fraction(out).limit_denominator(1_000_000) * s.rate)
        pkt.duration = s.samples
        pkt.stream = self.copy_map[sp.index]
        self.mux(pkt)
        self.silent_packets += 1

    def _advance(self, idx: int, out: float, duration, real: bool = False) -> bool:
        """Muxers need increasing timestamps per stream: a packet at or before the last is dropped
        (a ``real`` audio packet behind silence came too late for its tick: counted for the note)."""
        end = self.audio_end.get(idx)
        if end is not None and out < end - 1e-3 and idx in self.silence:
            self.dropped += 1
            if real:
                self.late_audio += 1
                self.late_by = max(self.late_by, end - out)
            return False
        key = round(out * 1_000_000)
        if idx in self.last_dts and key <= self.last_dts[idx]:
            self.dropped += 1
            return False
        self.last_dts[idx] = key
        if idx in self.silence:
            self.audio_end[idx] = out + float(duration)
        return True


class _SilentPacket:
    """A placeholder in the queue for one silent frame of stream ``index`` (made when muxed)."""

    def __init__(self, index: int, silence: _Silence):
        self.index, self.silence = index, silence

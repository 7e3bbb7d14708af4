"""``--slowmo N --audio stretch``: the audio slowed N times with its pitch kept (libavfilter's atempo).

Slowed video cannot keep copied audio packets (they would end after 1/N of the picture), so each
audio stream is decoded, run through ``atempo`` and encoded again (AAC, the stream's sample rate
and layout; WebM holds only Opus and Vorbis: Opus at 48 kHz there, :func:`stretch_codec`). One ``atempo`` takes tempo factors from 0.5 to 100, so a slowdown beyond 2x is a chain of
them whose product is 1/N (``4`` -> 0.5, 0.5; ``2.5`` -> 0.5, 0.8): :func:`atempo_chain`.

Timestamps: the output of a stream starts where its first sample was, moved to the slowed timeline
(``(t - shift) x N``), and then counts samples, so the audio is continuous and in step with the
video to the sample. Samples before ``shift`` (the output's start: the packet that straddles
``--ss``) are cut off.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from filmrt.pipeline.time.cadence.fieldops import pull_all


def atempo_chain(factor: Fraction) -> list[tuple[str, str]]:
    """``atempo`` filters whose tempos multiply to ``1 / factor`` (each within atempo's 0.5..100)."""
    tempo = 1 / Fraction(factor)
    chain = []
    while tempo < Fraction(1, 2):
        chain.append(("atempo", "0.5"))
        tempo *= 2
    if tempo != 1 or not chain:
        chain.append(("atempo", f"{float(tempo):.10g}"))
    return chain


def stretch_codec(format_name: str, rate: int) -> tuple[str, int]:
    """The encoder and sample rate of a slowed stream in a container named ``format_name``: Opus at
    48 kHz (its own rate) in WebM, which holds no AAC; AAC at the stream's ``rate`` elsewhere."""
    if "webm" in format_name.split(","):
        return "libopus", 48000
    return "aac", rate


class AudioStretch:
    """One input audio stream -> a new output stream, slowed ``factor`` times (see the module docstring)."""

    def __init__(self, stream, container, factor: Fraction, shift: Fraction):
        self.input = stream
        self.factor = Fraction(factor)
        self.shift = Fraction(shift)
        cc = stream.codec_context
        rate_in = cc.sample_rate or 48000
        self.decoder = av.codec.CodecContext.create(cc.name, "r")
        if cc.extradata:
            self.decoder.extradata = cc.extradata
        self.decoder.sample_rate, self.decoder.layout = rate_in, cc.layout
        # the encoder resamples to its own rate (Opus: 48 kHz); times count its samples
        codec, self.rate = stretch_codec(container.format.name, rate_in)
        self.output = container.add_stream(codec, rate=self.rate)
        self.output.layout = cc.layout
        for k, v in stream.metadata.items():
            self.output.metadata[k] = v
        self.graph: av.filter.Graph | None = None
        self.next_pts: int | None = None
        self._cut = 0  # input samples still to drop (before the output's start)

    def _build(self, frame) -> None:
        g = self.graph = av.filter.Graph()
        src = g.add_abuffer(format=frame.format.name, sample_rate=frame.sample_rate, layout=frame.layout.name,
                            time_base=Fraction(1, frame.sample_rate))
        last = src
        chain = atempo_chain(self.factor)
        if frame.sample_rate != self.rate:
            # the encoder's own rate (Opus: 48 kHz) made here: the frames' times count its samples,
            # and 44.1 kHz frames stamped as 48 kHz ones left the slowed sound 8 % short in time
            # (Opus in WebM from a 44.1 kHz source: 6.0 s of samples on 5.5 s of timestamps)
            chain = [*chain, ("aresample", str(self.rate))]
        for name, args in chain:
            f = g.add(name, args)
            last.link_to(f)
            last = f
        sink = g.add("abuffersink")
        last.link_to(sink)
        g.configure()

    def _pull(self) -> list:
        return pull_all(self.graph)

    def _encode(self, frames) -> list:
        packets = []
        for f in frames:
            f.pts, f.time_base = self.next_pts, Fraction(1, self.rate)
            self.next_pts += f.samples
            packets += self.output.encode(f)
        return packets

    def push(self, packet) -> list:
        """Packets of the output stream for one input packet (often none yet)."""
        out = []
        for frame in self.decoder.decode(packet):
            if self.graph is None:
                self._build(frame)
                t = self._first_sample(packet, frame) - self.shift
                self.next_pts = max(0, round(t * self.factor * self.rate))
                # the sound before the output's start (the packet straddling --ss) is cut, not
                # delayed: left in, it put everything after it that much late
                self._cut = max(0, round(-t * frame.sample_rate))
            if self._cut:
                frame = self._trim(frame)
                if frame is None:
                    continue
            frame.pts, frame.time_base = None, Fraction(1, self.rate)  # atempo counts its own samples
            self.graph.push(frame)
            out += self._encode(self._pull())
        return out

    @staticmethod
    def _first_sample(packet, frame) -> Fraction:
        """The time of the first sample the decoder gave for ``packet``: its start, moved by the
        samples the decoder dropped from its front (an encoder's priming, Opus 312 of 960)."""
        t = Fraction(packet.pts or 0) * Fraction(packet.time_base)
        if packet.duration and packet.time_base:
            whole = round(packet.duration * Fraction(packet.time_base) * frame.sample_rate)
            t += Fraction(max(0, whole - frame.samples), frame.sample_rate)
        return t

    def _trim(self, frame):
        """``frame`` without its first ``_cut`` samples (None when it has no more)."""
        n = min(self._cut, frame.samples)
        self._cut -= n
        if n == frame.samples:
            return None
        if n == 0:
            return frame
        per = 1 if frame.format.is_planar else len(frame.layout.channels)  # packed: samples interleaved
        rest = av.AudioFrame.from_ndarray(np.ascontiguousarray(frame.to_ndarray()[:, n * per:]),
                                          format=frame.format.name, layout=frame.layout.name)
        rest.sample_rate = frame.sample_rate
        return rest

    def finish(self) -> list:
        out = []
        if self.graph is not None:
            for frame in self.decoder.decode(None):
                self.graph.push(frame)
            self.graph.push(None)
            out += self._encode(self._pull())
        return out + list(self.output.encode(None))


#: FFmpeg's default channel layout for a channel count (PCM in Matroska may say a count, no order)
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def reencoder(stream, container, shift: Fraction, factor: Fraction | int = 1) -> AudioStretch:
    """An audio stream re-encoded (:func:`stretch_codec`: the container's encoder), slowed ``factor``
    times (--audio stretch) or at its own speed (atempo 1: a container that cannot carry its codec
    readably, streams.AUDIO_FALLBACK)."""
    st = AudioStretch(stream, container, Fraction(factor or 1), shift)
    n = stream.codec_context.channels
    if st.output.layout.name.endswith("channels") and n in _DEFAULT_LAYOUTS:  # no order (PCM in Matroska)
        st.decoder.layout = st.output.layout = _DEFAULT_LAYOUTS[n]
    return st

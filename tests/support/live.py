"""A real-time MPEG-TS sender for ``filmrt live`` loopback tests, and the checks of what came out.

:func:`send_ts` writes MPEG-TS (H.264 + MP2 audio) to ``udp://127.0.0.1:PORT`` paced at real time
(one picture every 1/fps s, by wall clock). Every second the picture flashes white for one frame
and the audio beeps (1 kHz) at the same instant, otherwise it is silent: the receiver finds both
in the output and checks they are still together (A/V sync). Events: ``stall=(at, seconds)``
stops sending for a while (timestamps continue as if nothing happened, like a paused encoder),
``jump=(at, seconds)`` adds a PTS jump, ``cut_at`` changes the background (a scene cut).
"""

from __future__ import annotations

import socket
import threading
import time
from fractions import Fraction

import av
import numpy as np

AUDIO_RATE = 48000


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def picture(i: int, w: int, h: int, fps: int, dark: bool) -> np.ndarray:
    if i % fps == 0:
        return np.full((h, w, 3), 255, np.uint8)  # the flash
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([40 + 60 * xx / w, 50 + 60 * yy / h, np.full_like(xx, 160.0 if dark else 70.0)], -1)
    s = max(4, h // 4)
    x0 = (i * 3) % max(1, w - s)
    img[(h - s) // 2:(h + s) // 2, x0:x0 + s] = (200, 190, 60)
    return img.astype(np.uint8)


def send_ts(port: int, seconds: float, *, fps: int = 25, size=(160, 90), stall: tuple[float, float] | None = None,
            jump: tuple[float, float] | None = None, cut_at: float | None = None, stop: threading.Event | None = None,
            go: threading.Event | None = None, audio_lag: float = 0.0) -> None:
    """Send until ``stop`` is set (or 60 s): plain pictures until ``go`` is set (the receiver is
    running), then ``seconds`` of content with the events, whose times count from ``go``.
    ``audio_lag``: each audio packet is sent that many seconds after its pictures (a broadcast
    encoder sending the video early); the muxer then writes packets in the order given."""
    w, h = size
    stop = stop or threading.Event()
    held: list = []  # (send time, packet) of audio sent late
    opts = {"max_interleave_delta": "1"} if audio_lag else {}
    with av.open(f"udp://127.0.0.1:{port}?pkt_size=1316", "w", format="mpegts", options=opts) as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps // 2)}
        a = c.add_stream("mp2", rate=AUDIO_RATE)
        a.layout = "stereo"
        t0, sample, paused, i0 = time.monotonic(), 0, 0.0, None
        for i in range(60 * fps):
            if stop.is_set():
                return
            if i0 is None and (go is None or go.is_set()):
                i0 = i
            t = (i - i0) / fps if i0 is not None else -1.0
            if i0 is not None and t >= seconds:
                return
            # (a stall starts well after a flash: the sender's muxer and our demuxer hold the last
            # pictures sent until data follows (measured at 160x90: up to 13 frames, 0.52 s; several
            # tiny frames fit one 1316-byte datagram), so a flash just before the stall comes after
            # it, too late to be shown by any receiver, while its sound, sent ahead, was on time)
            if stall and t >= stall[0] and not paused and fps * 3 // 5 <= i % fps < fps - 1:
                paused = stall[1]
                if stop.wait(paused):
                    return
            # (with audio_lag both clocks start 1 s on: the MP2 encoder's first packet is stamped
            # before 0, and written after the pictures it could not be moved, it would wrap to 2^33)
            # (a jump due at the stall's time waits for the stall: the clock ran on while paused)
            jumped = jump and t >= jump[0] and (paused or not stall or stall[0] != jump[0])
            shift = (jump[1] if jumped else 0.0) + (1.0 if audio_lag else 0.0)
            if audio_lag:
                sample = _send_audio(c, a, sample, (i + 1) * AUDIO_RATE // fps, shift,
                                     hold=lambda p: held.append((time.monotonic() + audio_lag, p)))
                while held and held[0][0] <= time.monotonic():
                    c.mux(held.pop(0)[1])
            else:
                sample = _send_audio(c, a, sample, (i + 1) * AUDIO_RATE // fps, shift)
            dark = cut_at is not None and t >= cut_at  # after the scene cut
            f = av.VideoFrame.from_ndarray(picture(i, w, h, fps, dark), format="rgb24").reformat(format="yuv420p")
            f.pts = i + round(shift * fps)
            f.time_base = Fraction(1, fps)
            for p in vs.encode(f):
                c.mux(p)
            wait = t0 + paused + (i + 1) / fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)


def _send_audio(c, a, sample: int, until: int, shift: float, hold=None) -> int:
    """MP2 frames up to sample ``until``: silence, and a 40 ms 1 kHz beep at each whole second
    (``hold(packet)``: take the packets instead of muxing them)."""
    per = 1152
    while sample < until:
        k = np.arange(sample, sample + per)
        on = (k % AUDIO_RATE) < AUDIO_RATE * 0.04
        tone = np.where(on, 16000 * np.sin(2 * np.pi * 1000 * k / AUDIO_RATE), 0).astype(np.int16)
        af = av.AudioFrame.from_ndarray(np.stack([tone, tone], 1).reshape(1, -1), format="s16", layout="stereo")
        af.sample_rate = AUDIO_RATE
        af.pts = sample + round(shift * AUDIO_RATE)
        af.time_base = Fraction(1, AUDIO_RATE)
        for p in a.encode(af):
            if hold is not None:
                hold(p)
            else:
                c.mux(p)
        sample += per
    return sample


def start_sender(port: int, seconds: float, **kw) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """The sender in a thread; returns (thread, stop, go)."""
    stop, go = threading.Event(), threading.Event()
    th = threading.Thread(target=send_ts, args=(port, seconds), kwargs={**kw, "stop": stop, "go": go}, daemon=True)
    th.start()
    return th, stop, go


def read_output(path) -> dict:
    """What a receiver sees in ``path``: video pts (s), the flashes' times, the beeps' onsets."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        video, flashes = [], []
        for f in c.decode(vs):
            video.append(float(f.pts * f.time_base))
            if f.to_ndarray(format="gray").mean() > 230:
                flashes.append(video[-1])
    with av.open(str(path)) as c:
        beeps, audio = [], []
        for f in c.decode(c.streams.audio[0]):
            audio.append((float(f.pts * f.time_base), f.samples / f.sample_rate))
            x = np.abs(f.to_ndarray().astype(np.float32)).reshape(-1)[::2]  # left channel (s16 packed)
            loud = np.flatnonzero(x > 3000)
            if len(loud):
                t = float(f.pts * f.time_base) + loud[0] / f.sample_rate
                if not beeps or t - beeps[-1] > 0.5:
                    beeps.append(t)
    gaps = [b[0] - (a[0] + a[1]) for a, b in zip(audio, audio[1:], strict=False)]
    return {"video": video, "flashes": _firsts(flashes), "beeps": beeps, "audio_gap_max": max(gaps, default=0.0)}


def _firsts(times: list[float], gap: float = 0.5) -> list[float]:
    out = []
    for t in times:
        if not out or t - out[-1] > gap:
            out.append(t)
    return out


def sync_errors(flashes: list[float], beeps: list[float]) -> list[float]:
    """For each flash, the distance to the nearest beep onset (s)."""
    return [min(abs(f - b) for b in beeps) for f in flashes] if beeps else []


class SlowModel:
    """The test hook that makes a model artificially slow: wraps an open Interpolator and sleeps
    after each call in proportion to the pixels it ran on (``per_full`` seconds for a full-size
    picture), so the reduced tiers really are cheaper. The test changes ``per_full`` as it goes."""

    def __init__(self, inner, full_pixels: int):
        self.inner, self.full_pixels, self.per_full = inner, full_pixels, 0.0
        self.device, self.backend, self.model_name = inner.device, inner.backend, "slow-" + inner.model_name
        self.calls: list[int] = []

    def interpolate(self, a, b, times, *, keys_a=None, keys_b=None):
        out = self.inner.interpolate(a, b, times, keys_a=keys_a, keys_b=keys_b)
        pixels = a.shape[-1] * a.shape[-2]
        self.calls.append(pixels)
        time.sleep(self.per_full * pixels / self.full_pixels)
        return out

    def close(self) -> None:
        self.inner.close()

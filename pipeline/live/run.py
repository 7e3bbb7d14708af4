"""``filmrt live``: the clock loop (main thread) and the encoder thread.

::

    input thread   LiveInput: open / reconnect, decode (PyAVSource), pace, scene cuts -> bounded queue
        |
    clock thread   per tick n: place new frames on the Timeline; wait for the pair around n / rate
                   until the last moment a blend still fits; DeadlineScheduler picks the tier; model
                   tiers run on a worker thread guarded by the deadline (an overrun gets the blend or
                   repeat frame instead, on time); sleep until the deadline; hand the frame over
        |  bounded queue (a few frames)
    encoder thread Muxer (the file pipeline's): encode (x264 zerolatency) + mux, with the audio and
                   other copied packets re-timed on the same anchor as the video (constant delay)

The run ends at the end of a non-reconnecting input, after ``--t`` seconds, or at SIGINT/SIGTERM;
every way ends with the encoder flushed and the container's trailer written (the last segment of
HLS, the last TS packets). :func:`live` returns a :class:`LiveResult`.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import torch

from filmrt.engine import open_interpolator, resolve_device
from filmrt.errors import FilmrtError
from filmrt.fileio import check_overwrite
from filmrt.pipeline.io.encode import Muxer
from filmrt.pipeline.io.orient import upright_info
from filmrt.pipeline.io.target import dropped_streams
from filmrt.pipeline.live.deadline import BLEND, MODEL_TIERS, REPEAT, SOURCE, DeadlineScheduler
from filmrt.pipeline.live.header import header_notes
from filmrt.pipeline.live.options import LiveOptions, resolve_latency
from filmrt.pipeline.live.output import live_format, live_target
from filmrt.pipeline.live.passthrough import Passthrough
from filmrt.pipeline.live.source import Frame, LiveEdge, LiveInput, Packet, is_url, jump_note
from filmrt.pipeline.live.stats import Histogram, LiveStats
from filmrt.pipeline.live.tiers import Pic, blank, cheap, model_tier
from filmrt.pipeline.live.timeline import Timeline
from filmrt.pipeline.options import check_protect_fits
from filmrt.pipeline.threads import plan_threads
from filmrt.pipeline.time.protect import Protector
from filmrt.rates import format_rate

#: a frame handed to the encoder more than this after its deadline is counted (``handed_late``):
#: the encoder or the OS held the thread up; a frame not *ready* by its deadline is ``late``
LATE_TOLERANCE = 0.005
#: the encoder thread wakes this early for a frame's deadline: a sleep overshoots by a few ms on a
#: busy machine (measured: p99 +1.5-3 ms at 1 ms early), and early is harmless (the frame is ready)
WAKE_EARLY = 0.004
#: the encoder this far behind its deadlines (s): the machine cannot run this stream; a stated stop
GIVE_UP_BEHIND = 10.0
#: after a gap, frames far behind their time are held this long (s) before the timeline re-syncs on
#: them: the tail a sender's muxer and our demuxer still held when the input broke off comes first
#: (loopback: 0.3 s of it; FFmpeg's MPEG-TS muxer holds up to 0.7 s), then the live frames
RESUME_HOLD = 0.5
_END = object()


@dataclass
class LiveResult:
    src: str
    dst: str
    fps_out: Fraction
    latency_s: float
    seconds: float
    model: str
    backend: str
    width: int
    height: int
    #: "input-end", "duration" (--t), "signal" (SIGINT/SIGTERM)
    ended: str
    #: LiveStats.summary(): frames, tiers, late, overruns, stalls, latency percentiles
    stats: dict
    #: the input: sessions, reconnects, re-syncs, dropped frames, resized frames, problems
    input: dict
    #: hand-over to encoded-and-muxed, per frame (the encoder's own delay on top of the latency)
    mux_latency_p50_ms: float | None = None
    mux_latency_p99_ms: float | None = None
    packets_copied: int = 0
    packets_dropped: int = 0
    #: silent audio packets sent where the input's audio had a gap (a stall, a re-sync)
    silent_packets: int = 0
    notes: list[str] = field(default_factory=list)
    output: dict = field(default_factory=dict)
    #: --protect: the option, what was found, and the first output frame it protected (None: off)
    protect: dict | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["fps_out"] = str(self.fps_out)
        return d


class _Live:
    """One live run; see the module docstring."""

    def __init__(self, inp: LiveInput, first, interp, options: LiveOptions, dst: str, clock,
                 on_second: Callable[[dict], None] | None):
        self.input, self.interp, self.options, self.clock = inp, interp, options, clock
        self.on_second = on_second
        self.target = live_target(dst, options, first)
        # the pictures as they are written: turned upright where OUT has no place for the display matrix
        self.info = info = upright_info(first.info, self.target.turn)
        inp.upright = self.target.name if self.target.turn is not None else None
        self.fps_out = options.rate_out(info.rate)
        self.latency = resolve_latency(options.latency, info.rate)
        self.fps_in = float(info.rate or 25)
        self.sched = DeadlineScheduler(self.fps_out, self.latency, tiers=options.tier_list(interp.model_name))
        ahead = self.latency + 0.1
        self.timeline = Timeline(window=math.ceil((ahead + self.latency) * self.fps_in) + 4, resync=ahead,
                                 late=self.latency / 2, grid=float(1 / self.fps_out), hold=RESUME_HOLD)
        self.stats = LiveStats(self.latency)
        #: a wait for a frame or for the model ends this long before the time a blend still fits:
        #: a thread woken on a loaded machine may run a few ms late
        self.wake_guard = min(0.25 * self.latency, 0.04)
        enc = options.encode
        x264 = {"tune": "zerolatency", "g": str(max(1, round(2 * self.fps_out)))} if enc.codec in (
            "libx264", "libx265", "auto") else {}
        # the convert pipeline's thread plan: the model (on its worker) gets every core, the clock,
        # input and encoder threads one PyTorch thread each (a blend on 2 contended OpenMP threads
        # can take 100x longer than on one)
        self.plan = plan_threads(inp.device, options.runtime.threads)
        if not any(t in MODEL_TIERS for t in self.sched.tiers):  # no model on the cores: the encoder takes them
            self.plan = self.plan.codecs_take_the_cores()
        self.caller_threads = torch.get_num_threads()
        self.muxer = Muxer(self.target, info=info, fps_out=self.fps_out, preset=enc.preset, encoder_options=x264,
                           threads=self.plan.encoder)
        # frames made ahead of their deadline wait here: the whole latency's worth, plus a little
        self.enc_q: queue.Queue = queue.Queue(maxsize=math.ceil(self.latency * self.fps_out) + 4)
        model_threads = self.plan.model or self.caller_threads
        self.worker = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="filmrt-live-model",
                                            initializer=torch.set_num_threads, initargs=(model_threads,))
        self.abandoned: tuple[str, cf.Future] | None = None  # a model run given up on, still running
        # streams the target leaves out (--drop-stream, what the container cannot carry), said as convert says them
        self.notes: list[str] = [f"stream {d}" for d in dropped_streams(self.target.to_dict())]
        try:  # header facts (dispositions, attachments), before anything is written; what is not kept, said
            self.notes += header_notes(first, self.muxer, self.target, options.deinterlace)
        except BaseException:
            self.muxer.abort()
            raise
        self.copied = Passthrough(first.copy_streams, self.muxer.copy_map, self.muxer.write_packet,
                                  self.muxer.mux_encoded, notes=self.notes,
                                  adts=self.target.format in ("mpegts", "hls"))
        self.mux_latency = Histogram()
        self.last_pic: Pic | None = None
        self.black = blank(info, inp.device)  # the slate, in the form the encoder takes as it is
        self.in_stall = False
        self.slating = False  # the output is black (a long stall), until a frame on time ends it
        self.enc_error: BaseException | None = None
        self.start = 0.0
        #: seconds the encoder thread's last hand-over came after its deadline (< 0: early)
        self.behind = 0.0
        self.stopped: FilmrtError | None = None
        self.last_out = None  # output time of the newest frame placed
        # --protect: the input is watched while the stream runs (the clock cannot wait for the
        # analysis window); the analysis runs on its own thread; frames are protected once it is done
        self.protect = Protector.from_option(options.protect)
        if self.protect is not None:
            self.protect.warm()
        self.analysis: threading.Thread | None = None
        self.protected_from: int | None = None  # the first tick a protected frame went out on

    # ------------------------------------------------------------------ setup
    def calibrate(self) -> None:
        """Measure each tier on a mid-grey picture of the input's size, before the input is read (a
        file paced with --realtime must not run ahead meanwhile): one warm-up run (not counted), then
        three. The scheduler starts on the best tier that fits the latency window."""
        grey = blank(self.info, self.input.device, 0.5)
        self.plan.enter_stage()  # this (the clock) thread: one PyTorch thread for its cheap tiers
        for tier in self.sched.tiers:
            if tier == REPEAT:
                continue
            for i in range(4):
                a, b = (Pic(grey.planes, grey.rgb if grey.planes is None else None) for _ in range(2))
                t0 = time.perf_counter()  # a model tier's cost includes making RGB of new planes
                if tier in MODEL_TIERS:
                    self.worker.submit(model_tier, self.interp, tier, a, b, 0.5).result()
                else:
                    cheap(tier, a, b, 0.5)
                if i:
                    self.sched.record(tier, time.perf_counter() - t0)
        self.sched.settle(self.latency - 1 / self.fps_in)

    def first_frame(self) -> Frame:
        """Wait for the first picture (``--open-timeout``) and start the clock on it."""
        limit = self.clock() + self.options.open_timeout
        item, audio_end = None, None
        while not isinstance(item, Frame):
            self._check_input()
            try:
                item = self.input.items.get(timeout=0.05)
            except queue.Empty:
                if self.clock() > limit or self.input.ended.is_set() and self.input.items.empty():
                    raise FilmrtError(f"no picture from {self.input.src} within {self.options.open_timeout:g} s") from None
                continue
            if isinstance(item, Packet):
                self.copied.unanchored.append(item)
                audio_end = self._audio_end(item, None)
        # start on the live edge (LiveEdge): the backlog buffered during the probe and the
        # calibration comes in a burst
        newest, edge, reached = item, LiveEdge(), False
        edge.step(item.pts, item.arrived)
        settle = self.clock() + edge.settle
        # an input paced at its own rate (a file, --realtime) has no backlog: its first picture is
        # the edge (searched for, a hiccup of the input thread looked like backlog, and every file
        # lost its first 3 frames to the search itself)
        while not reached and not self.input.realtime and self.clock() < settle:
            try:
                nxt = self.input.items.get(timeout=2.0 / self.fps_in)
            except queue.Empty:
                break  # the queue is drained: the newest picture is the live edge
            if isinstance(nxt, Frame):
                reached, newest = edge.step(nxt.pts, nxt.arrived), nxt
            else:
                self.copied.unanchored.append(nxt)
                audio_end = self._audio_end(nxt, audio_end)
        skipped, paced = (0, 0) if self.input.realtime else (edge.skipped - (not reached), edge.paced)
        if (skipped > 2 and not reached and self.input.ended.is_set() and self.input.items.empty()
                and not self.input.reconnect):
            # the whole input came as backlog (of any length: a 2 s clip too): a couple of frames
            # would go out and the run "succeed"
            raise FilmrtError(f"{self.input.src} ended before its live edge: all its pictures came faster than real "
                              f"time ({skipped + 1 + self.input.dropped} of them), so none could be shown live; a file "
                              "or pipe that is not a live feed needs --realtime")
        if audio_end is not None:
            self._room_for_audio(float(newest.pts) - audio_end)
        self.timeline.dropped += skipped  # counted with the input frames dropped
        if skipped > 2 * self.fps_in and paced < 3:
            self.notes.append(f"the input came faster than real time: the {skipped} frames read before its live "
                              "edge were skipped (a file or pipe that is not a live feed needs --realtime)")
        self.start = self.sched.start = self.clock()
        self.stats.restart(self.start)
        newest.arrived = self.start
        return newest

    def _audio_end(self, item: Packet, newest: float | None) -> float | None:
        """The end (s, its own clock) of the newest copied audio packet seen: ``item``'s or ``newest``."""
        pkt = item.packet
        pts = pkt.pts if pkt.pts is not None else pkt.dts
        if item.kind != "audio" or item.index not in self.muxer.copy_map or pts is None:
            return newest
        end = float((pts + (pkt.duration or 0)) * Fraction(pkt.time_base))
        return end if newest is None else max(newest, end)

    def _room_for_audio(self, lead: float) -> None:
        """The input's audio runs ``lead`` seconds behind its pictures (a feed that sends the video
        early, as broadcast encoders do): the audio of a picture comes that much after it, too late
        for a tick handed over ``latency`` after the picture, and would be dropped. Hand every frame
        over later by what is missing (plus two frames): the latency stays constant and the sound in
        sync; said in the notes."""
        extra = lead + 2 / self.fps_in - self.latency
        if extra <= 0:
            return
        asked = self.latency
        self.latency += extra
        self.sched.latency = self.stats.latency_budget = self.latency
        self.sched.settle(self.latency - 1 / self.fps_in)
        self.timeline.max_window = math.ceil((self.timeline.resync + self.latency) * self.fps_in) + 4
        self.enc_q = queue.Queue(maxsize=math.ceil(self.latency * self.fps_out) + 4)
        self.notes.append(f"the input's audio comes {lead * 1000:.0f} ms after its pictures: every frame is handed "
                          f"over {self.latency * 1000:.0f} ms after its input (not the {asked * 1000:.0f} ms of "
                          f"--latency), so the sound is kept and in sync; --latency {math.ceil(self.latency * 1000)}ms "
                          "asks for it")

    # ------------------------------------------------------------------ the clock loop
    def run(self) -> str:
        enc = threading.Thread(target=self._encode, name="filmrt-live-encode", daemon=True)
        self._take(self.first_frame())
        enc.start()
        ended, n, second = "input-end", 0, self.start + 1
        n_end = None if self.options.t is None else math.ceil(Fraction(self.options.t) * self.fps_out)
        try:
            while n_end is None or n < n_end:
                at = float(n / self.fps_out)
                dl = self.sched.deadline(n)
                pair = self._wait_pair(at, dl)
                if self._input_done(at, pair):
                    break
                if self.behind > GIVE_UP_BEHIND:
                    raise FilmrtError(
                        f"the encoder cannot keep up: {self.behind:.1f} s behind the clock at {format_rate(self.fps_out)} "
                        f"fps, {self.muxer.width}x{self.muxer.height} on this machine (use a faster --preset, a "
                        "lower --fps or a smaller input; the output so far is flushed)")
                pic, tier, why = self._make(n, at, dl, pair)
                self._emit(n, at, dl, pic, tier, why)
                n += 1
                if self.clock() >= second:
                    second += 1
                    self._second()
            else:
                ended = "duration"
        except KeyboardInterrupt:
            ended = "signal"
        except FilmrtError as e:
            self.stopped = e  # flushed below like any end, then raised
        finally:
            self._put_enc(_END, force=True)
            enc.join(timeout=30)
            self.worker.shutdown(wait=False, cancel_futures=True)
            torch.set_num_threads(self.caller_threads)
        if self.enc_error is not None:
            raise self.enc_error
        if self.stopped is not None:
            raise self.stopped
        return ended

    def _input_done(self, at: float, pair) -> bool:
        """A non-reconnecting input has ended and its last picture has had its time on screen."""
        if not self.input.ended.is_set() or not self.input.items.empty() or pair.b is not None:
            return False
        self._check_input()
        return self.last_out is None or at >= self.last_out + 1 / self.fps_in

    def _check_input(self) -> None:
        if self.input.error is not None:
            raise self.input.error

    def _take(self, item) -> None:
        if isinstance(item, Packet):
            self.copied.place(item, self.timeline.anchor, self.clock() - self.start, self._far())
            return
        self.stats.arrived()
        if self.protect is not None and not self.protect.ready:
            self._observe(item.pic.rgb)
        placed = self.timeline.place(item.pts, item.arrived - self.start, item.pic, item.cut or item.session_start,
                                     new_session=item.session_start)
        if placed is None:  # held: maybe the stale tail of the input before a gap
            return
        self.last_out = placed.out
        self.copied.replace(self.timeline.anchor, self.clock() - self.start, self._far())

    def _observe(self, rgb: torch.Tensor) -> None:
        self.protect.observe(0, rgb, analyse_now=False)
        if self.protect.window_full and self.analysis is None:
            self.analysis = threading.Thread(target=self._analyse, name="filmrt-live-protect", daemon=True)
            self.analysis.start()

    def _analyse(self) -> None:
        """The --protect analysis, on its own thread at the lowest CPU priority (Linux nices a
        thread by its id): the clock and the encoder keep their cores."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):  # not Linux, or not allowed: run as it is
            pass
        self.protect.finish()

    def _protected(self, pic: Pic, pair, n: int | None = None) -> Pic:
        """``pic`` (made between the pair's frames) with the --protect regions replaced, once the
        analysis is done; a tick ``n`` is counted as the first protected one."""
        if self.protect is None or not self.protect.ready:
            return pic
        if self.protected_from is None and n is not None:
            self.protected_from = n
        return Pic(rgb=self.protect.fix_frame(pic.rgb, pair.a.pic.rgb, pair.b.pic.rgb, pair.t))

    def _far(self) -> float:
        """A copied packet placed further than this from now belongs across a discontinuity."""
        return self.timeline.resync + self.latency

    def _drain(self) -> None:
        while True:
            try:
                self._take(self.input.items.get_nowait())
            except queue.Empty:
                return

    def _wait_pair(self, at: float, dl: float):
        """The frames around ``at``, waiting for the later one until only a blend still fits."""
        decide_by = dl - self.sched.estimate(BLEND) - self.wake_guard
        while True:
            self._drain()
            pair = self.timeline.pair(at)
            now = self.clock()
            if pair.b is not None or now >= decide_by or (self.input.ended.is_set() and self.input.items.empty()):
                return pair
            try:
                self._take(self.input.items.get(timeout=max(0.0005, min(decide_by - now, 0.02))))
            except queue.Empty:
                pass

    def _make(self, n: int, at: float, dl: float, pair) -> tuple[Pic, str, str]:
        """The picture of tick ``n``, its tier and why."""
        now = self.clock()
        last = self.input.last_arrival
        gap = 0.0 if last is None else now - last
        stalled = gap > self.latency
        if stalled and not self.in_stall:
            self.stats.stalls += 1
        self.in_stall = stalled
        # the pair spans a gap (the input came back after a stall, re-synced onto a later frame): the
        # ticks up to that frame's time keep showing what the stall showed, never the new frame early
        across_gap = pair.a is not None and pair.b is not None and pair.b.out - pair.a.out > 2.5 / self.fps_in
        if (stalled and gap > self.options.slate_after and pair.b is None) or (
                self.slating and (across_gap or pair.b is None)):  # black until a frame on time ends it
            self.stats.slate_frames += 1
            self.slating = True
            return self.black, REPEAT, "slate"
        self.slating = False
        if pair.a is None:  # nothing at or before this tick yet (just re-synced onto a later frame)
            return (self.last_pic if self.last_pic is not None else self.black), REPEAT, "wait"
        if pair.b is None or across_gap:
            return pair.a.pic, REPEAT, "stall" if stalled or across_gap else "no-pair"
        if pair.t == 0:
            return pair.a.pic, SOURCE, "copy"
        if pair.cut:
            return cheap(REPEAT, pair.a.pic, pair.b.pic, pair.t), REPEAT, "cut"
        busy = self.abandoned is not None and not self._collect_abandoned()
        d = self.sched.choose(n, now, busy=busy)
        if d.tier in MODEL_TIERS:
            return self._guarded(d.tier, dl, pair, n)
        t0 = time.perf_counter()
        pic = cheap(d.tier, pair.a.pic, pair.b.pic, pair.t)
        if d.tier != REPEAT:
            pic = self._protected(pic, pair, n)  # inside the measured cost: the scheduler counts it
            self.sched.record(d.tier, time.perf_counter() - t0)
        return pic, d.tier, d.why

    def _guarded(self, tier: str, dl: float, pair, n: int) -> tuple[Pic, str, str]:
        """Run a model tier on the worker; at the last moment a blend still fits, give up on it."""
        def job():
            t0 = time.perf_counter()
            out = model_tier(self.interp, tier, pair.a.pic, pair.b.pic, pair.t, keys=(pair.a.key, pair.b.key))
            return self._protected(out, pair), time.perf_counter() - t0

        t0 = self.clock()
        fut = self.worker.submit(job)
        give_up = dl - self.sched.estimate(BLEND) - self.wake_guard
        try:
            out, cost = fut.result(timeout=max(0.0, give_up - self.clock()))
        except cf.TimeoutError:
            self.stats.overruns += 1
            self.sched.record(tier, self.clock() - t0)  # at least this much: the next ticks step down
            self.abandoned = (tier, fut)
            fallback = BLEND if self.clock() + self.sched.estimate(BLEND) <= dl else REPEAT
            pic = cheap(fallback, pair.a.pic, pair.b.pic, pair.t)
            return (self._protected(pic, pair, n) if fallback == BLEND else pic), fallback, "overrun"
        self.sched.record(tier, cost)
        if self.protect is not None and self.protect.ready and self.protected_from is None:
            self.protected_from = n
        return out, tier, "deadline"

    def _collect_abandoned(self) -> bool:
        """True when the abandoned model run has finished (its full cost is recorded, its frame dropped)."""
        tier, fut = self.abandoned
        if not fut.done():
            return False
        self.abandoned = None
        if fut.exception() is not None:
            raise fut.exception()
        self.sched.record(tier, fut.result()[1])
        return True

    def _emit(self, n: int, at: float, dl: float, pic: Pic, tier: str, why: str) -> None:
        """Count the frame (late = not ready by its deadline) and queue it for the encoder thread,
        which hands it over at its deadline (with the copied packets up to its end: taken then,
        so audio that comes after its picture, up to the latency, still goes with it)."""
        self.last_pic = pic
        now = self.clock()
        # queued first: Ctrl-C/SIGTERM lands while the clock thread waits for room in the queue, and
        # a frame counted there was never written (the report said one frame more than the file had)
        self._put_enc((n, at, dl, pic))
        self.stats.decided(tier, why, dl - now, now > dl)

    def _put_enc(self, item, force: bool = False) -> None:
        while True:
            if self.enc_error is not None and not force:
                raise self.enc_error
            try:
                self.enc_q.put(item, timeout=0.1)
                return
            except queue.Full:
                if force and self.enc_error is not None:
                    return

    def _second(self) -> None:
        rec = self.stats.tick_second(self.clock(), {
            "start": self.start, "dropped_input": self.input.dropped + self.timeline.dropped,
            "resyncs": self.timeline.resyncs, "reconnects": self.input.reconnects,
            "state": "stalled" if self.in_stall else ("encoder behind" if self.behind > self.latency else "ok"),
            "encoder_behind_ms": round(max(0.0, self.behind) * 1000, 1),
            "mux_latency_p99_ms": _ms(self.mux_latency.percentile(99)),
        })
        if self.on_second is not None:
            self.on_second(rec)

    # ------------------------------------------------------------------ encoder thread
    def _encode(self) -> None:
        """Hand each frame to the encoder at its deadline (a wake-up a little early absorbs the
        sleep's own jitter), then mux it and its copied packets."""
        self.plan.enter_stage()
        try:
            while True:
                item = self.enc_q.get()
                if item is _END:
                    break
                n, at, dl, pic = item
                wait = dl - WAKE_EARLY - self.clock()
                if wait > 0:
                    time.sleep(wait)
                self.behind = self.clock() - dl
                self.stats.handed(self.clock() - (self.start + at), self.behind > LATE_TOLERANCE)
                if pic.planes is not None:  # as decoded (or blended in planes): no RGB round trip
                    self.muxer.write_planes(pic.planes)
                else:
                    self.muxer.write_frame(pic.rgb)
                self.mux_latency.add(self.clock() - max(dl, self.start + at))
                for out, pkt in self.copied.take(float((n + 1) / self.fps_out)):
                    self.copied.mux_one(out, pkt)
            self.muxer.finish()
        except BaseException as e:  # noqa: BLE001 - raised by the clock thread
            self.enc_error = e
            self.muxer.abort()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def live(src: str, dst: str, options: LiveOptions | None = None, *, interpolator=None,
         on_second: Callable[[dict], None] | None = None, overwrite: bool | None = True,
         clock: Callable[[], float] = time.monotonic) -> LiveResult:
    """Run ``filmrt live`` from ``src`` to ``dst`` (see the module docstring). ``interpolator``:
    an open Interpolator to use (not closed here; tests pass a slowed one); ``on_second(record)``:
    called once per second with the figures of that second (the CLI's status line and ``--stats``)."""
    options = options or LiveOptions()
    live_format(dst, options.encode.format)  # refused before anything is opened or written
    # a regular file this run creates is removed when the run fails before its first picture went
    # out (exit 2 leaves no OUT behind); a stream that ran is kept (flushed) whatever ends it
    created = None
    if not is_url(dst) and dst != "-":
        check_overwrite(dst, overwrite, "OUT")
        if not os.path.exists(dst):
            created = dst
    t0 = time.perf_counter()
    device = interpolator.device if interpolator is not None else resolve_device(options.runtime.device)
    inp = LiveInput(src, options, device=device, clock=clock)
    first = inp.open()
    interp, run = interpolator, None
    try:
        check_protect_fits(options.protect, first.info.width, first.info.height)
        if interp is None:
            interp = open_interpolator(options.runtime)
        run = _Live(inp, first, interp, options, dst, clock, on_second)
        run.calibrate()
        inp.size = (run.info.height, run.info.width)
        inp.start(first, run.plan)
        ended = run.run()
    except BaseException:
        if run is not None:
            run.muxer.abort()
        if created is not None and (run is None or not run.muxer.frames_written) and os.path.isfile(created):
            os.remove(created)
        inp.close()
        first.close()
        if interp is not None and interp is not interpolator:
            interp.close()
        raise
    inp.close()
    if interp is not interpolator:
        interp.close()
    for note in (jump_note(inp.jumps), run.copied.late_note(run.latency)):
        if note is not None:
            run.notes.append(note)
    info = first.info
    return LiveResult(
        src=src, dst=dst, fps_out=run.fps_out, latency_s=run.latency, seconds=time.perf_counter() - t0,
        model=interp.model_name, backend=interp.backend, width=run.muxer.width, height=run.muxer.height,
        ended=ended, stats=run.stats.summary(),
        input={"fps": str(info.rate), "sessions": inp.sessions, "reconnects": inp.reconnects,
               "resyncs": run.timeline.resyncs, "dropped": inp.dropped + run.timeline.dropped,
               "resized": inp.resized, "problems": list(inp.problems)},
        mux_latency_p50_ms=_ms(run.mux_latency.percentile(50)), mux_latency_p99_ms=_ms(run.mux_latency.percentile(99)),
        packets_copied=run.muxer.packets_copied, packets_dropped=run.copied.dropped,
        silent_packets=run.copied.silent_packets, notes=run.notes, output=run.target.to_dict(),
        protect=None if run.protect is None else {
            "option": options.protect, "found": run.protect.protection.describe() if run.protect.ready else None,
            "from_frame": run.protected_from},
    )

"""The input thread of ``filmrt live``: open IN (a URL, a pipe or a file), decode it with the file
pipeline's decoder (:class:`~filmrt.pipeline.io.decode.PyAVSource`), and hand frames and the
packets of the copied streams, in demux order, to the clock thread through one bounded queue.

- Network URLs (``udp://``, ``srt://``, ``rtp://``, ``tcp://``, ``rtmp://``, ``http(s)://``) are
  opened by libavformat with an open and a read timeout; when the input ends or sends nothing for
  ``read_timeout`` seconds it is reopened with exponential back-off (0.25 s doubling to 4 s), and
  the clock thread re-syncs on the new session's timestamps (:mod:`~filmrt.pipeline.live.timeline`).
- ``--realtime`` paces a file or a pipe at its own timestamps (ffmpeg's ``-re``).
- Each frame gets its arrival time (the clock's), its scene-cut flag (the convert pipeline's
  detector; no look-ahead) and is scaled to the output size when the input's size changes.
- The queue is bounded (64 items: frames and packets): when the clock thread falls behind, the
  newest item is dropped and counted (``dropped``), never memory grown.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

import av
import torch
import torch.nn.functional as F

from filmrt.errors import FilmrtError, NotAVideo
from filmrt.pipeline.io.decode import PyAVInput, PyAVSource, av_error_message, open_input
from filmrt.pipeline.io.source import DecodeRequest
from filmrt.pipeline.live.options import LiveOptions
from filmrt.pipeline.live.tiers import Pic
from filmrt.pipeline.time.scenes import SceneDetector

#: schemes libavformat opens as network inputs
NETWORK = ("udp", "srt", "rtp", "tcp", "rtmp", "rtmps", "rtsp", "http", "https", "hls")
BACKOFF = (0.25, 4.0)
#: a paced input whose timestamps step forward by more than this (s; or by more than 4 of the
#: stream's frames, where a frame is longer) has a discontinuity: paced, it would be waited out in
#: real time (a frozen picture, then the slate and silence, for as long as the jump); backwards by
#: as much, its pacing would stop (the rest of the input read as fast as it decodes)
JUMP = 1.0


def is_url(src: str) -> bool:
    return "://" in src


def is_network(src: str) -> bool:
    return is_url(src) and src.split("://", 1)[0].lower() in NETWORK


@dataclass
class Frame:
    """A decoded frame as the clock thread receives it."""

    pts: Fraction
    arrived: float
    pic: Pic
    cut: bool
    #: the first frame of a new input session (after a reconnect)
    session_start: bool = False


@dataclass
class Packet:
    """A packet of a copied stream (audio, subtitles, data), with its stream's index and type read
    when it was demuxed: the session's input may be closed (its streams gone) before it is muxed."""

    packet: object
    index: int
    kind: str


class LiveEdge:
    """Where the backlog of a newly opened input ends.

    What the socket buffered while the input was probed (and, at start-up, while the tiers were
    calibrated) comes in a burst, faster than real time. Shown, it plays fast; so each session
    starts on the live edge: the first picture after three that came no slower than 0.6 of the
    time their timestamps say lies between them (or after ``settle`` seconds, whatever comes).
    ``step`` is given each picture's (pts, arrival) in order and says whether the edge is reached.
    """

    def __init__(self, settle: float = 5.0, need: int = 3):
        self.settle, self.need = settle, need
        self.first: float | None = None
        self.last: tuple[Fraction, float] | None = None
        self.paced = 0
        self.skipped = 0  # pictures before the edge
        self.reached = False  # and after it, every picture is taken, whatever its pace

    def step(self, pts: Fraction, arrived: float) -> bool:
        if self.reached:
            return True
        if self.first is None:
            self.first = arrived
        if self.last is not None:
            gap = float(pts - self.last[0])
            self.paced = self.paced + 1 if arrived - self.last[1] >= 0.6 * gap else 0
        self.last = (pts, arrived)
        self.reached = self.paced >= self.need or arrived - self.first >= self.settle
        self.skipped += not self.reached
        return self.reached


class Pacer:
    """Paces a file or a ``--realtime`` pipe at its own timestamps (ffmpeg's ``-re``): :meth:`wait`
    gives the seconds to wait before a frame with timestamp ``pts`` may be delivered at ``now``.

    A step between consecutive frames beyond ``bound`` (forward or backward: a PTS jump, a
    discontinuity, the segments of two recordings concatenated) is not waited out: pacing starts
    again from that frame, which is delivered at once; the timeline then re-syncs on it, as on a
    live input's jump. Each jump is kept in :attr:`jumps` as (pts before, step) for the notes."""

    def __init__(self, bound: float = JUMP, jumps: list | None = None):
        self.bound = bound
        self.origin: tuple[float, Fraction] | None = None  # (clock, pts) pacing counts from
        self.last: Fraction | None = None
        self.jumps: list[tuple[float, float]] = [] if jumps is None else jumps

    def wait(self, pts: Fraction, now: float) -> float:
        if self.last is not None and abs(float(pts - self.last)) > self.bound:
            self.jumps.append((float(self.last), float(pts - self.last)))
            self.origin = None
        self.last = pts
        if self.origin is None:
            self.origin = (now, pts)
            return 0.0
        return self.origin[0] + float(pts - self.origin[1]) - now


def jump_note(jumps: list[tuple[float, float]]) -> str | None:
    """What a run says about the PTS jumps of its paced input (None: there were none)."""
    if not jumps:
        return None
    said = ", ".join(f"{'forward' if d > 0 else 'back'} {abs(d):.2f} s after {at:.2f} s" for at, d in jumps[:3])
    more = f" and {len(jumps) - 3} more" if len(jumps) > 3 else ""
    return (f"the input's timestamps jumped {len(jumps)} time(s) ({said}{more}): a discontinuity, not waited out; "
            "the output re-synced onto the pictures after it")


class LiveInput:
    """Opens IN and runs the input thread (:meth:`start`); items go to :attr:`items`."""

    def __init__(self, src: str, options: LiveOptions, *, device: torch.device, clock=time.monotonic,
                 queue_size: int = 64):
        self.src, self.options, self.device, self.clock = src, options, device, clock
        self.reconnect = options.reconnect == "on" or (options.reconnect == "auto" and is_network(src))
        #: a regular file is always paced at its own rate (decoded as fast as it can be, it would
        #: only overflow the window); a pipe is paced with --realtime
        self.realtime = options.realtime or (src != "-" and os.path.isfile(src))
        self.items: queue.Queue = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self.detector = SceneDetector(options.scene_threshold)
        self.size: tuple[int, int] | None = None  # (H, W) of the output, from the first picture
        #: OUT's container name when the pictures are turned upright (it has no place for the
        #: display matrix the file's first picture carries: the live target planned it), else None
        self.upright: str | None = None
        self.first: PyAVInput | None = None
        self.sessions = 0
        self.reconnects = 0
        self.dropped = 0
        self.resized = 0
        self.problems: list[str] = []
        self.last_arrival: float | None = None
        #: PTS jumps of a paced input, not waited out: (pts before, step) in seconds
        self.jumps: list[tuple[float, float]] = []
        self.thread: threading.Thread | None = None
        self.plan = None

    # ------------------------------------------------------------------ opening
    def open(self) -> PyAVInput:
        """Open IN once and read its headers (raises a one-line FilmrtError)."""
        o = self.options
        if self.src != "-" and not is_url(self.src):
            return open_input(self.src, o.input_format)
        opts = {"analyzeduration": "1000000", "probesize": "1000000"}
        if self.src.startswith("udp://"):
            opts.update(overrun_nonfatal="1", fifo_size="1000000")
        # stdin through FFmpeg's own pipe protocol, which hands on whatever one read() returns; as a
        # Python file (sys.stdin.buffer) PyAV asks it for 32 KiB at a time and a buffered read waits
        # until it has them all: a 150 kb/s stream came in 2 s bursts (64 % of its frames dropped,
        # dozens of re-syncs, its sound up to 0.9 s late). A pipe blocks as it always did (no timeout).
        url, name, timeout = ("pipe:0", "stdin", None) if self.src == "-" else (
            self.src, self.src, (o.open_timeout, o.read_timeout))
        try:
            c = av.open(url, "r", format=o.input_format, options=opts, timeout=timeout,
                        metadata_errors="ignore")  # undecodable tag bytes are dropped, not fatal
        except (av.error.InvalidDataError, av.error.DemuxerNotFoundError) as e:
            if self.src != "-":
                raise FilmrtError(f"cannot open {self.src}: {av_error_message(e)}") from None
            raise NotAVideo(f"stdin is not a video stream FFmpeg can read ({av_error_message(e)})") from None
        except av.error.FFmpegError as e:
            raise FilmrtError(f"cannot open {name}: {av_error_message(e)}") from None
        return open_input(self.src, opened=(c, name))

    def start(self, first: PyAVInput, plan) -> None:
        """Run the input thread on ``first`` (opened by :meth:`open`) with the thread plan ``plan``."""
        self.first, self.plan = first, plan
        self.thread = threading.Thread(target=self._run, name="filmrt-live-input", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        inp, backoff = self.first, BACKOFF[0]
        self.plan.enter_stage()  # colour conversion and scaling on one PyTorch thread
        try:
            while not self.stop.is_set():
                if inp is None:
                    try:
                        inp = self.open()
                        self.reconnects += 1
                    except (FilmrtError, NotAVideo) as e:
                        self._note(f"reconnect failed: {e}")
                        self.stop.wait(backoff)
                        backoff = min(BACKOFF[1], backoff * 2)
                        continue
                delivered = self._session(inp)
                inp = None
                if delivered:
                    backoff = BACKOFF[0]
                if not self.reconnect:
                    break
                self.stop.wait(backoff)
                backoff = min(BACKOFF[1], backoff * 2)
        except BaseException as e:  # noqa: BLE001 - handed to the clock thread
            self.error = e
        finally:
            self.ended.set()

    def _session(self, inp: PyAVInput) -> int:
        """Decode one opened input until it ends; returns the frames delivered."""
        o = self.options
        wanted = frozenset(s.index for s in inp.copy_streams)
        request = DecodeRequest(deinterlace=o.deinterlace, streams=wanted, planes=True,  # RGB when a model asks
                                upright=self.upright)
        source = PyAVSource(inp, request, device=self.device, threads=self.plan.decoder)
        self.sessions += 1
        # a reconnected session starts on its live edge (the first one: the clock thread's first_frame)
        edge = LiveEdge() if self.sessions > 1 and not self.realtime else None
        n = 0
        rate = inp.info.rate
        pacer = Pacer(max(JUMP, 4 / float(rate)) if rate else JUMP, self.jumps)
        try:
            for f in source.frames(on_packet=lambda p: self._put(Packet(p, p.stream.index, p.stream.type)), stop=self.stop):
                if self.realtime:  # pace at the input's own timestamps (ffmpeg's -re)
                    wait = pacer.wait(f.ts, self.clock())
                    if wait > 0 and self.stop.wait(wait):
                        break
                cut = self.detector.update(f.thumb)
                now = self.clock()
                self.last_arrival = now
                if edge is not None and not edge.step(f.ts, now):
                    self.dropped += 1  # the backlog of the reopened input: played, it would run fast
                    continue
                self._put(Frame(f.ts, now, self._fit(Pic(f.planes, f.rgb)), cut, session_start=n == 0))
                n += 1
        finally:
            self.problems.extend(p for p in source.problems if p not in self.problems)
            source.close()
        return n

    def _fit(self, pic: Pic) -> Pic:
        """The picture at the output size (the first picture's): a size change mid-stream is scaled
        (in RGB)."""
        if self.size is None:
            self.size = pic.size
        if pic.size != self.size:
            self.resized += 1
            rgb = F.interpolate(pic.rgb[None], size=self.size, mode="bilinear", align_corners=False)[0].clamp_(0, 1)
            return Pic(rgb=rgb)
        return pic

    def _put(self, item) -> None:
        try:
            self.items.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def _note(self, msg: str) -> None:
        if msg not in self.problems:
            self.problems.append(msg)

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

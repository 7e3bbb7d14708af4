"""``filmrt convert``: the video pipeline, decode -> schedule -> interpolate -> encode -> mux.

Three threads joined by bounded queues, so memory stays flat on a clip of any length::

    decode thread   PyAV (or DALI): frames -> (3,H,W) RGB on the device, scene-cut score,
                    passthrough packets (audio/subtitles/data) -> deque
         | frame queue (bounded)
    main thread     Scheduler (exact timestamps -> jobs (a, b, t)), batches of --batch pairs
                    through the Interpolator (keys = source frame indices, so FILM reuses
                    per-frame/per-pair work), copies for t == 0
         | output queue (bounded)
    encode thread   RGB -> Y'CbCr (the source's matrix) -> encoder -> muxer, interleaving the
                    copied packets; progress bar; temp file renamed over OUT at the very end

An exception in any thread stops the other two, deletes the temp file and is raised once from
:func:`convert` (a :class:`FilmrtError` for anything the user can act on). Ctrl-C does the same.
"""

from __future__ import annotations

import collections
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import torch

from filmrt.errors import FilmrtError
from filmrt.pipeline.encode import DEFAULT_CRF, DEFAULT_PRESET, Muxer, check_output
from filmrt.pipeline.scenes import DEFAULT_THRESHOLD, SceneDetector
from filmrt.pipeline.schedule import (
    COPY,
    CUT,
    HOLD,
    INTERP,
    NEAREST,
    Job,
    Scheduler,
    dyadic_chain,
    parse_rate,
)

_END = object()


@dataclass
class ConvertOptions:
    #: output rate: "60", "59.94" (= 60000/1001), "60000/1001", "x2", "x4"
    fps: str = "x2"
    model: str | None = None
    weights: str | None = None
    backend: str = "auto"
    device: str = "cpu"
    precision: str = "auto"
    #: "direct" (one model call per output time) or "recursive" (FILM: dyadic midpoints)
    mode: str = "direct"
    scene_threshold: float = DEFAULT_THRESHOLD
    ss: float | None = None
    t: float | None = None
    codec: str = "libx264"
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    #: frame pairs per model call
    batch: int = 4
    #: output container (needed for stdout), e.g. "mp4", "matroska", "mpegts"
    format: str | None = None
    quiet: bool = False
    #: recursive mode: times are rounded to multiples of 1 / 2**max_depth
    max_depth: int = 4
    #: "auto" (DALI when installed and --device cuda, else PyAV), "pyav", "dali"
    decoder: str = "auto"
    #: frames buffered between stages (each queue)
    queue_size: int = 8


@dataclass
class ConvertResult:
    src: str
    dst: str
    frames_in: int
    frames_out: int
    interpolated: int
    copied: int
    scene_cuts: int
    seconds: float
    fps_out: Fraction
    fps_in: Fraction | None = None
    #: output frames that repeat a source frame next to a scene cut
    cut_repeats: int = 0
    #: output frames taken as the nearest source frame (down-conversion)
    nearest: int = 0
    #: output frames after the last source timestamp (last frame held)
    held: int = 0
    model: str = ""
    backend: str = ""
    decoder: str = ""
    width: int = 0
    height: int = 0
    colour: str = ""
    streams_copied: int = 0
    packets_copied: int = 0
    #: problems with the input (damaged packets, truncation): the output holds what was readable
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fps_out"] = str(self.fps_out)
        d["fps_in"] = None if self.fps_in is None else str(self.fps_in)
        return d


# ---------------------------------------------------------------------- thread plumbing
class _Stop(Exception):
    """Raised inside a stage when another stage failed."""


class _Stages:
    def __init__(self):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def fail(self, e: BaseException) -> None:
        with self.lock:
            if not isinstance(e, _Stop):
                self.errors.append(e)
        self.stop.set()

    def put(self, q: queue.Queue, item) -> None:
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue):
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                continue

    def run(self, name: str, fn: Callable, *args) -> threading.Thread:
        def body():
            try:
                fn(*args)
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                self.fail(e)

        th = threading.Thread(target=body, name=f"filmrt-{name}", daemon=True)
        th.start()
        return th


def _user_error(e: BaseException) -> BaseException:
    """PyAV/OS errors that reach the top become one-line FilmrtErrors."""
    import av

    if isinstance(e, FilmrtError):
        return e
    if isinstance(e, av.error.FFmpegError):
        from filmrt.pipeline.decode import av_error_message

        return FilmrtError(f"video processing failed: {av_error_message(e)}")
    if isinstance(e, MemoryError):
        return FilmrtError("out of memory: lower --batch or use a smaller input")
    if isinstance(e, torch.cuda.OutOfMemoryError if hasattr(torch.cuda, "OutOfMemoryError") else ()):
        return FilmrtError("out of GPU memory: lower --batch")
    return e


# ---------------------------------------------------------------------- sources
def open_source(src, options: ConvertOptions, device: torch.device):
    """The decoder for ``src``: DALI when asked for (or ``auto`` with DALI + a CUDA device), else PyAV."""
    from filmrt.pipeline.decode import PyAVSource

    if options.decoder not in ("auto", "pyav", "dali"):
        raise FilmrtError(f"unknown decoder {options.decoder!r}: use auto, pyav or dali")
    want_dali = options.decoder == "dali" or (
        options.decoder == "auto" and device.type == "cuda" and src != "-"
    )
    if want_dali:
        from filmrt.pipeline import dali

        ok, why = dali.available(device)
        if ok:
            return dali.DaliSource(src, ss=options.ss, t=options.t, device=device)
        if options.decoder == "dali":
            raise FilmrtError(f"--decoder dali: {why}")
    return PyAVSource(src, ss=options.ss, t=options.t, device=device)


# ---------------------------------------------------------------------- inference
class _Runner:
    """Turns scheduled jobs into output frames, in order, batching the model calls."""

    def __init__(self, interp, batch: int, mode: str):
        self.interp = interp
        self.batch = max(1, int(batch))
        self.mode = mode

    def run(self, jobs: list[Job], window: dict[int, torch.Tensor]) -> list[torch.Tensor]:
        results: dict[int, torch.Tensor] = {}
        todo = [j for j in jobs if j.kind == INTERP]
        if self.mode == "recursive":
            self._recursive(todo, window, results)
        else:
            for s in range(0, len(todo), self.batch):
                chunk = todo[s : s + self.batch]
                a = torch.stack([window[j.a] for j in chunk])
                b = torch.stack([window[j.b] for j in chunk])
                out = self.interp.interpolate(
                    a, b, [float(j.t) for j in chunk], keys_a=[j.a for j in chunk], keys_b=[j.b for j in chunk]
                )
                for j, o in zip(chunk, out, strict=True):
                    results[j.index] = o
        return [results[j.index] if j.kind == INTERP else window[j.a] for j in jobs]

    def _recursive(self, todo: list[Job], window, results) -> None:
        """FILM's recursive midpoints: t = m / 2**d is reached by d calls at t = 0.5, level by
        level, every midpoint computed once per pair and shared by all jobs that need it."""
        cache: dict[tuple, torch.Tensor] = {}

        def frame(a: int, b: int, x: Fraction) -> tuple[torch.Tensor, object]:
            if x == 0:
                return window[a], a
            if x == 1:
                return window[b], b
            return cache[(a, b, x)], ("mid", a, b, x.numerator, x.denominator)

        chains = {j.index: dyadic_chain(j.t) for j in todo}
        depth = max((len(c) for c in chains.values()), default=0)
        for level in range(depth):
            needed = []
            seen = set()
            for j in todo:
                ch = chains[j.index]
                if level < len(ch):
                    lo, hi = ch[level]
                    key = (j.a, j.b, (lo + hi) / 2)
                    if key not in cache and key not in seen:
                        seen.add(key)
                        needed.append((j.a, j.b, lo, hi))
            for s in range(0, len(needed), self.batch):
                chunk = needed[s : s + self.batch]
                fa = [frame(a, b, lo) for a, b, lo, _ in chunk]
                fb = [frame(a, b, hi) for a, b, _, hi in chunk]
                out = self.interp.interpolate(
                    torch.stack([x[0] for x in fa]),
                    torch.stack([x[0] for x in fb]),
                    [0.5] * len(chunk),
                    keys_a=[x[1] for x in fa],
                    keys_b=[x[1] for x in fb],
                )
                for (a, b, lo, hi), o in zip(chunk, out, strict=True):
                    cache[(a, b, (lo + hi) / 2)] = o
        for j in todo:
            results[j.index] = cache[(j.a, j.b, j.t)]


def _open_model(options: ConvertOptions, interpolator):
    if interpolator is not None:
        return interpolator, False
    from filmrt.engine import open_interpolator

    interp = open_interpolator(
        options.model,
        weights=options.weights,
        backend=options.backend,
        device=options.device,
        precision=options.precision,
        max_batch=max(1, int(options.batch)),
    )
    return interp, True


def _check_options(options: ConvertOptions) -> None:
    if options.mode not in ("direct", "recursive"):
        raise FilmrtError(f"--mode {options.mode}: use direct or recursive")
    if int(options.batch) < 1:
        raise FilmrtError(f"--batch {options.batch}: must be >= 1")
    if not 0 <= int(options.crf) <= 63:
        raise FilmrtError(f"--crf {options.crf}: must be 0..51 (x264/x265) or 0..63")


# ---------------------------------------------------------------------- convert
def convert(
    src,
    dst,
    options: ConvertOptions | None = None,
    *,
    interpolator=None,
    on_progress: Callable[[int], None] | None = None,
) -> ConvertResult:
    """Convert ``src`` to ``dst`` at ``options.fps``. See the module docstring.

    ``interpolator``: an open :class:`filmrt.interpolator.Interpolator` to use (not closed here).
    ``on_progress(n)``: called from the encoder thread with the number of output frames written.
    Raises :class:`FilmrtError` for anything the user can fix; ``dst`` is never half-written.
    """
    options = options or ConvertOptions()
    _check_options(options)
    src = os.fspath(src) if src != "-" else "-"
    dst = os.fspath(dst) if dst != "-" else "-"
    if src != "-" and dst != "-" and os.path.exists(dst) and os.path.exists(src):
        if os.path.samefile(src, dst):
            raise FilmrtError("OUT is the same file as IN: write to a new file")
    t0 = time.perf_counter()
    # validate the rate early when it does not depend on the input
    if not str(options.fps).strip().lower().startswith("x"):
        parse_rate(options.fps)
    from filmrt.engine import resolve_device

    device = interpolator.device if interpolator is not None else resolve_device(options.device)
    source = open_source(src, options, device)
    interp = None
    own_interp = False
    holder: dict = {}
    try:
        info = source.info
        fps_out = parse_rate(options.fps, info.rate)
        check_output(dst, options.format, options.codec)
        interp, own_interp = _open_model(options, interpolator)
        if options.mode == "recursive" and str(interp.model_name).startswith("rife"):
            raise FilmrtError(
                "--mode recursive is FILM's way; RIFE is time-conditioned and always runs direct"
            )
        container_md = dict(source.container.metadata) if hasattr(source, "container") else {}

        def make_muxer(first_ts: Fraction) -> Muxer:
            # created at the first decoded frame: its colour tags, bit depth and display
            # matrix are known by then
            holder["muxer"] = Muxer(
                dst,
                info=info,
                fps_out=fps_out,
                copy_streams=getattr(source, "copy_streams", []),
                shift=source.range_start,
                video_offset=first_ts - source.range_start,
                codec=options.codec,
                crf=options.crf,
                preset=options.preset,
                fmt=options.format,
                container_metadata=container_md,
            )
            return holder["muxer"]

        result = _run(source, make_muxer, interp, options, fps_out, on_progress)
    except BaseException as e:
        if holder.get("muxer") is not None:
            holder["muxer"].abort()
        source.close()
        if own_interp and interp is not None:
            interp.close()
        if isinstance(e, KeyboardInterrupt):
            raise
        err = _user_error(e)
        if err is e:
            raise
        raise err from None
    muxer = holder["muxer"]
    source.close()
    if own_interp:
        interp.close()
    result.src, result.dst = src, dst
    result.seconds = time.perf_counter() - t0
    result.fps_in = info.rate
    result.model = interp.model_name
    result.backend = getattr(interp, "backend", "")
    result.decoder = getattr(source, "name", "")
    result.width, result.height = muxer.width, muxer.height
    result.colour = muxer.spec.describe()
    result.streams_copied = len(muxer.copy_map)
    result.packets_copied = muxer.packets_copied
    result.problems = list(source.problems)
    return result


def _run(source, make_muxer, interp, options: ConvertOptions, fps_out: Fraction, on_progress) -> ConvertResult:
    stages = _Stages()
    qsize = max(2, int(options.queue_size))
    frame_q: queue.Queue = queue.Queue(maxsize=qsize)
    out_q: queue.Queue = queue.Queue(maxsize=max(qsize, 2 * int(options.batch)))
    passthrough: collections.deque = collections.deque()
    detector = SceneDetector(options.scene_threshold)
    info = source.info
    counts = {"cuts": 0}

    def decode_stage():
        for f in source.frames(on_packet=passthrough.append, stop=stages.stop):
            cut = detector.update(f.thumb) if f.index > 0 else False
            counts["cuts"] += cut
            stages.put(frame_q, (f, cut))
        stages.put(frame_q, _END)

    expected = None
    if info.frames and info.rate:
        expected = math.ceil(Fraction(info.frames) / info.rate * fps_out)
    bar = None
    if not options.quiet:
        from tqdm import tqdm

        bar = tqdm(total=expected, unit="frame", desc="convert", dynamic_ncols=True, file=sys.stderr, leave=True)
    state = {"written": 0}

    muxer = None

    def drain_passthrough(until: Fraction | None) -> None:
        while passthrough:
            pkt = passthrough[0]
            if until is not None:
                pts = pkt.pts if pkt.pts is not None else pkt.dts
                if pts is not None and Fraction(pts) * Fraction(pkt.time_base) - muxer.shift > until:
                    return
            passthrough.popleft()
            muxer.write_packet(pkt)

    def encode_stage():
        while True:
            item = stages.get(out_q)
            if item is _END:
                break
            muxer.write_frame(item)
            state["written"] += 1
            drain_passthrough(muxer.video_time())
            if bar is not None:
                bar.update(1)
            if on_progress is not None:
                on_progress(state["written"])
        drain_passthrough(None)
        muxer.finish()

    dec = stages.run("decode", decode_stage)
    enc = None
    sched = Scheduler(fps_out, mode=options.mode, max_depth=options.max_depth,
                      snap=min(info.time_base, 1 / (8 * fps_out)))
    runner = _Runner(interp, options.batch, options.mode)
    kinds = collections.Counter()
    window: dict[int, torch.Tensor] = {}
    pending: list[Job] = []
    frames_in = 0
    last_duration = None

    def flush():
        outs = runner.run(pending, window)
        for j, o in zip(pending, outs, strict=True):
            kinds[j.kind] += 1
            stages.put(out_q, o)
        if pending:
            keep = pending[-1].a
            for k in [k for k in window if k < keep]:
                del window[k]
        pending.clear()

    try:
        while True:
            item = stages.get(frame_q)
            if item is _END:
                break
            f, cut = item
            if frames_in == 0:
                muxer = make_muxer(f.ts)
                enc = stages.run("encode", encode_stage)
            frames_in += 1
            window[f.index] = f.rgb
            last_duration = f.duration
            if last_duration is None and frames_in == 1 and info.rate:
                last_duration = 1 / info.rate  # a one-frame clip lasts one nominal frame
            pending.extend(sched.push(f.ts, cut, index=f.index))
            if sum(j.kind == INTERP for j in pending) >= runner.batch or len(pending) >= 4 * runner.batch:
                flush()
            else:
                # keep only frames the pending jobs or the next pair can still use
                lo = min([j.a for j in pending] + [f.index])
                for k in [k for k in window if k < lo]:
                    del window[k]
        if frames_in == 0:
            detail = "; ".join(source.problems) or "the stream holds no decodable picture"
            raise FilmrtError(f"no video frame could be decoded from {source.src_name} ({detail})")
        end = source.range_end
        pending.extend(sched.finish(last_duration, end=end))
        flush()
        stages.put(out_q, _END)
        enc.join()
        dec.join()
        corrupt = getattr(source, "corrupt_frames", 0)
        if corrupt >= frames_in:  # e.g. random bytes that a demuxer happened to accept
            raise FilmrtError(
                f"no intact video frame in {source.src_name}: all {frames_in} decoded frame(s) are "
                "flagged corrupt by the decoder (not a usable video)"
            )
    except _Stop:
        pass  # another stage failed: its error is raised below
    except BaseException as e:
        stages.fail(e)
        raise
    finally:
        for th in (dec, enc):
            if th is not None:
                th.join(timeout=30)
        if bar is not None:
            bar.close()
    if stages.errors:
        raise stages.errors[0]
    return ConvertResult(
        src="",
        dst="",
        frames_in=frames_in,
        frames_out=state["written"],
        interpolated=kinds[INTERP],
        copied=kinds[COPY] + kinds[CUT] + kinds[NEAREST] + kinds[HOLD],
        scene_cuts=counts["cuts"],
        seconds=0.0,
        fps_out=fps_out,
        cut_repeats=kinds[CUT],
        nearest=kinds[NEAREST],
        held=kinds[HOLD],
    )

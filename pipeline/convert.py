"""``filmrt convert``: the video pipeline, decode -> schedule -> interpolate -> encode -> mux.

Three threads joined by bounded queues, so memory stays flat on a clip of any length::

    decode thread   a Source (PyAV, or DALI): frames -> :class:`~filmrt.pipeline.io.planes.Pic`
                    (the decoder's Y'CbCr planes, plus (3,H,W) RGB on the device when a model
                    will read it; RGB only when an option needs it, :func:`~filmrt.pipeline.prepare.rgb_reasons`),
                    scene-cut score, passthrough packets (audio/subtitles/data) -> deque
         | frame queue (bounded)
    main thread     Scheduler (exact timestamps -> jobs (a, b, t)), batches of --batch pairs
                    through the inference stage (:mod:`filmrt.pipeline.infer`: keys = source frame
                    indices, so FILM reuses per-frame/per-pair work), source frames for t == 0 as
                    decoded; ``--model blend`` mixes the planes itself (:class:`~filmrt.pipeline.infer.PipelineBlend`)
         | output queue (bounded)
    encode thread   planes as they are when they are the encoder's format (a source frame keeps
                    its codes), else RGB -> Y'CbCr (the source's matrix) -> encoder -> muxer, interleaving the
                    copied packets; reports progress; the temp file is read back and checked
                    against the plan (:mod:`filmrt.pipeline.io.verify`, exit 4 on a difference),
                    then renamed over OUT at the very end

One :class:`_Conversion` object holds a run's state (queues, frame window, counters); its methods
are the three stages. An exception in any thread stops the other two, deletes the temp file and is
raised once from :func:`convert` (a :class:`FilmrtError` for anything the user can act on). Ctrl-C
does the same. Display is the caller's: ``convert`` reports through ``on_start``/``on_progress``.
"""

from __future__ import annotations

import collections
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import av
import torch

from filmrt.engine import open_interpolator, resolve_device
from filmrt.errors import FilmrtError, NotAVideo
from filmrt.fileio import check_overwrite
from filmrt.pipeline.infer import Inference, PipelineBlend
from filmrt.pipeline.io.decode import PyAVInput, av_error_message, open_input
from filmrt.pipeline.io.encode import Muxer, check_encoder
from filmrt.pipeline.io.extras import copy_extras
from filmrt.pipeline.io.formats import refuse_losses
from filmrt.pipeline.io.hdr import losses
from filmrt.pipeline.io.orient import upright_info
from filmrt.pipeline.io.planes import Pic, blend
from filmrt.pipeline.io.source import DecodedFrame, Source
from filmrt.pipeline.io.target import REENCODED, REMUXED, OutputTarget, dropped_streams, plan_target
from filmrt.pipeline.io.verify import check_conversion, not_verified
from filmrt.pipeline.options import ConvertOptions, check_protect_fits
from filmrt.pipeline.prepare import (
    check_input_fits,
    choose_convert_mode,
    decode_request,
    open_source,
    plan_time,
    source_timecode,
)
from filmrt.pipeline.threads import Stages, Stop, ThreadPlan, plan_threads, torch_threads
from filmrt.pipeline.time.audiostretch import AudioStretch
from filmrt.pipeline.time.cadence.analysis import (
    TemporalReport,
    audio_policy,
    check_output_rate,
    parse_slowmo,
)
from filmrt.pipeline.time.cadence.retime import TemporalStage, retime_packet, slowed
from filmrt.pipeline.time.protect import Protector
from filmrt.pipeline.time.scenes import SceneDetector
from filmrt.pipeline.time.schedule import (
    COPY,
    CUT,
    HOLD,
    INTERP,
    NEAREST,
    Job,
    Scheduler,
    output_frame_count,
    output_origin,
)
from filmrt.pipeline.time.timestamps import clock_repairs

_END = object()


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
    #: what the model computed in (fp32, fp16, bf16: ``--precision auto`` resolved by the backend)
    precision: str = ""
    decoder: str = ""
    width: int = 0
    height: int = 0
    colour: str = ""
    streams_copied: int = 0
    packets_copied: int = 0
    #: the output decision (:meth:`filmrt.pipeline.io.target.OutputTarget.to_dict`): container,
    #: encoder, and every input stream's fate (copied / reencoded / dropped) with its reason
    output: dict = field(default_factory=dict)
    #: frames whose timestamp was moved after the previous one (a muxer's mistake, not damage)
    timestamps_repaired: int = 0
    #: what the decoder's clock did to the source's timestamps, per kind (pipeline.time.timestamps:
    #: ``repeated``, ``overlapped``, ``rebased`` pictures and clock ``resets``); ``notes``: said as such
    timestamps: dict = field(default_factory=dict)
    #: problems with the input (damaged packets, truncation): the output holds what was readable
    problems: list[str] = field(default_factory=list)
    #: temporal structure: what was detected (interlacing, cadence, duplicates, timecode) and done
    #: (deinterlace, dedup, down-conversion, slow motion, interlaced output), pipeline.temporal
    temporal: dict = field(default_factory=dict)
    #: the video encoding: {"source": ..., "output": OutputFormat.to_dict(), "side_data": SideInfo.to_dict()}
    video: dict = field(default_factory=dict)
    #: what the output does not carry from the source, and why (alpha, HDR/caption side data, bit depth)
    dropped: list[str] = field(default_factory=list)
    #: chapters, attachments and stream dispositions copied (counts)
    extras: dict = field(default_factory=dict)
    #: wall seconds inside the model calls; ``seconds - model_s`` is the time outside the model
    model_s: float = 0.0
    #: the thread plan (:mod:`filmrt.pipeline.threads`)
    threads: str = ""
    #: where the time went: ``setup_s`` (open input and model, wall; of it ``open_model_s`` and
    #: ``analysis_s``, the input's interlacing/cadence analysis), ``model_s`` (wall in the model
    #: calls), ``outside_model_s`` (``seconds - model_s``), and the CPU seconds of each stage's own
    #: thread (``decode_cpu_s``: decode + Y'CbCr->RGB; ``encode_cpu_s``: RGB->Y'CbCr + encoder +
    #: muxing; codec worker threads beyond the first are not counted)
    stage_s: dict = field(default_factory=dict)
    #: the output read back and checked (:mod:`filmrt.pipeline.io.verify`): status, checks run,
    #: differences, notes, seconds
    verify: dict = field(default_factory=dict)

    @property
    def codec(self) -> str:
        """The video encoder used (the container's natural one for e.g. WebM)."""
        return self.output.get("encoder", "")

    @property
    def streams(self) -> list[str]:
        """"#INDEX TYPE CODEC" of the streams remuxed into the output."""
        return [_named(f) for f in self.output.get("streams", [])
                if f["fate"] == "copied" and f["kind"] in REMUXED]

    @property
    def streams_dropped(self) -> list[str]:
        """"#INDEX TYPE CODEC: why" of the input streams left out."""
        return dropped_streams(self.output)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fps_out"] = str(self.fps_out)
        d["fps_in"] = None if self.fps_in is None else str(self.fps_in)
        return d


def _named(fate: dict) -> str:
    """``#INDEX TYPE CODEC`` of a stream fate in :meth:`OutputTarget.to_dict` form."""
    return f"#{fate['index']} {fate['kind']} {fate['codec']}"


def _user_error(e: BaseException) -> BaseException:
    """PyAV/OS errors that reach the top become one-line FilmrtErrors."""
    if isinstance(e, FilmrtError):
        return e
    if isinstance(e, av.error.FFmpegError):
        return FilmrtError(f"video processing failed: {av_error_message(e)}")
    if isinstance(e, MemoryError):
        return FilmrtError("out of memory: lower --batch or use a smaller input")
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return FilmrtError("out of GPU memory: lower --batch")
    return e


# ---------------------------------------------------------------------- one run

def _overlap_loss(n: int) -> list[str]:
    """The pictures the decoder dropped on overlapping timestamps, said as a loss."""
    if not n:
        return []
    return [f"{n} picture(s) dropped: their timestamps go back over pictures already shown (a splice?); "
            "the source's timeline, and A/V sync, kept"]

class _Conversion:
    """One conversion: the three stages (methods :meth:`decode`, :meth:`infer`, :meth:`encode`)
    and the state they share. ``run`` starts them and returns the counts."""

    def __init__(self, source: Source, interp, options: ConvertOptions, mode: str, fps_out: Fraction,
                 target: OutputTarget, on_progress: Callable[[int], None] | None,
                 temporal: TemporalReport | None = None, thread_plan: ThreadPlan | None = None):
        self.source, self.interp, self.options, self.fps_out = source, interp, options, fps_out
        self.target, self.dst = target, target.path
        self.temporal = temporal or TemporalReport(down="nearest")
        self.slowmo = parse_slowmo(options.slowmo)
        self.stage = TemporalStage(self.temporal, source.info, source.device)
        self.stage.check_decoder(source)
        self.on_progress = on_progress
        self.thread_plan = thread_plan or plan_threads(interp.device, options.runtime.threads)
        info = source.info
        self.batch = options.runtime.max_batch
        self.stages = Stages()
        qsize = max(2, options.queue_size)
        self.frame_q: queue.Queue = queue.Queue(maxsize=qsize)
        self.out_q: queue.Queue = queue.Queue(maxsize=max(qsize, 2 * self.batch))
        #: packets of the copied streams, from the decoder to the muxer in demux order
        self.passthrough: collections.deque = collections.deque()
        self.detector = SceneDetector(options.scene_threshold)
        rate = slowed(fps_out, self.slowmo)  # the scheduler's output rate in source time
        self.scheduler = Scheduler(rate, mode=mode, max_depth=options.max_depth,
                                   snap=min(info.time_base, 1 / (8 * rate)), down=self.temporal.down)
        self.inference = Inference(interp, mode=mode, batch=self.batch)
        self.protect = Protector.from_option(options.protect)  # --protect: None when off
        #: output frames a constant-rate input gives (None when the input does not say)
        self.expected = output_frame_count(info.frames, info.rate, rate) if info.frames and info.rate else None
        self.muxer: Muxer | None = None
        self.caption_lead = Fraction(0)  # set with the muxer (_open_muxer)
        self.threads: list[threading.Thread] = []
        self.window: dict[int, Pic] = {}  # source frames the pending jobs may still use
        #: blend computed here (no model): pictures stay as decoded, blended in planes
        self.own_blend = isinstance(interp, PipelineBlend)
        self.pending: list[Job] = []
        self.kinds: collections.Counter = collections.Counter()
        self.frames_in = self.written = self.scene_cuts = 0
        self.last_duration: Fraction | None = None
        self.stretch: dict[int, AudioStretch] = {}  # --audio stretch: input stream index -> its re-encoder
        #: chapters/attachments/dispositions copied, and what the output container could not hold
        self.extras: dict = {}
        self.extras_lost: list[str] = []
        #: what the muxer changed (the last column/row of an odd size), reported with the losses
        self.muxer_notes: list[str] = []
        #: container tags added to the output (convert's ``tags``)
        self.tags: dict[str, str] = {}
        #: OUT may be replaced (-y); else the final rename refuses an OUT that appeared meanwhile
        self.overwrite = True
        #: audio re-encoded because the container cannot carry it readably (with --audio copy)
        self.reencoded = [f"stream {f.describe()} -> {f.encoder}: {f.reason}" for f in target.of(REENCODED)
                          if f.kind == "audio" and self.temporal.audio == "copy"]
        #: the input's path (None: stdin), read again by the verification; its report
        self.src_path: str | None = None
        self.verify = not_verified(self.dst)

        self.stage_cpu: dict[str, float] = {}

    # ------------------------------------------------------------------ decode thread
    def decode(self) -> None:
        self.thread_plan.enter_stage()
        c0 = time.thread_time()
        frames = self.source.frames(on_packet=self.passthrough.append, stop=self.stages.stop)
        for f in self.stage.run(frames) if self.stage.active else frames:
            cut = self.detector.update(f.thumb)  # every frame: a cut into frame 1 is found too
            self.scene_cuts += cut
            rgb = f.rgb
            if rgb is None and not self.own_blend:  # a model reads RGB: made here, on the decode thread
                rgb = f.planes.to_rgb()
            pic = Pic(f.planes, rgb)  # the planes (when decoded as planes) go to the encoder
            self.stages.put(self.frame_q, (f, pic, cut))
        self.stage_cpu["decode_cpu_s"] = time.thread_time() - c0
        self.stages.put(self.frame_q, _END)

    # ------------------------------------------------------------------ main thread
    def infer(self) -> None:
        """Schedule the decoded frames and run the model on them, in batches, until the end."""
        if self.thread_plan.glue:  # the model's count, or the glue's when PyTorch does not run the model
            torch.set_num_threads(self.thread_plan.inference_threads(
                self.interp.backend, self.options.runtime.threads or self.caller_threads))
        while True:
            item = self.stages.get(self.frame_q)
            if item is _END:
                break
            f, pic, cut = item
            if self.frames_in == 0:
                self.muxer = self._open_muxer(f.ts)
                self.threads.append(self.stages.run("encode", self.encode))
            self._accept(f, pic, cut)
        if self.frames_in == 0:
            detail = "; ".join(self.source.problems) or (
                f"no picture at or after --ss {self.options.ss:g} s" if self.options.ss
                else "the stream holds no decodable picture")
            raise NotAVideo(f"no video frame could be decoded from {self.source.src_name} ({detail})")
        # captions or dynamic metadata that start after the first frame: --strict still refuses
        refuse_losses(self._losses(self.muxer), self.options.encode.strict)
        self.pending.extend(self.scheduler.finish(self.last_duration, end=self.source.range_end))
        self._flush()
        self.stages.put(self.out_q, _END)

    def _open_muxer(self, first_ts: Fraction) -> Muxer:
        # made at the first decoded frame: its colour tags, bit depth and display matrix are known then
        enc, src, tr = self.options.encode, self.source, self.temporal
        # filmrt's own tags in a source (e.g. a batch mark) say nothing about this output
        tags = {k: v for k, v in src.container_metadata.items() if not k.lower().startswith("filmrt_")}
        # on the grid of the frames written: woven frames (two fields each) when interlaced
        weave = 2 if tr.interlace_out != "off" else 1
        origin, frames = output_origin(first_ts, src.range_start, self.fps_out / weave, self.slowmo or 1)
        #: a caption's time counts from the start of the range; a picture's from ``origin``
        self.caption_lead = (origin - src.range_start) * (self.slowmo or 1)
        muxer = Muxer(
            self.target, info=src.info, fps_out=self.fps_out,
            shift=origin, first_frame=frames * weave,
            side=src.info.side, preset=enc.preset,
            container_metadata={**tags, **self.tags}, warn=self.muxer_notes.append,
            interlace=None if tr.interlace_out == "off" else tr.interlace_out, timecode=tr.timecode_out,
            threads=self.thread_plan.encoder, overwrite=self.overwrite,
            audio_factor=self.slowmo if tr.audio == "stretch" else 1,
        )
        self.stretch = muxer.reencoded
        try:  # chapters, attachments, dispositions: header facts, so before the first frame
            self.extras = copy_extras(src, muxer, self.extras_lost.append, covers=self.target.attach,
                                      slowmo=self.slowmo)
            lost = self._losses(muxer) + [n for n in muxer.output.notes if "dropped" in n]
            refuse_losses(lost + self.extras_lost + self.reencoded, enc.strict)
        except BaseException:
            muxer.abort()
            raise
        return muxer

    def _losses(self, muxer: Muxer) -> list[str]:
        """Side data the output drops (captions are kept when the muxer writes them)."""
        kept = muxer.carries_captions and self.source.captions is not None
        return losses(self.source.info.side, muxer.output.codec, captions_kept=kept)

    def _accept(self, f: DecodedFrame, pic: Pic, cut: bool) -> None:
        self.frames_in += 1
        self.window[f.index] = pic
        self.last_duration = f.duration
        if self.last_duration is None and self.frames_in == 1 and self.source.info.rate:
            self.last_duration = 1 / self.source.info.rate  # a one-frame clip lasts one nominal frame
        self.pending.extend(self.scheduler.push(f.ts, cut, index=f.index))
        if self.protect is not None:  # --protect: model calls wait until its analysis window is seen
            self.protect.observe(f.index, pic.rgb)
            if not self.protect.ready:
                return
        if sum(j.kind == INTERP for j in self.pending) >= self.batch or len(self.pending) >= 4 * self.batch:
            self._flush()
        else:
            # keep only frames the pending jobs or the next pair can still use
            lo = min([j.a for j in self.pending] + [f.index])
            for k in [k for k in self.window if k < lo]:
                del self.window[k]

    def _flush(self) -> None:
        outs = self._made(self.pending)
        for j, o in zip(self.pending, outs, strict=True):
            self.kinds[j.kind] += 1
            self.stages.put(self.out_q, o)
        if self.pending:
            keep = self.pending[-1].a
            for k in [k for k in self.window if k < keep]:
                del self.window[k]
        self.pending.clear()

    def _made(self, jobs: list[Job]) -> list[Pic]:
        """The pictures of ``jobs``: source frames as decoded (t == 0 or 1), the others blended
        (:class:`PipelineBlend`) or made by the model from RGB, then ``--protect``'s fix."""
        new = [j for j in jobs if 0 < j.t < 1]
        if self.own_blend and self.protect is None:
            t0 = time.perf_counter()
            made = [blend(self.window[j.a], self.window[j.b], float(j.t)) for j in new]
            self.inference.model_s += time.perf_counter() - t0  # the blend is this run's model
        else:
            rgb = {k: self.window[k].rgb for j in new for k in (j.a, j.b)}
            outs = self.inference.run(new, rgb)
            if self.protect is not None:  # --protect: graphics regions replaced in the interpolated frames
                outs = self.protect.fix(new, rgb, outs)
            made = [Pic(rgb=o) for o in outs]
        it = iter(made)
        return [self.window[j.a] if j.t == 0 else self.window[j.b] if j.t == 1 else next(it) for j in jobs]

    # ------------------------------------------------------------------ encode thread
    def encode(self) -> None:
        self.thread_plan.enter_stage()
        c0 = time.thread_time()
        # one frame is held back so the last one can take the captions still due (times after it)
        held = None
        while True:
            item = self.stages.get(self.out_q)
            if held is not None:
                self._write(held, last=item is _END)
            if item is _END:
                break
            held = item
        self._drain_passthrough(None)
        for stretch in self.stretch.values():
            for out in stretch.finish():
                self.muxer.mux_encoded(out)
        self._check_intact()  # before finish(): that renames the temp file over OUT
        self.muxer.finish(check=self._verify)  # the temp file is read back before it becomes OUT
        self.stage_cpu["encode_cpu_s"] = time.thread_time() - c0

    def _verify(self, path: str) -> None:
        self.verify = check_conversion(self, path)

    def _write(self, pic: Pic, last: bool) -> None:
        pacer = self.source.captions
        cc = pacer.take(None if last else self.muxer.video_time() + self.caption_lead) if pacer is not None else b""
        nals = pacer.nals(cc, self.muxer.codec == "libx265") if cc else None
        if pic.planes is not None:  # as decoded (or blended in planes): the source's own codes
            self.muxer.write_planes(pic.planes, nals)
        else:
            self.muxer.write_frame(pic.rgb, nals)
        self.written += 1
        self._drain_passthrough(self.muxer.video_time())
        if self.on_progress is not None:
            self.on_progress(self.written)

    def _check_intact(self) -> None:
        """Refuse a "video" whose every frame the decoder flagged corrupt (e.g. random bytes a
        demuxer accepted). Runs after the last frame: the decode and main threads are done."""
        if self.source.corrupt_frames >= self.frames_in:
            raise NotAVideo(
                f"no intact video frame in {self.source.src_name}: all {self.frames_in} decoded frame(s) "
                "are flagged corrupt by the decoder (not a usable video)"
            )

    def _drain_passthrough(self, until: Fraction | None) -> None:
        """Mux the copied packets up to output time ``until`` (all of them when None)."""
        while self.passthrough:
            pkt = self.passthrough[0]
            if until is not None:
                pts = pkt.pts if pkt.pts is not None else pkt.dts
                if pts is not None and (Fraction(pts) * Fraction(pkt.time_base) - self.muxer.shift) * (
                        self.slowmo or 1) > until:
                    return
            self.passthrough.popleft()
            if pkt.stream.index in self.stretch:
                for out in self.stretch[pkt.stream.index].push(pkt):
                    self.muxer.mux_encoded(out)
                continue
            if self.slowmo is not None:
                retime_packet(pkt, self.muxer.shift, self.slowmo)  # subtitles follow the slowed video
            self.muxer.write_packet(pkt)

    # ------------------------------------------------------------------ the whole run
    def run(self) -> ConvertResult:
        self.caller_threads = torch.get_num_threads()  # restored at the end
        self.threads.append(self.stages.run("decode", self.decode))
        try:
            self.infer()
            for th in self.threads:
                th.join()
        except Stop:
            pass  # another stage failed: its error is raised below
        except BaseException as e:
            self.stages.fail(e)
            raise
        finally:
            for th in self.threads:
                th.join(timeout=30)
            torch.set_num_threads(self.caller_threads)
        if self.stages.errors:
            raise self.stages.errors[0]
        return self._result()

    def _caption_counts(self) -> dict | None:
        pacer = self.source.captions
        return None if pacer is None else {"in": pacer.triples_in, "out": pacer.triples_out}

    def abort(self) -> None:
        """Stop the stages and drop the output (nothing is written to OUT)."""
        self.stages.stop.set()
        if self.muxer is not None:
            self.muxer.abort()

    def _result(self) -> ConvertResult:
        k, src, mux = self.kinds, self.source, self.muxer
        self.temporal.notes.extend(src.notes)  # e.g. a size change scaled to the first size
        if self.protect is not None and self.protect.ready:  # --protect: what was kept from the model, said
            self.temporal.notes.append(self.protect.protection.describe())
        return ConvertResult(
            src="", dst=self.dst, frames_in=src.frames_decoded or self.frames_in,
            frames_out=mux.encoded, interpolated=k[INTERP],  # frames in the file (--interlace: 2 fields each)
            copied=k[COPY] + k[CUT] + k[NEAREST] + k[HOLD], scene_cuts=self.scene_cuts, seconds=0.0,
            fps_out=self.fps_out, fps_in=src.info.rate, cut_repeats=k[CUT], nearest=k[NEAREST], held=k[HOLD],
            model=self.interp.model_name, backend=self.interp.backend, precision=self.interp.precision,
            decoder=src.name,
            width=mux.width, height=mux.height, colour=mux.spec.describe(), streams_copied=len(mux.copy_map),
            packets_copied=mux.packets_copied, problems=list(src.problems), temporal=self.temporal.to_dict(),
            video={"source": mux.output.source, "output": mux.output.to_dict(),
                   "side_data": src.info.side.to_dict(), "caption_triples": self._caption_counts()},
            dropped=list(mux.output.notes) + self._losses(mux) + self.extras_lost + self.muxer_notes + self.reencoded
            + _overlap_loss(src.timestamps_overlapped),
            extras=dict(self.extras), output=self.target.to_dict(),
            timestamps_repaired=src.timestamps_repaired, timestamps=clock_repairs(src),
            model_s=self.inference.model_s, threads=self.thread_plan.describe(), stage_s=dict(self.stage_cpu),
            verify=self.verify.to_dict(),
        )


# ---------------------------------------------------------------------- convert
def convert(
    src,
    dst,
    options: ConvertOptions | None = None,
    *,
    interpolator=None,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[int | None], None] | None = None,
    overwrite: bool | None = True,
    tags: dict[str, str] | None = None,
) -> ConvertResult:
    """Convert ``src`` to ``dst`` at ``options.fps``. See the module docstring.

    ``interpolator``: an open :class:`filmrt.interpolator.Interpolator` to use (not closed here),
    or a :class:`~filmrt.pipeline.infer.PipelineBlend` (blend in planes; what ``--model blend``
    gets without one).
    ``on_start(expected)``: called once the input is open, with the number of output frames a
    constant-rate input gives (None when the input does not say).
    ``on_progress(n)``: called from the encoder thread with the number of output frames written.
    ``overwrite``: an existing ``dst`` is replaced (True, the library's default) or refused
    before anything is decoded (False/None: the CLI's rule without ``-y``, see
    :func:`filmrt.fileio.check_overwrite`).
    ``tags``: container tags to add to the output (``filmrt batch`` marks its outputs with them).
    Raises :class:`FilmrtError` for anything the user can fix; ``dst`` is never half-written.
    """
    options = options or ConvertOptions()
    src = os.fspath(src) if src != "-" else "-"
    dst = os.fspath(dst) if dst != "-" else "-"
    if src != "-" and dst != "-" and os.path.exists(dst) and os.path.exists(src) and os.path.samefile(src, dst):
        raise FilmrtError("OUT is the same file as IN: write to a new file")
    check_overwrite(dst, overwrite, "OUT")
    t0 = time.perf_counter()
    device = interpolator.device if interpolator is not None else resolve_device(options.runtime.device)
    thread_plan = plan_threads(device, options.runtime.threads)
    inp = open_input(src, input_fps=options.input_rate)  # once (stdin too): the decisions below read its headers, the decoder its packets
    source, interp, conv = None, interpolator, None
    try:
        fps_out = options.rate.resolve(inp.info.rate)
        check_output_rate(inp.info.rate, fps_out, parse_slowmo(options.slowmo))
        check_input_fits(inp, options.ss)
        timecode = source_timecode(inp)
        target = plan_target(dst, options.encode, inp.info, inp.streams, inp.stream.index,
                             audio=audio_policy(options), replace_timecode=timecode is not None,
                             rate=fps_out)
        seen = upright_info(inp.info, target.turn)  # the pictures as the encoder gets them
        check_encoder(target.video, options.encode.preset, seen.width, seen.height, fps_out, options.interlace)
        check_protect_fits(options.protect, seen.width, seen.height)
        t_open = time.perf_counter()
        if interp is None:
            interp = PipelineBlend.instead_of(options.runtime, device) or open_interpolator(options.runtime)
        if interp.light and not target.times_guessed:  # the model needs no cores: the encoder takes them
            thread_plan = thread_plan.codecs_take_the_cores()
        mode = choose_convert_mode(options, interp.model_name)
        t_analysis = time.perf_counter()
        with torch_threads(thread_plan.glue):  # the analysis' PyTorch work is glue, not the model
            temporal = plan_time(src, inp, options, interp.model_name, mode, fps_out, timecode, target)
        setup_parts = {"open_model_s": t_analysis - t_open, "analysis_s": time.perf_counter() - t_analysis}
        source = open_source(inp, decode_request(options, target, temporal, inp), decoder=options.decoder,
                             device=device, threads=thread_plan.decoder)
        conv = _Conversion(source, interp, options, mode, fps_out, target, on_progress, temporal, thread_plan)
        conv.tags = dict(tags or {})
        conv.overwrite = bool(overwrite)
        conv.src_path = None if src == "-" else src
        if on_start is not None:
            on_start(conv.expected)
        setup_s = time.perf_counter() - t0
        result = conv.run()
    except BaseException as e:
        if conv is not None:
            conv.abort()
        _close(source or inp, interp, interpolator)
        if isinstance(e, KeyboardInterrupt):
            raise
        err = _user_error(e)
        if err is e:
            raise
        raise err from None
    _close(source, interp, interpolator)
    result.src = src
    result.seconds = time.perf_counter() - t0
    result.stage_s.update(setup_s=setup_s, **setup_parts, model_s=result.model_s,
                          outside_model_s=result.seconds - result.model_s)
    return result


def _close(source: Source | PyAVInput, interp, given) -> None:
    """Close the source, and the interpolator unless the caller gave it (theirs to close)."""
    source.close()
    if interp is not None and interp is not given:
        interp.close()

"""What ``convert`` decides before the first frame is decoded, each decision an object handed on.

``convert`` opens the input once (:func:`~filmrt.pipeline.io.decode.open_input`: headers read,
nothing decoded) and decides, in order: the output (:class:`~filmrt.pipeline.io.target.OutputTarget`,
made by ``plan_target``), whether the input can give an output at all (:func:`check_input_fits`),
the source's timecode (:func:`source_timecode`), the temporal plan (:func:`plan_time`: interlace,
cadence, dedup, down-conversion, slow motion, the timecode at the output rate), the convert mode of
the model (:func:`choose_convert_mode`), and what the decoder is asked for (:func:`decode_request`,
handed to :func:`open_source`). Nothing here decodes a frame; every refusal is a one-line
:class:`~filmrt.errors.FilmrtError` before any work.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from filmrt.errors import FilmrtError
from filmrt.fileio import is_stream_target
from filmrt.models import get_spec
from filmrt.pipeline.infer import choose_mode
from filmrt.pipeline.io import dali
from filmrt.pipeline.io.captions import CAPTION_CODECS
from filmrt.pipeline.io.decode import PyAVInput, PyAVSource
from filmrt.pipeline.io.orient import turn_of
from filmrt.pipeline.io.source import DecodeRequest, Source
from filmrt.pipeline.io.target import DROPPED, REENCODED, REMUXED, OutputTarget
from filmrt.pipeline.options import ConvertOptions
from filmrt.pipeline.time.cadence.analysis import TemporalReport, parse_slowmo, plan
from filmrt.pipeline.time.protect import parse_protect
from filmrt.pipeline.time.timecode import (
    bitstream_timecode,
    convert_timecode,
    label_at,
    timecode_carrier,
    timecode_tag,
)


def open_source(inp: PyAVInput, request: DecodeRequest, *, decoder: str = "auto", device: torch.device,
                threads: int = 0) -> Source:
    """The decoder for the opened input ``inp``, given what convert asks of it (``request``): DALI
    when asked for (or ``auto`` with DALI + a CUDA device), else PyAV. Pictures to be turned upright
    (``request.upright`` and a display matrix) are decoded by PyAV, which turns them."""
    turned = request.upright is not None and turn_of(inp.info.display_matrix) is not None
    if decoder == "dali" and turned:
        raise FilmrtError(f"--decoder dali cannot turn the pictures upright, which {request.upright} needs (it has no "
                          "place for the source's display matrix): use --decoder pyav, or write .mp4/.mov/.mkv")
    want_dali = decoder == "dali" or (decoder == "auto" and device.type == "cuda" and inp.path is not None
                                      and not turned)
    if want_dali:
        ok, why = dali.available(device)
        if ok:
            return dali.DaliSource(inp, request, device=device)
        if decoder == "dali":
            raise FilmrtError(f"--decoder dali: {why}")
    return PyAVSource(inp, request, device=device, threads=threads)


#: muxers that start every stream at the first picture (MXF has no per-stream start offset)
COMMON_START = frozenset({"mxf", "mxf_d10", "mxf_opatom"})


def range_start(ss: float | None, inp: PyAVInput | None, target: OutputTarget) -> float | None:
    """``--ss`` as the decoder takes it: as given, except into a container that starts every stream
    together (:data:`COMMON_START`), where it moves to the first picture at or after it (a constant
    frame rate's grid from the video's first timestamp). There the sound copied from between the
    start point and the first picture would play under that picture: out of sync by up to a frame."""
    if not ss or inp is None or target.format not in COMMON_START or not inp.info.rate:
        return ss
    rate, tb, vs = Fraction(inp.info.rate), inp.info.time_base, inp.stream
    v0 = Fraction(vs.start_time) * tb if vs.start_time is not None else inp.start
    at = inp.start + Fraction(ss).limit_denominator(1_000_000)
    k = -((v0 - at) * rate // 1)  # ceil: the first picture at or after the start point
    first = v0 + max(k, 0) / rate
    return float(first - inp.start) if first > at else ss


def decode_request(options: ConvertOptions, target: OutputTarget, temporal: TemporalReport,
                   inp: PyAVInput | None = None) -> DecodeRequest:
    """What convert asks of the decoder: the range (:func:`range_start`), alpha and captions when the
    output keeps them, the field filter the temporal plan chose, the packets of the streams the
    output takes, and pictures turned upright where the output has no place for a display matrix."""
    wanted = frozenset(f.index for f in target.fates if f.kind in REMUXED and f.fate != DROPPED
                       and not (f.kind == "video" and f.fate == REENCODED))  # the converted video itself
    ss = range_start(options.ss, inp, target)
    if ss != options.ss:
        temporal.notes.append(f"{target.name} starts every stream together: --ss {options.ss:g} starts at the "
                              f"first picture after it, {ss:.6g} s (the copied sound from there)")
    return DecodeRequest(ss=ss, t=options.t, keep_alpha=target.video.layout.alpha,
                         captions=target.video.codec in CAPTION_CODECS, deinterlace=temporal.deinterlace,
                         field_parity=temporal.field_parity or "tff", streams=wanted,
                         caption_stretch=parse_slowmo(options.slowmo) or Fraction(1),
                         planes=not rgb_reasons(options, target, temporal),
                         upright=None if target.holds_matrix else target.name)


def rgb_reasons(options: ConvertOptions, target: OutputTarget, temporal: TemporalReport) -> list[str]:
    """Why every decoded frame must be RGB (empty: the decoder gives Y'CbCr planes, and only the
    frames a model reads are converted, :mod:`filmrt.pipeline.io.planes`): ``--protect`` finds and
    pastes graphics in RGB, dedup compares RGB pictures (:mod:`filmrt.pipeline.time.cadence.repeats`),
    and alpha travels as RGB's fourth channel. A size change (scaled to the first size by the
    decoder) and the output's own pixel format, depth or matrix need no RGB here: the decoder
    scales the frame itself, and the muxer converts planes that are not its own format through RGB
    (:meth:`~filmrt.pipeline.io.encode.Muxer.write_planes`)."""
    reasons = []
    if parse_protect(options.protect) != "off":
        reasons.append("--protect")
    if temporal.dedup == "on":
        reasons.append("dedup")
    if target.video.layout.alpha:
        reasons.append("alpha")
    return reasons


def check_input_fits(inp: PyAVInput, ss: float | None) -> None:
    """Refuse, before decoding, what cannot give an output: a picture under 2x2 (4:2:0 needs
    2x2 blocks) and a --ss at or past the end the headers announce."""
    info = inp.info
    if info.width < 2 or info.height < 2:
        raise FilmrtError(f"{inp.src_name}: picture too small to encode: {info.width}x{info.height} "
                          "(4:2:0 video needs at least 2x2)")
    end = inp.header_end
    start = inp.start + (Fraction(ss).limit_denominator(1_000_000) if ss else 0)
    if end is not None and start >= end:
        raise FilmrtError(f"--ss {float(start - info.start):g}: starts past the end of "
                          f"{inp.src_name} (its video lasts {float(end - info.start):.2f} s)")


def choose_convert_mode(options: ConvertOptions, model_name: str) -> str:
    """``--mode`` for this model: ``auto`` is the model's recommended mode. Recursive midpoints
    are for models trained at t = 1/2 only; a time-conditioned model (RIFE) is refused there."""
    spec = get_spec(model_name)
    mode = choose_mode(options.mode, spec)
    if mode == "recursive" and spec.time_conditioned:
        raise FilmrtError(
            f"--mode recursive is for models trained at t = 0.5 only (FILM); {spec.name} is "
            "time-conditioned and always runs direct"
        )
    return mode


def source_timecode(source: PyAVInput) -> str | None:
    """The source's start timecode, when it has one and a frame rate to count it at (the output
    then gets it re-expressed at its own rate, instead of a copy of the source's track): a tag,
    else the video bitstream's (MPEG-2 GOP header, H.264/HEVC SEI; a file that can be read twice)."""
    if not source.info.rate:
        return None
    tags = {**source.container_metadata, **source.info.metadata}
    tc = timecode_tag(tags, [s for s in source.copy_streams if s.type == "data"])
    if tc is None and source.path is not None and not is_stream_target(source.path):
        tc = bitstream_timecode(source.path, source.stream.index, source.info.rate)
    return tc


def plan_time(src, source: PyAVInput, options: ConvertOptions, model: str, mode: str,
               fps_out: Fraction, tc: str | None, target: OutputTarget | None = None) -> TemporalReport:
    """Interlacing/cadence/dedup/down/slow-motion decisions (pipeline.temporal) and the timecode
    (re-expressed at the output rate; not planned, and said, where ``target`` has no place for it)."""
    rep = plan(src, options, get_spec(model), mode, has_audio=any(s.type == "audio" for s in source.copy_streams))
    if tc:
        rep.timecode_in = tc
        frame_rate = fps_out / 2 if rep.interlace_out != "off" else fps_out  # interlaced: frames, not fields
        try:  # after --ss: the label of the first frame kept
            first = label_at(tc, source.info.rate, options.ss)
            rep.timecode_out = convert_timecode(first, source.info.rate, frame_rate)
        except FilmrtError as e:
            rep.notes.append(f"source timecode not carried: {e}")
    if rep.timecode_out and target is not None and timecode_carrier(target.format, target.video.codec) is None:
        rep.notes.append(f"source timecode {tc} not written: {target.name} with {target.video.codec} video has "
                         "no place for a timecode (.mov, .mp4, .mkv and .mxf keep it, and MPEG-2 video in any "
                         "container)")
        rep.timecode_out = None
    return rep

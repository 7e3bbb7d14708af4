"""The output decision, made once: :class:`OutputTarget`.

Everything about OUT that can be known before the first frame is decoded is decided here, by one
function (:func:`plan_target`), from three things: the destination, the user's
:class:`~filmrt.pipeline.options.EncodeOptions` and the opened source (its
:class:`~filmrt.pipeline.io.decode.VideoInfo` and its streams). The result is handed forward:

- the muxer (:class:`~filmrt.pipeline.io.encode.Muxer`) opens :attr:`OutputTarget.format` with
  :attr:`OutputTarget.options`, encodes with :attr:`OutputTarget.video` and copies
  :attr:`OutputTarget.copy` (and re-encodes :attr:`OutputTarget.recode`); it decides nothing about
  them again;
- convert's result stores :meth:`OutputTarget.to_dict` as ``"output"`` in its JSON report; the
  CLI summary, ``filmrt batch`` and the output verification read the same dict.

Every input stream has a :class:`StreamFate`: ``copied`` (remuxed as it is), ``reencoded`` (the
video; audio slowed with ``--slowmo --audio stretch``) or ``dropped``, always with the reason,
and the index it gets in the output where it goes in (:meth:`OutputTarget.output_index`).

Where the container has no place for the source's display matrix (MPEG-TS, MPEG-PS, AVI, MXF:
:mod:`filmrt.pipeline.io.orient`), :attr:`OutputTarget.turn` says how the pictures are turned
upright instead (the decoder does it, as ffmpeg's autorotate), and every size decision here (the
container's natural codec, which keeps only some aspects) is made for the turned picture.

Whether a container holds a codec is asked in one place, :func:`~filmrt.pipeline.io.streams.refusal`
(FFmpeg itself, on an in-memory header), for the video encoder and for each copied stream alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from filmrt.errors import FilmrtError
from filmrt.fileio import is_stream_target
from filmrt.pipeline.io.encode import check_output
from filmrt.pipeline.io.formats import OutputFormat, choose_format, closest_pix_fmt, output_for
from filmrt.pipeline.io.orient import Turn, holds_matrix, turn_note, turn_of, upright_info
from filmrt.pipeline.io.probe import is_chapter_track, is_cover
from filmrt.pipeline.io.streams import (
    ATTACHED_COVER,
    COVER_ART,
    HINTS,
    NATURAL_WHY,
    PS_FORMATS,
    audio_fallback,
    container_codec,
    container_name,
    muxer_options,
    output_format,
    parse_drop,
    refusal,
    stream_codec,
)
from filmrt.pipeline.time.audiostretch import stretch_codec
from filmrt.pipeline.time.timecode import is_timecode_track, timecode_carrier

#: the fates of an input stream
COPIED, REENCODED, DROPPED = "copied", "reencoded", "dropped"
#: stream types that are remuxed (the converted video is encoded; other video streams, e.g. a
#: second angle or cover art, are remuxed; attachments go with the container's header)
REMUXED = ("video", "audio", "subtitle", "data")
#: the reason of a cover art stream that becomes a Matroska attachment
AS_ATTACHMENT = "cover art, kept as an image attachment"


@dataclass(frozen=True)
class StreamFate:
    """What happens to one input stream, and why."""

    #: the input stream index
    index: int
    #: "video", "audio", "subtitle", "data", "attachment" ...
    kind: str
    #: the input stream's codec (FFmpeg's name; "?" when FFmpeg does not know it)
    codec: str
    #: COPIED, REENCODED or DROPPED
    fate: str
    reason: str = ""
    #: the stream's index in the output (None when dropped, or for attachments the muxer numbers)
    output_index: int | None = None
    #: the encoder of a re-encoded stream (the video's, or "aac" for audio the container cannot carry)
    encoder: str | None = None

    def describe(self) -> str:
        """``#INDEX TYPE CODEC`` as the messages name a stream."""
        return f"#{self.index} {self.kind} {self.codec}"

    def to_dict(self) -> dict:
        return {"index": self.index, "kind": self.kind, "codec": self.codec, "fate": self.fate,
                "reason": self.reason, "output_index": self.output_index, "encoder": self.encoder}


@dataclass(frozen=True)
class OutputTarget:
    """The output decision (see the module docstring); made by :func:`plan_target`."""

    #: OUT as given ("-" for stdout)
    path: str
    #: the muxer's name ("mp4", "matroska", "mpegts" ...; messages use :attr:`name`)
    format: str
    #: written as it comes (stdout, a FIFO, a device): cannot seek back, no temp file
    streamed: bool
    #: the muxer's options (fragmented MP4/MOV when streamed)
    options: dict
    #: the video encoding (encoder, pixel format, profile, rate control; ``notes`` = what it changes)
    video: OutputFormat
    #: every input stream's fate, in input order
    fates: tuple[StreamFate, ...]
    #: the PyAV input streams to remux, in output order (the muxer's templates)
    copy: tuple = field(default=(), compare=False, repr=False)
    #: the PyAV input audio streams to re-encode (``--audio stretch``, or a codec the container
    #: cannot carry readably); the muxer adds them among the remuxed ones, in input order
    recode: tuple = field(default=(), compare=False, repr=False)
    #: what the decision changed from what was asked (e.g. the container's natural encoder)
    notes: tuple[str, ...] = ()
    #: cover art streams written as attachments (Matroska), by :mod:`filmrt.pipeline.io.extras`
    attach: tuple = field(default=(), compare=False, repr=False)
    #: the turn the pictures get because the container has no place for the source's display
    #: matrix (:mod:`filmrt.pipeline.io.orient`; None: no matrix, or one the container keeps)
    turn: Turn | None = None

    @property
    def holds_matrix(self) -> bool:
        """Whether the container keeps a display matrix (else the decoder turns the pictures)."""
        return holds_matrix(self.format)

    @property
    def name(self) -> str:
        """What messages call the container (.vob: "vob", written by FFmpeg's svcd muxer)."""
        return container_name(self.format, self.path)

    @property
    def times_guessed(self) -> bool:
        """Whether readers guess the times of some pictures: H.264/HEVC in MPEG-PS, which stamps only
        the first picture of each PES packet (how the encoder packs them decides which are read
        right: the encoder keeps one thread there, :mod:`filmrt.pipeline.threads`)."""
        return self.format in PS_FORMATS and self.video.codec in ("libx264", "libx265")

    def of(self, fate: str) -> list[StreamFate]:
        return [f for f in self.fates if f.fate == fate]

    @property
    def copied(self) -> list[StreamFate]:
        return self.of(COPIED)

    @property
    def dropped(self) -> list[StreamFate]:
        return self.of(DROPPED)

    def output_index(self) -> dict[int, int]:
        """Input stream index -> output stream index, for every stream that goes into the output."""
        return {f.index: f.output_index for f in self.fates if f.output_index is not None}

    def to_dict(self) -> dict:
        """JSON form, stored as ``"output"`` in convert's report (batch and verification read it)."""
        return {"path": self.path, "container": self.format, "streamed": self.streamed,
                "muxer_options": dict(self.options), "encoder": self.video.codec, "video": self.video.to_dict(),
                "streams": [f.to_dict() for f in self.fates], "notes": list(self.notes)}


def dropped_streams(output: dict) -> list[str]:
    """``#INDEX TYPE CODEC: why`` of each input stream an :meth:`OutputTarget.to_dict` leaves out
    (what the CLI summary and batch say)."""
    return [f"#{f['index']} {f['kind']} {f['codec']}: {f['reason']}" for f in output.get("streams", ())
            if f["fate"] == DROPPED]


def fit_container(out: OutputFormat, fmt: str, crf: int = 18, options: dict | None = None,
                  name: str | None = None) -> OutputFormat:
    """``out`` if muxer ``fmt`` (e.g. "mp4") takes its encoder; else, for ``--codec auto``, libx264
    at the closest pixel format (said in the notes), and a one-line error for an explicit ``--codec``.
    ``name``: what messages call the container (:func:`container_name`; the muxer's name)."""
    options, name = options or {}, name or fmt
    if refusal(fmt, out.codec, options) is None:
        return out
    if not out.auto or refusal(fmt, "libx264", options) is not None:
        raise FilmrtError(f"--codec {out.codec}: the {name} container cannot hold it (ProRes, DNxHR, QuickTime "
                          "RLE: .mov; FFV1: .mkv; or pick another --codec)")
    pix = closest_pix_fmt("libx264", out.source_pix)
    fallback = choose_format("libx264", out.source_pix, codec="libx264", pix_fmt=pix, crf=crf)
    keep = [f".{ext}" for ext, muxer in (*SUGGESTED, ("mxf", "mxf")) if muxer != fmt and refusal(muxer, out.codec, {}) is None]
    notes = [f"{out.codec} cannot go into {name} as a readable stream: written as libx264 at "
             f"{fallback.layout.describe()} (the closest {name} holds"
             + (f"; {' or '.join(keep)} keeps {out.codec})" if keep else ")"),
             *[n for n in fallback.notes if " is written as " not in n]]
    return OutputFormat("libx264", pix, None, None, crf, out.source, notes, True, out.source_pix)


def plan_target(dst: str, enc, info, streams, video_index: int, *, audio: str = "copy",
                replace_timecode: bool = False, recode_audio: bool = True,
                rate: Fraction | None = None) -> OutputTarget:
    """The :class:`OutputTarget` for writing the source to ``dst`` with ``enc`` (EncodeOptions).

    ``info``: the source's VideoInfo; ``streams``: every PyAV input stream; ``video_index``: the one
    converted. ``audio``: what convert does with audio ("copy", "drop", "stretch": slowed and
    re-encoded; :func:`~filmrt.pipeline.time.cadence.analysis.plan`); ``replace_timecode``: a timecode
    track is written anew (the source's is not copied); ``recode_audio``: False where the caller
    cannot re-encode audio (``filmrt live``): audio the container cannot carry as it is is dropped,
    with the reason, instead; ``rate``: the output frame rate, where known (an encoder the
    container prefers is chosen only where it codes that rate and the picture's aspect). Raises a
    one-line FilmrtError for an OUT that cannot be written and for a stream the container refuses
    (``--drop-stream`` leaves it out)."""
    fmt = output_format(dst, enc.format)
    name = container_name(fmt, dst)
    streamed = dst == "-" or is_stream_target(dst)
    options = muxer_options(fmt, streamed)
    asked = enc
    # the pictures as OUT gets them: turned upright where the container has no place for the matrix
    turn = None if holds_matrix(fmt) else turn_of(info.display_matrix)
    info = upright_info(info, turn)
    enc = container_codec(enc, fmt, rate, info)
    video = fit_container(output_for(info, enc), fmt, enc.crf, options, name)
    check_output(dst, enc.format, video.codec)
    notes = [turn_note(turn, name)] if turn is not None else []
    if enc.codec != asked.codec and output_for(info, asked).codec != enc.codec:  # not the source's own family
        why = NATURAL_WHY.get(fmt)
        notes.append(f"{name} holds {enc.codec} video: --codec auto writes it" + (f" ({why})" if why else ""))
    fates = _fates(fmt, options, video, list(streams), video_index, enc.drop_stream, audio, replace_timecode, name,
                   recode_audio)
    by_index = {s.index: s for s in streams}
    copy = tuple(by_index[f.index] for f in fates
                 if f.fate == COPIED and f.kind in REMUXED and f.reason != AS_ATTACHMENT)
    attach = tuple(by_index[f.index] for f in fates if f.reason == AS_ATTACHMENT)
    recode = tuple(by_index[f.index] for f in fates if f.fate == REENCODED and f.kind == "audio")
    return OutputTarget(dst, fmt, streamed, options, video, tuple(fates), copy=copy, recode=recode,
                        notes=tuple(notes), attach=attach, turn=turn if turn is not None and turn.applicable else None)


def _fates(fmt: str, options: dict, video: OutputFormat, streams: list, video_index: int, drop: str | None,
           audio: str, replace_timecode: bool, name: str, recode_audio: bool = True) -> list[StreamFate]:
    """Each input stream's fate, in input order, with its output index (the muxer adds the video,
    then the remuxed and re-encoded audio streams in input order, as ``ffmpeg -map 0`` does, then
    attachments (Matroska)); ``name``: what messages call the container."""
    kinds, indices = parse_drop(drop)
    decided: dict[int, tuple] = {}
    refused = []
    for s in streams:
        kind = s.type
        if s.index == video_index:
            decided[s.index] = (REENCODED, f"encoded as {video.codec}", video.codec)
        elif kind == "video" and (kind in kinds or s.index in indices):
            decided[s.index] = (DROPPED, "left out (--drop-stream)")
        elif kind == "video":  # another picture (an angle, a thumbnail, cover art): kept, or said why not
            decided[s.index] = _other_video(fmt, options, video, s, name)
        elif kind == "attachment":
            decided[s.index] = ((COPIED, "kept in the header") if "matroska" in fmt else
                                (DROPPED, f"{name} cannot hold attachments (write .mkv to keep them)"))
        elif kind not in REMUXED:
            decided[s.index] = (DROPPED, f"{kind} streams are not copied")
        elif kind in kinds or s.index in indices:
            decided[s.index] = (DROPPED, "left out (--drop-stream)")
        elif kind == "audio" and audio == "drop":
            decided[s.index] = (DROPPED, "audio dropped (--audio drop, or --slowmo without --audio stretch)")
        elif kind == "audio" and audio == "stretch":
            enc = stretch_codec(fmt, 0)[0]
            decided[s.index] = (REENCODED, f"slowed with the video (--audio stretch): re-encoded as {enc}", enc)
        elif kind == "data" and is_timecode_track(s):  # never copied: its label is at the source's rate
            decided[s.index] = (DROPPED, _timecode_reason(fmt, video.codec, replace_timecode, name))
        elif is_chapter_track(s):  # its text is the chapter list, which travels as chapters (extras)
            decided[s.index] = (DROPPED, "QuickTime chapter track: its chapters are carried as the container's "
                                         "chapter list, not as a stream")
        else:
            why = refusal(fmt, video.codec, options, s)
            if why is None:
                decided[s.index] = (COPIED, "remuxed" + _reader_caveat(fmt, s))
            elif kind == "audio" and (fallback := audio_fallback(fmt, why)):
                enc, note = fallback  # e.g. PCM/FLAC in MPEG-TS: re-encoded, said with the reason
                decided[s.index] = (REENCODED, note, enc) if recode_audio else (
                    DROPPED, f"dropped: {name} cannot carry it as it is ({why}) and a live run passes "
                             "audio through without re-encoding it (convert the file with `filmrt convert`)")
            else:
                hint = HINTS.get((fmt, kind))
                refused.append(f"#{s.index} {kind} {stream_codec(s)} ({hint + '; FFmpeg: ' + why if hint else why})")
    if refused:
        holders = _holders(fmt, [s for s in streams if any(r.startswith(f"#{s.index} ") for r in refused)])
        raise FilmrtError(
            f"the {name} container cannot hold stream {'; '.join(refused)}: pass --drop-stream "
            f"{','.join(r.split()[0][1:] for r in refused)} to leave it out"
            + (f", or write {' or '.join(holders)} (which hold{'s' if len(holders) == 1 else ''} it)" if holders else "")
        )
    # output indices, in the order the muxer adds the streams
    order = ([s for s in streams if s.index == video_index]
             + [s for s in streams if (s.type in REMUXED and decided[s.index][0] == COPIED
                                       and decided[s.index][1] != AS_ATTACHMENT)
                or (s.type == "audio" and decided[s.index][0] == REENCODED)]
             + [s for s in streams if s.type == "attachment" and decided[s.index][0] == COPIED]
             + [s for s in streams if decided[s.index][1] == AS_ATTACHMENT])
    out_index = {s.index: i for i, s in enumerate(order)}
    return [StreamFate(s.index, s.type, stream_codec(s), *decided[s.index][:2], out_index.get(s.index),
                       *decided[s.index][2:]) for s in streams]


#: the containers a refusal may suggest instead (extension, muxer), in order of preference
SUGGESTED = (("mkv", "matroska"), ("mov", "mov"), ("mp4", "mp4"), ("ts", "mpegts"))


def _holders(fmt: str, streams: list) -> list[str]:
    """The extensions of :data:`SUGGESTED` containers other than ``fmt`` that hold every one of
    ``streams`` (asked as any copied stream is: :func:`refusal`), for the refusal's advice."""
    return [f".{ext}" for ext, muxer in SUGGESTED
            if muxer != fmt and all(refusal(muxer, "libx264", {}, s) is None for s in streams)]


def _reader_caveat(fmt: str, s) -> str:
    """What a copied stream's readers should know: PCM deeper than 16 bits in MP4 is written as ISO
    23003-5 ``ipcm``/``fpcm``, which FFmpeg before 7.0 (and players built on it) read as 16-bit."""
    codec = stream_codec(s)
    if fmt == "mp4" and codec.startswith("pcm_") and not codec.startswith(("pcm_s16", "pcm_u8", "pcm_s8")):
        return f" (ISO 23003-5 PCM: FFmpeg < 7 reads {codec} in MP4 as 16-bit; .mov holds it for every reader)"
    return ""


def _timecode_reason(fmt: str, encoder: str, replaced: bool, name: str) -> str:
    """Why a timecode track is not copied (it never is: its label counts at the source's rate)."""
    if not replaced:
        return "timecode track: its label could not be read, not copied"
    if timecode_carrier(fmt, encoder) is None:
        return (f"timecode track: not written, {name} with {encoder} video has no place for a timecode (.mov, .mp4, "
                ".mkv, .mxf keep it)")
    return "timecode track: replaced by the timecode re-expressed at the output rate"


def _other_video(fmt: str, options: dict, video: OutputFormat, s, name: str) -> tuple[str, str]:
    """The fate of a video stream that is not the one converted: copied where the container holds
    it readably (cover art: MP4 as a stream, Matroska as an attachment), else left out, said."""
    if is_cover(s) and fmt in ATTACHED_COVER:
        return COPIED, AS_ATTACHMENT
    if is_cover(s) and fmt not in COVER_ART:
        return DROPPED, f"cover art, left out: {name} keeps no cover art (.mp4 and .mkv do)"
    why = refusal(fmt, video.codec, options, s)
    what = "cover art" if is_cover(s) else "another video stream"
    return (COPIED, f"{what}, remuxed") if why is None else (DROPPED, f"{what}, left out: {why}")

"""What a container can hold, and the facts about OUT the output decision is made from.

The decision itself (encoder, every stream's fate) is :func:`filmrt.pipeline.io.target.plan_target`;
this module answers its questions.

**By trying, not by lists.** PyAV's ``supported_codecs`` of a muxer is not a usable answer: for
MPEG-TS, M2TS and MXF it lists almost nothing (not even H.264 for MPEG-TS), although FFmpeg muxes
AAC, AC-3, E-AC-3 and MP2 into TS and 24-bit PCM into MXF. So :func:`refusal` asks FFmpeg
itself: it opens the chosen muxer on an in-memory buffer, adds the video stream and the stream to
copy with their real parameters, and writes the header, with the same muxer options the real
output uses (fragmented MP4 on a pipe). What FFmpeg accepts goes in; what it refuses is reported
with FFmpeg's own reason. One function answers for the video encoder and for copied streams
alike. Answers are cached per (format, encoder, muxer options, stream parameters).

**Video encoder.** ``--codec`` (default: the source's family) when the container takes it. A
container whose natural video codec is not H.264 (WebM) gets that codec for ``--codec auto``
(libvpx-vp9, when this PyAV has it). Audio-only and image formats (``.wav``, ``.mp3``, ``.png``,
``.gif``...) and segmenting muxers (HLS ``.m3u8``, DASH ``.mpd``: a playlist plus segment files)
are refused with one line.

**Held means readable.** MPEG-TS takes any codec, but one it has no stream_type for is written as
private data (stream_type 0x06) that no player or decoder reads: ProRes, DNxHR, FFV1, PNG video,
PCM and FLAC audio, SubRip. For such muxers (:data:`READ_BACK`) a stream counts as held only when
one muxed packet reads back as the same codec. MPEG-PS (``.mpg``, ``.vob``) cannot be asked
that way (its demuxer guesses codecs from content): what it reads back is listed
(:data:`PS_READABLE`). Video the container cannot carry readably gets the closest encoder it does
(:func:`filmrt.pipeline.io.target.fit_container`, said in the notes); audio is re-encoded
(:data:`AUDIO_FALLBACK`, said with the reason); anything else is refused as below.

**AVI times audio by its header alone** (one chunk per frame of one length, or blocks of bytes).
A copied stream is declared the way FFmpeg's own encoders declare it (:func:`add_copy`; ADPCM
with the block length of the source's own index), and the
probe reads the header it wrote (:func:`_avi_timing`): audio whose frames have no one length the
header can say (E-AC-3, DTS, FLAC, Vorbis) is re-encoded as AAC, said with the reason.

**Other video streams** (a second angle, a thumbnail track, cover art) are copied as they are
where the container holds them (cover art: MP4 as a stream, :data:`COVER_ART`; Matroska as an
attachment, :data:`ATTACHED_COVER`); where it does not they are left out with the reason (a note,
and in the JSON report), never silently. The converted stream is the programme
(:func:`filmrt.pipeline.io.probe.main_video`), not simply the first video stream.

**A stream that cannot go in** is an error (exit 2) naming the stream and the reason, unless the
user asked to leave it out: ``--drop-stream SPEC`` (comma-separated ``a`` audio, ``s``
subtitles, ``d`` data, or an input stream index; ffmpeg's ``-an``/``-sn``/``-dn`` and ``-map
-0:N``). Dropped streams are listed, with the reason, in the
:class:`~filmrt.pipeline.io.target.OutputTarget` (and so in convert's and batch's reports).
"""

from __future__ import annotations

import dataclasses
import io
import re
import struct
from fractions import Fraction
from pathlib import Path

import av
import av.logging

from filmrt.errors import FilmrtError
from filmrt.pipeline.io.probe import codec_name as stream_codec
from filmrt.pipeline.io.probe import is_chapter_track, is_cover

#: --drop-stream letters -> stream types
DROP_KINDS = {"a": "audio", "s": "subtitle", "d": "data"}
#: the encoder ``--codec auto`` gives a container that cannot hold the source's family (WebM: VP9)
#: or cannot hold it reliably: MPEG-PS stamps only the first picture of each PES packet, which an
#: MPEG-2 reader places by its own picture headers and an H.264/HEVC reader guesses (small pictures,
#: several to a packet, read back on a neighbour's time: 5 of 32 H.264 conversions of test patterns
#: into .mpg/.vob, refused by the verification); DVD and broadcast program streams are MPEG-2
PS_MPEG2 = ("mpeg", "vob", "dvd", "svcd")
NATURAL_CODEC = {"webm": "libvpx-vp9", "ogg": "libtheora", **dict.fromkeys(PS_MPEG2, "mpeg2video")}
#: why, where the container would take the source's family but not reliably (said with the choice)
NATURAL_WHY = dict.fromkeys(PS_MPEG2, "H.264/HEVC pictures in MPEG-PS read back on a neighbour's time when "
                                      "several share a packet; --codec libx264 keeps H.264")
#: encoders probed as the software encoder of the same bitstream
PROBE_AS = {"h264_nvenc": "libx264", "hevc_nvenc": "libx265"}
#: encoders that need more than 64x64 yuv420p to open for the probe: (size, private options)
PROBE_SETTINGS = {"dnxhd": (256, {"profile": "dnxhr_lb"}), "libx265": (64, {"x265-params": "log-level=error"})}
#: muxers that hold no video (or only cover art) and image muxers: refused as OUT, one line
AUDIO_FORMATS = {"wav", "mp3", "flac", "opus", "adts", "ac3", "eac3", "mp2", "w64", "aiff", "oga"}
IMAGE_FORMATS = {"image2", "image2pipe", "gif", "apng", "webp", "png_pipe", "mjpeg"}
#: muxers that write many files (a playlist or manifest and its segments) or other muxers: refused
#: as OUT. They write their segments under their own names beside OUT, which the temp-file-and-rename
#: of a single OUT cannot cover (junk files, a playlist naming the temp file, crashes): make a
#: .ts/.mp4 and segment it with a packager
SEGMENT_FORMATS = {"hls", "dash", "segment", "ssegment", "stream_segment", "smoothstreaming", "hds", "tee",
                   "fifo"}
#: fragmented MP4/MOV for outputs that cannot seek back (stdout, FIFOs); delay_moov lets the moov
#: wait for the first packets, which AC-3/E-AC-3 need
#: what FFmpeg's refusal means, where its own message is cryptic: (muxer, stream type) -> why
HINTS = {("mxf", "audio"): "MXF holds PCM audio only"}
#: muxers that take any codec but write one they have no mapping for as a stream nobody can read
#: (MPEG-TS: stream_type 0x06, private data, no descriptor): what they take counts as held only
#: when it reads back as the same kind of stream with a decoder (:func:`_read_back`)
READ_BACK = {"mpegts"}
#: MPEG-PS (.mpg, .vob): its muxer takes any video or subtitle codec but stamps them with MPEG-video and
#: DVD-subtitle stream ids, and its demuxer guesses codecs from packet content (so a one-packet
#: read-back cannot tell): what reads back as written (ProRes came back as "MP3 audio", SubRip as DVD
#: subtitles). Its audio codecs the muxer checks itself.
PS_FORMATS = {"mpeg", "vob", "dvd", "svcd", "vcd"}
PS_READABLE = {"video": {"mpeg1video", "mpeg2video", "h264", "hevc"}, "subtitle": {"dvd_subtitle"}}
#: audio a READ_BACK muxer cannot carry readably is re-encoded to this codec (said, with why)
AUDIO_FALLBACK = {"mpegts": "aac", "avi": "aac"}
#: why that codec: (muxer) -> the reason printed with the note
AUDIO_FALLBACK_WHY = {"mpegts": "MPEG-TS carries PCM only as SMPTE 302M, which this FFmpeg cannot encode, and "
                                "FLAC not at all; AAC keeps every sample rate and channel layout (lossy: write "
                                ".mkv, .mov or .mxf to keep it lossless)",
                      "avi": "{why}; AAC's frames have one length (write .mkv to keep it as it is)"}
#: what a refusal says when the container takes the codec but not readably (the fallback's case)
_UNREADABLE = ("no decoder reads", "AVI would")
#: muxers that write cover art as a stream (an attached picture): FFmpeg's mov muxer does in MP4/iPod
#: mode only (the iTunes ``covr`` atom) and drops it from .mov without a word
COVER_ART = {"mp4", "ipod"}
#: muxers that keep cover art as an attachment (an image MIME type: read back as a cover again)
ATTACHED_COVER = {"matroska", "webm"}
#: an annex-B access unit delimiter: the TS muxer wants a start code in H.264/HEVC packets
_AUD = b"\0\0\0\1\x09\xf0"
#: containers that store no presentation time (AVI indexes frames; elementary streams have none),
#: by muxer and demuxer name: a picture's time read back is its decode position plus the decoder's
#: reorder delay, so B-frames there start the video late by that delay (in frames of the stream's
#: own rate). Video is encoded there without B-frames (encode.py), and a source's start there is
#: that delay, not a time to carry over (verify_checks.py)
NO_TIMES = frozenset({"avi", "h264", "hevc", "mpeg2video", "mpeg1video", "mpegvideo", "m4v", "cavsvideo", "vc1"})
#: AVI stores no audio times: its header says how long a chunk lasts (strh scale/rate) and whether
#: a chunk is one frame (sample size 0) or a run of blocks of that many bytes. FFmpeg writes the
#: WAVE header's block align of these codecs itself (a bound on a frame's bytes: AC-3 3840) and
#: reads it back as their block size; copied as it is, the AVI muxer then indexes the audio in
#: blocks of that many bytes (AC-3 copied from an AVI: 63 frames read back as 0.22 s). FFmpeg's
#: encoders leave it 0 (one chunk per frame): a copy is declared the same way (ffmpeg -c copy
#: does it for AC-3 and MP3, not AAC)
OWN_BLOCK_ALIGN = frozenset({"mp1", "mp2", "mp3", "ac3", "aac"})
#: the frame length FFmpeg knows a codec by where the stream's parameters hold none (the probe
#: decodes no AC-3); a codec with neither (E-AC-3: 256 to 1536 samples, DTS, FLAC, Vorbis) cannot
#: be indexed one chunk per frame
FIXED_FRAME = {"ac3": 1536}
#: channel counts without an order (PCM from Matroska), read the only way they can be
_UNORDERED = {"1 channels": "mono", "2 channels": "stereo"}
STREAMED_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof+delay_moov"
MOV_FORMATS = ("mp4", "mov", "ipod", "ismv", "3gp")


def parse_drop(spec: str | None) -> tuple[frozenset[str], frozenset[int]]:
    """``--drop-stream`` -> (stream types, input stream indices); one-line error when malformed."""
    kinds: set[str] = set()
    indices: set[int] = set()
    for tok in (spec or "").replace(" ", "").split(","):
        if not tok:
            continue
        if tok in DROP_KINDS:
            kinds.add(DROP_KINDS[tok])
        elif tok.isdigit():
            indices.add(int(tok))
        else:
            raise FilmrtError(f"--drop-stream {spec}: use a (audio), s (subtitles), d (data) or a stream index, "
                              "comma-separated (e.g. a,s or 2)")
    return frozenset(kinds), frozenset(indices)


def muxer_options(fmt_name: str, streamed: bool) -> dict:
    """Muxer options of the output: streamed MP4/MOV is fragmented."""
    return {"movflags": STREAMED_MOVFLAGS} if streamed and fmt_name in MOV_FORMATS else {}


#: muxers FFmpeg picks for OUT's extension although they are named after another format: .vob gets
#: the SVCD muxer (its extensions hold vob, and it comes before the VOB muxer; ffmpeg's own pick
#: too). Messages call the container what OUT's extension calls it
NAMED_BY_EXTENSION = {"svcd": "vob"}


def container_name(fmt: str, dst: str) -> str:
    """What messages call the container muxer ``fmt`` writes to ``dst``: the muxer's name, or
    OUT's extension where the muxer is named after another format (:data:`NAMED_BY_EXTENSION`)."""
    ext = Path(dst).suffix.lstrip(".").lower()
    return ext if NAMED_BY_EXTENSION.get(fmt) == ext else fmt


def output_format(dst: str, fmt: str | None) -> str:
    """The muxer FFmpeg picks for OUT (its name, e.g. ``mpegts`` for ``.m2ts``)."""
    buf = io.BytesIO()
    buf.name = "out" + (Path(dst).suffix if dst != "-" else "")
    try:
        c = av.open(buf, "w", format=fmt)
    except ValueError:
        raise FilmrtError(f"--format {fmt}: not a container FFmpeg can write" if fmt else
                          f"{dst}: FFmpeg knows no container for {Path(dst).suffix!r}: pass --format") from None
    name = c.format.name
    c.close()
    return name


def describe(s) -> str:
    """``#INDEX TYPE CODEC`` of a PyAV stream, as the messages name it."""
    what = " (cover art)" if is_cover(s) else (" (chapter track)" if is_chapter_track(s) else "")
    return f"#{s.index} {s.type} {stream_codec(s)}{what}"


_CACHE: dict[tuple, str | None] = {}


def _stream_key(s) -> tuple:
    cc = s.codec_context
    if cc is None:
        return (s.type, None)
    return (s.type, cc.name, getattr(cc, "sample_rate", None), getattr(cc, "channels", None),
            str(getattr(cc, "format", None)), getattr(cc, "frame_size", None), _indexed_frame(s))


def audio_fallback(fmt: str, why: str) -> tuple[str, str] | None:
    """(encoder, note) for audio that muxer ``fmt`` refused for ``why``, where re-encoding it makes
    it readable (:data:`AUDIO_FALLBACK`); None where the refusal stands."""
    if fmt not in AUDIO_FALLBACK or not any(u in why for u in _UNREADABLE):
        return None
    enc = AUDIO_FALLBACK[fmt]
    return enc, f"re-encoded as {enc}: {AUDIO_FALLBACK_WHY[fmt].format(why=why)}"


def add_copy(container, s):
    """THE way a stream to copy is added to an output ``container``: ``s`` as the template,
    declared the way the muxer must see it (AVI: :data:`OWN_BLOCK_ALIGN`)."""
    o = container.add_stream_from_template(s)
    if s.type == "audio" and o.codec_context.layout.name in _UNORDERED:
        # PCM from Matroska has a count, no order; MP4's lpcm needs one: the only reading of 1 or 2
        o.codec_context.layout = _UNORDERED[o.codec_context.layout.name]
    params = _avi_params(s) if container.format.name == "avi" and s.type == "audio" else {}
    if params:
        # PyAV 18 has no setter for block_align or frame_size; they are options of the codec
        # context, applied when it opens (the source's decoder: nothing is decoded through it)
        o.codec_context.options = params
        o.codec_context.open()
    return o


def _avi_params(s) -> dict:
    """The codec parameters audio ``s`` is declared with in AVI, where its own say otherwise: block
    align 0 for :data:`OWN_BLOCK_ALIGN`; the frame length of ADPCM blocks, which FFmpeg knows only
    for its encoder's packets (the muxer then took the declared bit rate for the blocks' length:
    packets a third as long as the index said, refused as 'Invalid argument' mid-run), from the
    source's own AVI index (its chunk length)."""
    codec = _codec_id(stream_codec(s))
    if codec in OWN_BLOCK_ALIGN:
        return {"block_align": "0"}
    frame = _indexed_frame(s)
    if codec.startswith("adpcm_") and not s.codec_context.frame_size and frame:
        return {"frame_size": str(frame)}
    return {}


def _indexed_frame(s) -> int:
    """The samples of one chunk of audio ``s`` as its AVI source indexes it (0: not an AVI source,
    or not a whole number of samples)."""
    if s.type != "audio" or s.codec_context is None:
        return 0
    n = Fraction(s.time_base or 0) * (s.codec_context.sample_rate or 0)
    return int(n) if "avi" in s.container.format.name.split(",") and n.denominator == 1 and n > 1 else 0


def _avi_timing(header: bytes, s) -> str | None:
    """None if the AVI ``header`` (of a probe with copied audio ``s``) times that audio right;
    else why not. One chunk per frame needs the codec's one frame length; blocks of bytes need a
    constant bit rate, which compressed lossless audio (FLAC) has not."""
    at = header.find(b"strh")
    while at >= 0 and header[at + 8:at + 12] != b"auds":
        at = header.find(b"strh", at + 4)
    if at < 0 or s.type != "audio":
        return None
    scale, rate = struct.unpack_from("<II", header, at + 28)
    block = struct.unpack_from("<I", header, at + 52)[0]
    cc = s.codec_context
    codec = _codec_id(stream_codec(s))
    if block:
        lossless = cc.codec.properties & 6 == 4  # lossless, not lossy: a variable bit rate
        if lossless and not cuttable(s):
            return f"AVI would index its {codec} by bytes, and its bit rate varies"
        if codec.startswith("adpcm_") and not (cc.frame_size or _indexed_frame(s)):
            return f"AVI would time {codec} blocks by its declared bit rate: their length is not known"
        return None
    frame = cc.frame_size or FIXED_FRAME.get(codec, 0)
    if frame and rate and Fraction(scale, rate) == Fraction(frame, cc.sample_rate or 1):
        return None
    return f"AVI would time {codec} by one frame length in its header, and {codec} frames have none"


def refusal(fmt: str, codec: str, options: dict, stream=None) -> str | None:
    """THE answer to "can this container hold this codec": None if muxer ``fmt`` (with the muxer
    ``options`` of the real output) takes a ``codec`` video stream, and ``stream`` copied beside it,
    else FFmpeg's reason why not. A hardware encoder is asked about as its software twin (same
    bitstream; the probe must not need the GPU, whose encoder check_codec and the first frame
    judge); an encoder that cannot open at the probe's 64x64 gets a size and profile it opens at."""
    codec = PROBE_AS.get(codec, codec)
    key = (fmt, codec, tuple(sorted(options.items())), None if stream is None else _stream_key(stream))
    if key in _CACHE:
        return _CACHE[key]
    buf = io.BytesIO()
    c = av.open(buf, "w", format=fmt, options=dict(options))
    old = av.logging.get_level()
    why = None
    try:
        av.logging.set_level(av.logging.ERROR)
        with av.logging.Capture() as logs:
            try:
                v = c.add_stream(codec, rate=Fraction(25))
                fmts = [f.name for f in (v.codec_context.codec.video_formats or [])]
                size, private = PROBE_SETTINGS.get(codec, (64, {}))
                v.width, v.height = size, size
                v.pix_fmt = "yuv420p" if not fmts or "yuv420p" in fmts else fmts[0]
                v.codec_context.options = dict(private)
                if stream is not None:
                    add_copy(c, stream)
                c.start_encoding()
            except (ValueError, av.error.FFmpegError) as e:
                why = _reason(e, logs)
    finally:
        av.logging.set_level(old)
        try:
            c.close()
        except Exception:  # noqa: BLE001 - a header-only file may fail its trailer: not the question
            pass
    if why is None and fmt == "avi" and stream is not None:
        why = _avi_timing(buf.getvalue(), stream)
    if why is None and fmt in READ_BACK:
        why = _read_back(fmt, codec, options, stream)
    if why is None and fmt in PS_FORMATS:
        why = _ps_readable(fmt, codec, stream)
    _CACHE[key] = why
    return why


def _read_back(fmt: str, codec: str, options: dict, stream=None) -> str | None:
    """None if a ``codec`` video stream (and ``stream``, copied) muxed into ``fmt`` reads back as a
    video (and a ``stream.type``) stream with a decoder; else why not. One packet is muxed (the
    muxer writes its tables, e.g. the TS PMT, before the first packet); no encoder is opened."""
    name = av.codec.Codec(codec, "w").canonical_name
    buf = io.BytesIO()
    try:
        c = av.open(buf, "w", format=fmt, options=dict(options))
        try:
            v = c.add_mux_stream(name, rate=Fraction(25), width=64, height=64)
            v.time_base = Fraction(1, 90000)
            if stream is not None:
                add_copy(c, stream)
            c.start_encoding()
            pkt = av.Packet(_AUD + bytes(32))
            pkt.pts = pkt.dts = 0
            pkt.time_base, pkt.stream = Fraction(1, 90000), v
            c.mux(pkt)
        finally:
            c.close()
        with av.open(io.BytesIO(buf.getvalue()), "r", format=fmt) as r:
            got = [(s.type, _canonical(s)) for s in r.streams]
    except (ValueError, av.error.FFmpegError) as e:
        return f"cannot be read back from {fmt} ({(getattr(e, 'strerror', None) or str(e)).splitlines()[0]})"
    if not got or got[0][0] != "video" or not same_codec(name, got[0][1]):
        return f"{fmt} would carry {name} video as private data that no decoder reads"
    if stream is not None and (len(got) < 2 or got[1][0] != stream.type or not same_codec(_canonical(stream),
                                                                                         got[1][1])):
        return f"{fmt} would carry it as private data that no decoder reads"
    return None


def _canonical(s) -> str | None:
    cc = s.codec_context
    return cc.codec.canonical_name if cc is not None else None


def _codec_id(name: str | None) -> str | None:
    """A codec's own name for a decoder's or encoder's (``mp3float`` -> ``mp3``), else the name as given."""
    if name is None:
        return None
    for mode in ("r", "w"):
        try:
            return av.codec.Codec(name, mode).canonical_name
        except Exception:  # noqa: BLE001 - not a codec FFmpeg knows by that name in this mode
            continue
    return name


def same_codec(written: str | None, read: str | None) -> bool:
    """The codec read back is the one written: the same codec whatever decoder reads it (``mp3float``
    is MP3), and MPEG audio layers 1-3 alike (one decoder family, one MPEG-TS stream type, and one
    MP4 object type: MP2 copied into MP4 is read back as MP3)."""
    written, read = _codec_id(written), _codec_id(read)
    return written == read or {written, read} <= {"mp1", "mp2", "mp3"}


def _ps_readable(fmt: str, codec: str, stream=None) -> str | None:
    """None if MPEG-PS reads ``codec`` video (and ``stream``) back as written (:data:`PS_READABLE`)."""
    name = av.codec.Codec(codec, "w").canonical_name
    if name not in PS_READABLE["video"]:
        return f"it would carry {name} video under an MPEG-video stream id that no decoder reads as {name}"
    if stream is not None and stream.type in PS_READABLE and _canonical(stream) not in PS_READABLE[stream.type]:
        return f"it would carry it under a DVD-{stream.type} stream id, read back as another codec"
    return None


def _reason(e: BaseException, logs) -> str:
    """FFmpeg's own first error line, else the exception's."""
    for _level, _name, msg in logs:
        msg = str(msg).strip()
        if msg:
            return msg.split(". ")[0].rstrip(".: ")
    return (getattr(e, "strerror", None) or str(e)).splitlines()[0]


def check_video_container(fmt: str) -> None:
    """A one-line refusal of muxers that are not one video file: audio-only, image, segmenting."""
    if fmt in AUDIO_FORMATS:
        raise FilmrtError(f"{fmt} is an audio-only format: write a video container (.mp4, .mkv, .mov, .ts)")
    if fmt in IMAGE_FORMATS:
        raise FilmrtError(f"{fmt} is an image format: write a video container (.mp4, .mkv, .mov, .ts)")
    if fmt in SEGMENT_FORMATS:
        raise FilmrtError(f"{fmt} output (a playlist/manifest with segment files) is not supported: write one "
                          ".ts or .mp4 and segment it with a packager (e.g. ffmpeg -f hls / -f dash)")


def container_codec(enc, fmt: str, rate: Fraction | None = None, info=None):
    """``enc`` (EncodeOptions) with the container's natural codec for ``--codec auto`` where the
    container holds only its own family (WebM: VP9) or holds it reliably (MPEG-PS: MPEG-2, where
    MPEG-2 codes the output ``rate`` and the picture's aspect, ``info`` being the source's
    VideoInfo; else the source's family stays, as in any container); checks first that ``fmt``
    holds video at all."""
    check_video_container(fmt)
    natural = NATURAL_CODEC.get(fmt)
    if enc.codec != "auto" or natural is None:
        return enc
    preferred = fmt in NATURAL_WHY  # the source's family would do there, less reliably: a preference
    try:
        av.codec.Codec(natural, "w")
    except Exception:  # noqa: BLE001 - not in this PyAV build
        if preferred:
            return enc
        raise FilmrtError(f"{fmt} needs {natural} video, which this PyAV build lacks: "
                          "write .mp4, .mkv, .mov or .ts") from None
    if preferred and not _holds(natural, rate, info):
        return enc
    return dataclasses.replace(enc, codec=natural)


def _holds(codec: str, rate: Fraction | None, info) -> bool:
    """Whether ``codec`` codes the output ``rate`` and (MPEG-2) the source picture's aspect; an
    unknown one passes."""
    if rate is not None and not codes_rate(codec, rate):
        return False
    return codec != "mpeg2video" or info is None or mpeg2_keeps_sar(info.width, info.height, info.sar)


#: MPEG-2's display aspect ratios besides square pixels (its aspect_ratio_information 2 to 4)
MPEG2_DAR = (Fraction(4, 3), Fraction(16, 9), Fraction(221, 100))


def mpeg2_keeps_sar(width: int, height: int, sar: Fraction | None) -> bool:
    """Whether MPEG-2 carries a picture's sample aspect ratio exactly: square pixels (or none
    said), or a picture (even-sized, as MPEG-2 codes it) shown at 4:3, 16:9 or 2.21:1. It stores no
    other: the encoder rounds to the nearest (718x405 at 8100:6103 read back as 22321:17950)."""
    if not sar or sar == 1:
        return True
    return Fraction(width - width % 2) * Fraction(sar) / (height - height % 2) in MPEG2_DAR


def codes_rate(codec: str, rate: Fraction) -> bool:
    """Whether encoder ``codec`` opens at frame rate ``rate`` (MPEG-2 codes only its eight rates,
    23.976 to 60, times n/d with n <= 4 and d <= 32: 144 fps is not one), asked of the encoder."""
    cc = av.CodecContext.create(codec, "w")
    cc.width, cc.height, cc.pix_fmt = 64, 64, "yuv420p"
    cc.time_base, cc.framerate = 1 / Fraction(rate), Fraction(rate)
    try:
        cc.open()
    except av.error.FFmpegError:
        return False
    return True


#: PCM whose packets are whole sample frames, interleaved, without headers: cut at any sample
_CUTTABLE_PCM = re.compile(r"pcm_(?:[suf](?:8|16|24|32|64)(?:le|be)?|alaw|mulaw)")


def cuttable(s) -> bool:
    """Whether a copied stream's packets can be cut at any sample (interleaved PCM)."""
    return s.type == "audio" and _CUTTABLE_PCM.fullmatch(stream_codec(s) or "") is not None


def place_packet(p, start: Fraction, end: Fraction):
    """Packet ``p`` made to cover ``[start, end)`` s of its own span, as
    :class:`~filmrt.pipeline.time.timestamps.RangeGate` released it: a subtitle shown from the start
    point on; a :func:`cuttable` PCM packet cut to the samples inside (a new packet of the sliced
    bytes). Returns ``p`` itself when it is kept whole."""
    tb = Fraction(p.time_base)
    t0 = p.pts if p.pts is not None else p.dts
    first, last, span = int(start / tb), int(end / tb), p.duration or 0
    if first <= t0 and (not span or last >= t0 + span):
        return p
    if cuttable(p.stream) and span:
        rate = p.stream.codec_context.sample_rate
        frame = p.size // round(span * tb * rate)  # bytes per sample frame (every channel)
        first, last = max(first, t0), min(last, t0 + span)
        a, b = (round((x - t0) * tb * rate) * frame for x in (first, last))
        q = av.Packet(bytes(p)[a:b])
        q.stream, q.time_base, q.duration = p.stream, p.time_base, max(1, last - first)
    elif first > t0:  # a subtitle on screen at the start point
        q, q.duration = p, max(1, span - (first - t0))
    else:
        return p
    q.pts, q.dts = first, first if p.dts is not None else None
    return q

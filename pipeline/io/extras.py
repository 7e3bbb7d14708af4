"""What a file holds besides its streams' packets: chapters, attachments and stream dispositions.

The muxer copies packets and per-stream tags (language, title); this module copies the rest, once,
after the output streams exist and before anything is written (all three live in the header):

- **dispositions** (default, forced, hearing impaired, captions ...) of the video and of every
  copied stream, so a player picks the same subtitle track as before; the converted video is the
  default picture and no copied video stream is (a thumbnail track flagged default, often the
  first track, would otherwise be what a player shows);
- **attachments** (Matroska: fonts for ASS subtitles, cover art) with their file name and MIME
  type, as the :class:`~filmrt.pipeline.io.target.OutputTarget` decided (their fates); a container
  that cannot hold them (MP4, MPEG-TS) leaves them out, said once; cover art (an attached picture
  stream, e.g. from MP4) becomes a Matroska attachment with an image MIME type, which players and
  FFmpeg read back as cover art;
- **chapters**, shifted by the same amount as every other timestamp (the input's start, or
  ``--ss``) and cut to the converted range; chapters wholly outside it are dropped; with
  ``--slowmo N`` stretched N times, as the picture is.
"""

from __future__ import annotations

import os
from fractions import Fraction

from av.stream import Disposition

DEFAULT = int(Disposition.default)


def _attachments(src_container, muxer, warn) -> int:
    """The attachments the output target keeps (its fates: Matroska holds them); the others are
    said once."""
    atts = [s for s in src_container.streams if s.type == "attachment"]
    keep = {f.index for f in muxer.target.copied if f.kind == "attachment"}
    left = [s for s in atts if s.index not in keep]
    if left:
        warn(f"{len(left)} attachment(s) ({', '.join(str(s.name) for s in left)}) left out: "
             f"{muxer.target.name} cannot hold attachments (write .mkv to keep them)")
    kept = [s for s in atts if s.index in keep]
    for s in kept:
        muxer.container.add_attachment(str(s.name), str(s.mimetype or "application/octet-stream"), bytes(s.data))
    return len(kept)


#: muxers that write a chapter list (MP4/MOV: a text track and ``chpl``; Matroska: its Chapters)
CHAPTER_MUXERS = {"matroska", "webm", "mov", "mp4", "ipod", "3gp", "3g2", "ogg", "ffmetadata"}


def _chapters(src_container, out_container, shift: Fraction, end: Fraction | None, factor: Fraction = Fraction(1),
              file_start: Fraction = Fraction(0), warn=None) -> int:
    """Chapters moved by ``-shift`` seconds, cut to [0, end - shift] and stretched ``factor`` times
    (slow motion); returns how many were kept. Chapters that all end before a late ``file_start``
    (a file whose timestamps start at 1 h, its chapters written from 0, as ``ffmpeg
    -output_ts_offset`` leaves them) count from the file's start. A muxer without chapters keeps
    none: said through ``warn``, and 0 is what the verification expects."""
    try:
        chapters = src_container.chapters()
    except Exception:  # noqa: BLE001 - a demuxer without chapter support
        return 0
    if chapters and out_container.format.name not in CHAPTER_MUXERS:
        if warn is not None:
            warn(f"{len(chapters)} chapter(s) left out: {out_container.format.name} keeps no chapters "
                 "(.mkv, .mp4, .mov do)")
        return 0
    lift = Fraction(0)
    if file_start > 0 and chapters and all(Fraction(ch["end"]) * Fraction(ch["time_base"]) <= file_start
                                           for ch in chapters):
        lift = file_start
    kept = []
    for ch in chapters:
        tb = Fraction(ch["time_base"])
        start = Fraction(ch["start"]) * tb + lift - shift
        stop = Fraction(ch["end"]) * tb + lift - shift
        if end is not None:
            stop = min(stop, end - shift)
        if stop <= 0 or stop <= start:
            continue  # outside the converted range
        start, stop = max(start, Fraction(0)) * factor, stop * factor
        kept.append({"id": len(kept) + 1, "start": round(start / tb), "end": round(stop / tb), "time_base": tb,
                     "metadata": dict(ch.get("metadata") or {})})
    if kept:
        out_container.set_chapters(kept)
    return len(kept)


#: cover art codecs -> (file extension, MIME type) of the attachment that carries them
COVER_TYPES = {"png": (".png", "image/png"), "mjpeg": (".jpg", "image/jpeg"), "bmp": (".bmp", "image/bmp"),
               "webp": (".webp", "image/webp"), "gif": (".gif", "image/gif")}


def _cover_bytes(src_container, stream) -> bytes | None:
    """The picture of a cover art stream, read from a second opening of the input (the attached
    picture is the first packet a demuxer hands out); None for a pipe, which cannot be read twice."""
    import av

    path = getattr(src_container, "name", None)
    if not path or not os.path.isfile(path):
        return None
    with av.open(path, metadata_errors="ignore") as c:
        for pkt in c.demux(c.streams[stream.index]):
            if pkt.size:
                return bytes(pkt)
    return None


def _covers(src_container, out_container, covers, warn) -> int:
    """Cover art as attachments (Matroska: an image MIME type, read back as cover art)."""
    done = 0
    for s in covers:
        codec = s.codec_context.codec.canonical_name if s.codec_context is not None else None
        kind = COVER_TYPES.get(codec)
        data = _cover_bytes(src_container, s) if kind else None
        if data is None:
            warn(f"cover art #{s.index} ({codec}) left out: " + (
                "it cannot be read again from a pipe" if kind else f"no attachment type for {codec}"))
            continue
        name = str(s.metadata.get("filename") or f"cover{kind[0]}")
        out_container.add_attachment(name, kind[1], data)
        done += 1
    return done


def copy_extras(source, muxer, warn, covers=(), slowmo: Fraction | None = None, chapters: bool = True) -> dict:
    """Copy dispositions, attachments and chapters from a ``source`` (its PyAV container) to
    ``muxer``'s output; ``covers``: cover art streams to write as attachments
    (:attr:`~filmrt.pipeline.io.target.OutputTarget.attach`); ``slowmo``: the factor the picture is
    slowed by, which chapters follow; ``chapters=False``: none copied (``filmrt live``, whose
    output clock starts at the live edge, not where the input's chapters count from).

    Returns ``{"chapters": n, "attachments": n, "dispositions": n}`` (what was copied)."""
    src_container = source.container
    if src_container is None:  # a decoder without a PyAV container: nothing to copy from
        return {"chapters": 0, "attachments": 0, "dispositions": 0}
    dispositions = 0
    pairs = [(source.stream, muxer.vstream)] if source.stream is not None else []
    by_index = {s.index: s for s in src_container.streams}
    pairs += [(by_index[i], o) for i, o in muxer.copy_map.items()]
    pairs += [(by_index[i], st.output) for i, st in muxer.reencoded.items()]  # re-encoded audio keeps them too
    main = pairs[0][1] if pairs else None
    for s, o in pairs:
        flags = int(s.disposition)
        dispositions += bool(flags)  # the source's, copied (the default flag set below is ours)
        if o is main or s.type == "video":  # the converted stream is the default picture, no other
            flags = (flags | DEFAULT) if o is main else (flags & ~DEFAULT)
        if flags:
            o.disposition = Disposition(flags)
    return {
        "chapters": _chapters(src_container, muxer.container, muxer.shift, source.range_end,
                              Fraction(slowmo or 1), source.info.start if source.info else Fraction(0), warn)
        if chapters else 0,
        "attachments": _attachments(src_container, muxer, warn)
        + _covers(src_container, muxer.container, covers, warn),
        "dispositions": dispositions,
    }

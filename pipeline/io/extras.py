"""What a file holds besides its streams' packets: chapters, attachments and stream dispositions.

The muxer copies packets and per-stream tags (language, title); this module copies the rest, once,
after the output streams exist and before anything is written (all three live in the header):

- **dispositions** (default, forced, hearing impaired, captions ...) of the video and of every
  copied stream, so a player picks the same subtitle track as before;
- **attachments** (Matroska: fonts for ASS subtitles, cover art) with their file name and MIME
  type, as the :class:`~filmrt.pipeline.io.target.OutputTarget` decided (their fates); a container
  that cannot hold them (MP4, MPEG-TS) leaves them out, said once;
- **chapters**, shifted by the same amount as every other timestamp (the input's start, or
  ``--ss``) and cut to the converted range; chapters wholly outside it are dropped.
"""

from __future__ import annotations

from fractions import Fraction


def _attachments(src_container, muxer, warn) -> int:
    """The attachments the output target keeps (its fates: Matroska holds them); the others are
    said once."""
    atts = [s for s in src_container.streams if s.type == "attachment"]
    keep = {f.index for f in muxer.target.copied if f.kind == "attachment"}
    left = [s for s in atts if s.index not in keep]
    if left:
        warn(f"{len(left)} attachment(s) ({', '.join(str(s.name) for s in left)}) left out: "
             f"{muxer.target.format} cannot hold attachments (write .mkv to keep them)")
    kept = [s for s in atts if s.index in keep]
    for s in kept:
        muxer.container.add_attachment(str(s.name), str(s.mimetype or "application/octet-stream"), bytes(s.data))
    return len(kept)


def _chapters(src_container, out_container, shift: Fraction, end: Fraction | None) -> int:
    """Chapters moved by ``-shift`` seconds and cut to [0, end - shift]; returns how many were kept."""
    try:
        chapters = src_container.chapters()
    except Exception:  # noqa: BLE001 - a demuxer without chapter support
        return 0
    kept = []
    for ch in chapters:
        tb = Fraction(ch["time_base"])
        start = Fraction(ch["start"]) * tb - shift
        stop = Fraction(ch["end"]) * tb - shift
        if end is not None:
            stop = min(stop, end - shift)
        if stop <= 0 or stop <= start:
            continue  # outside the converted range
        start = max(start, Fraction(0))
        kept.append({"id": len(kept) + 1, "start": round(start / tb), "end": round(stop / tb), "time_base": tb,
                     "metadata": dict(ch.get("metadata") or {})})
    if kept:
        out_container.set_chapters(kept)
    return len(kept)


def copy_extras(source, muxer, warn) -> dict:
    """Copy dispositions, attachments and chapters from a ``source`` (its PyAV container) to
    ``muxer``'s output.

    Returns ``{"chapters": n, "attachments": n, "dispositions": n}`` (what was copied)."""
    src_container = source.container
    if src_container is None:  # a decoder without a PyAV container: nothing to copy from
        return {"chapters": 0, "attachments": 0, "dispositions": 0}
    dispositions = 0
    pairs = [(source.stream, muxer.vstream)] if source.stream is not None else []
    by_index = {s.index: s for s in src_container.streams}
    pairs += [(by_index[i], o) for i, o in muxer.copy_map.items()]
    for s, o in pairs:
        if int(s.disposition):
            o.disposition = s.disposition
            dispositions += 1
    return {
        "chapters": _chapters(src_container, muxer.container, muxer.shift, source.range_end),
        "attachments": _attachments(src_container, muxer, warn),
        "dispositions": dispositions,
    }

"""What a file holds besides its streams' packets: chapters, attachments and stream dispositions.

The muxer copies packets and per-stream tags (language, title); this module copies the rest, once,
after the output streams exist and before anything is written (all three live in the header):

- **dispositions** (default, forced, hearing impaired, captions ...) of the video and of every
  copied stream, so a player picks the same subtitle track as before;
- **attachments** (Matroska: fonts for ASS subtitles, cover art) with their file name and MIME
  type; a container that cannot hold them (MP4, MPEG-TS) leaves them out, said once;
- **chapters**, shifted by the same amount as every other timestamp (the input's start, or
  ``--ss``) and cut to the converted range; chapters wholly outside it are dropped; with
  ``--slowmo N`` stretched N times, as the picture is.
"""

from __future__ import annotations

from fractions import Fraction


def _attachments(src_container, out_container, warn) -> int:
    atts = [s for s in src_container.streams if s.type == "attachment"]
    if not atts:
        return 0
    if "matroska" not in out_container.format.name:
        warn(f"{len(atts)} attachment(s) ({', '.join(str(s.name) for s in atts)}) left out: "
             f"{out_container.format.name} cannot hold attachments (write .mkv to keep them)")
        return 0
    for s in atts:
        out_container.add_attachment(str(s.name), str(s.mimetype or "application/octet-stream"), bytes(s.data))
    return len(atts)


def _chapters(src_container, out_container, shift: Fraction, end: Fraction | None, factor: Fraction = Fraction(1)) -> int:
    """Chapters moved by ``-shift`` seconds, cut to [0, end - shift] and stretched ``factor`` times
    (slow motion); returns how many were kept."""
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
        start, stop = max(start, Fraction(0)) * factor, stop * factor
        kept.append({"id": len(kept) + 1, "start": round(start / tb), "end": round(stop / tb), "time_base": tb,
                     "metadata": dict(ch.get("metadata") or {})})
    if kept:
        out_container.set_chapters(kept)
    return len(kept)


def copy_extras(source, muxer, warn, slowmo: Fraction | None = None) -> dict:
    """Copy dispositions, attachments and chapters from a PyAV ``source`` to ``muxer``'s output
    (``slowmo``: the factor the picture is slowed by, which chapters follow).

    Returns ``{"chapters": n, "attachments": n, "dispositions": n}`` (what was copied)."""
    src_container = getattr(source, "container", None)
    if src_container is None:  # a decoder without a PyAV container (DALI): nothing to copy from
        return {"chapters": 0, "attachments": 0, "dispositions": 0}
    dispositions = 0
    pairs = [(source.stream, muxer.vstream)] if getattr(source, "stream", None) is not None else []
    by_index = {s.index: s for s in src_container.streams}
    pairs += [(by_index[i], o) for i, o in muxer.copy_map.items()]
    for s, o in pairs:
        if int(s.disposition):
            o.disposition = s.disposition
            dispositions += 1
    return {
        "chapters": _chapters(src_container, muxer.container, muxer.shift, source.range_end,
                              Fraction(slowmo or 1)),
        "attachments": _attachments(src_container, muxer.container, warn),
        "dispositions": dispositions,
    }

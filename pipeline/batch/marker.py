"""The mark ``filmrt batch`` leaves in each output it makes, so DST itself says what batch made.

Every output gets a container tag ``filmrt_batch = <settings hash>/<source fingerprint>``
(:data:`MARK_KEY`): the hash of the conversion settings (:func:`~filmrt.pipeline.batch.manifest.settings_hash`)
and the fingerprint of the source it was made from (:func:`~filmrt.pipeline.batch.manifest.fingerprint`).
The manifest stays the record of a run; the mark is what is left when the manifest is deleted or
damaged:

- an output whose mark matches the source and settings of this run is adopted as done (not
  converted again) and recorded in the new manifest, when it reads back complete
  (:func:`~filmrt.pipeline.batch.plan.output_complete`); a truncated or trimmed copy is redone;
- an output with a mark made from this source (other settings) was made by batch: it is redone,
  like a manifest row with other settings;
- a file without a mark, or with a mark made from another source, is not provably batch's output
  of this source: it is never replaced unless ``--overwrite`` (see
  :func:`~filmrt.pipeline.batch.plan.existing_output`).

Which containers keep the tag when read back (checked by tests/pipeline/test_batch_safety.py):
Matroska/WebM (as ``FILMRT_BATCH``), MP4 and MOV (written with ``movflags=use_metadata_tags``,
which the muxer sets when a ``filmrt_`` tag is present). MPEG-TS and AVI cannot hold free-form
tags: outputs there are known only through the manifest (without it they count as unmarked).
"""

from __future__ import annotations

import os

from filmrt.pipeline.io.probe import probe

#: the container tag (lower case; Matroska reads it back upper case)
MARK_KEY = "filmrt_batch"
#: tags with this prefix are filmrt's own: never copied from a source into an output
PREFIX = "filmrt_"


def mark(settings_hash: str, content_hash: str) -> dict[str, str]:
    """The container tags of an output made from a source with ``content_hash`` under ``settings_hash``."""
    return {MARK_KEY: f"{settings_hash}/{content_hash}"}


def mark_source(found: str | None) -> str | None:
    """The source fingerprint a mark names (its part after the ``/``), or None."""
    if not found or "/" not in found:
        return None
    return found.rsplit("/", 1)[-1]


def read_mark(path: str | os.PathLike) -> str | None:
    """The mark of an existing output, or None (no mark, or not a readable media file)."""
    try:
        meta = probe(path, count=False, first_frame=False).metadata
    except Exception:  # noqa: BLE001 - anything unreadable is simply unmarked
        return None
    for k, v in meta.items():
        if k.lower() == MARK_KEY:
            return str(v)
    return None

"""Batch conversion of whole video libraries: resumable, parallel, from one machine to a Ray cluster.

``run_batch(SRC, DST, options, BatchOptions(...))`` (the engine of ``filmrt batch``) walks SRC,
mirrors its tree under DST and converts every video with the ``convert`` pipeline, one
:class:`~filmrt.pipeline.options.ConvertOptions` for all files. The modules, by concern, and the
promises they keep:

- :mod:`.options`: :class:`BatchOptions` (workers, GPUs, Ray, filters, retries, reports),
  validated when made; with ConvertOptions, everything fails before DST exists.
- :mod:`.discover`: **discovery**: video files by extension; with ``probe=True`` other files
  are probed and kept when they hold a moving video stream; ``include`` / ``exclude`` fnmatch
  patterns. Hidden files and folders, symlinked folders and DST itself (when inside SRC) are
  never walked, files that are not regular (a FIFO named ``x.mp4``) never opened; the report
  says what was left out (``BatchReport.left_out``).
- :mod:`.manifest`: **state**: the SQLite manifest ``DST/.filmrt-batch.sqlite`` is the single
  source of truth, written only by the driver; the source fingerprint and the settings hash.
- :mod:`.plan`: **resume**: files done with an output that is still the one written are skipped
  (a file at an output path is replaced only when it is provably batch's, or with
  ``--overwrite``), changed sources (size + fast content hash) or changed settings are redone,
  jobs a killed driver left ``running`` are reset, failed attempts are retried up to ``retries`` times (a failure never stops the other
  files) and then reported.
- :mod:`.worker`: **no half-written outputs**: a worker converts into its own attempt folder
  ``DST/.filmrt-batch-tmp/<attempt>/`` and checks the result (frame count); the worker state
  (device, progress channel, the one open model) is a :class:`~.worker.Worker` object.
- :mod:`.runners`: **parallelism**: local ``spawn`` processes, each holding one model for its
  whole life, pinned to one GPU each with ``gpus``, or Ray tasks over a cluster. Workers die
  with the driver; a worker that dies takes its local pool down, and the files converting beside
  it are re-run one at a time, so only a file that crashes alone fails.
- :mod:`.driver`: the driver (:class:`~.driver.BatchRun`: prepare, dry run or dispatch,
  finish); only it moves a finished, checked file to its final place (one atomic rename) and
  writes the manifest. A killed run leaves at most an attempt folder, deleted by the next run.
  A lock file keeps two drivers off one DST.
- :mod:`.report`: **reporting**: one tqdm bar over all output frames, one log line per finished
  or failed file, a summary table and a JSON report (:meth:`BatchReport.to_dict`).
- :mod:`.cli`: ``filmrt batch``.

The converter is injectable (``converter=``): any picklable function with the signature of
``convert(src, dst, options, *, interpolator=None, on_progress=None)``; a custom converter is
called with ``interpolator=None``.
"""

from __future__ import annotations

from filmrt.pipeline.batch.driver import TMP_DIRNAME, BatchRun, run_batch
from filmrt.pipeline.batch.options import BatchOptions
from filmrt.pipeline.batch.report import BatchReport, FileReport

__all__ = ["TMP_DIRNAME", "BatchOptions", "BatchReport", "BatchRun", "FileReport", "run_batch"]

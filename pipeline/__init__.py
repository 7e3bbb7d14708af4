"""filmrt.pipeline: decode -> schedule -> interpolate -> encode -> mux, and batch jobs.

At the top, what runs a job:

- :mod:`.convert`: ``convert(src, dst, ConvertOptions(...))`` -> ``ConvertResult`` (``filmrt convert``)
- :mod:`.infer`: the inference stage (batching, keys, recursive midpoints), shared with ``filmrt interpolate``
- :mod:`.threads`: the thread plan (who gets the cores while decode, model and encode overlap)
- :mod:`.options`: ``ConvertOptions``, ``EncodeOptions``
- :mod:`.cli`: ``filmrt convert`` and ``filmrt eval-video``; :mod:`.eval_video`; :mod:`.demo`: ``make demo``

In rooms that say what they hold:

- :mod:`.io`: probe, decode, the output decision, encode/mux, colour, pixels, HDR, captions, extras
- :mod:`.time`: timestamps, schedule, cadence (analysis, retime, field operations), timecode, scenes,
  audio stretch
- :mod:`.batch`: whole libraries (discover, plan, manifest, workers, runners, report)
"""

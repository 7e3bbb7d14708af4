"""filmrt.pipeline: decode -> schedule -> interpolate -> encode -> mux, and batch jobs.

- :mod:`.convert`: ``convert(src, dst, ConvertOptions(...))`` -> ``ConvertResult`` (``filmrt convert``)
- :mod:`.schedule`: exact-rate scheduling of output frames onto source frames (pure)
- :mod:`.decode` / :mod:`.dali`: sources yielding (3, H, W) RGB frames with exact timestamps
- :mod:`.colour`: the stated Y'CbCr <-> RGB conversion used both ways
- :mod:`.scenes`: the scene-cut detector
- :mod:`.encode`: encoder + muxer (passthrough streams, metadata, temp file + rename)
- :mod:`.probe`: ``probe(path)``, what a media file holds, from its packets
- :mod:`.eval_video`: ``filmrt eval-video``; :mod:`.demo`: ``make demo``
- :mod:`.infer`: the inference stage (batching, keys, recursive midpoints), shared with ``filmrt interpolate``
- :mod:`.options`: ``ConvertOptions``, ``EncodeOptions``
- :mod:`.cli`: ``filmrt convert`` and ``filmrt eval-video``
"""

"""``filmrt live``: a stream in, a stream out, in real time with a constant latency.

The file pipeline (:mod:`filmrt.pipeline.convert`) runs as fast as it can; a live run adds a
clock. Output frame ``n`` is due at ``start + n / rate + latency``; one frame leaves per tick,
never late and never skipped, whatever the input does:

- :mod:`~filmrt.pipeline.live.deadline`: the deadline scheduler (pure, clock injected): per tick,
  the best *tier* (model at full size, model at reduced size, blend, repeat) that its measured
  cost says will finish before the deadline, with hysteresis;
- :mod:`~filmrt.pipeline.live.timeline`: input frames placed on the output clock (re-synced at
  stalls, PTS jumps and drift), and the pair ``(a, b, t)`` each tick needs;
- :mod:`~filmrt.pipeline.live.tiers`: what each tier computes;
- :mod:`~filmrt.pipeline.live.source`: the input thread (open, reconnect with back-off, pace a
  file at its own rate), reusing the file pipeline's decoder;
- :mod:`~filmrt.pipeline.live.run`: the clock loop and the encoder thread (the file pipeline's
  :class:`~filmrt.pipeline.io.encode.Muxer`), audio passed through with the same delay;
- :mod:`~filmrt.pipeline.live.stats`: status line, JSON-lines stats and the final summary.
"""

"""filmrt.pipeline.time: what happens to the frames' clock.

- :mod:`.timestamps`: presentation times as FFmpeg presents them.
- :mod:`.schedule`: rate conversion as a pure function of timestamps (output frame -> (a, b, t)).
- :mod:`.cadence`: broadcast temporal structure: analysis (interlace, pulldown), the retiming stage and
  the libavfilter field operations (deinterlace, field match, re-interlace).
- :mod:`.timecode`, :mod:`.scenes`, :mod:`.audiostretch`: SMPTE timecode, scene cuts, slowed audio.
"""

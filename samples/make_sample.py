"""Re-create samples/city_480x270_25.mp4 from the CC0 source clip (see SOURCE.md).

    python samples/make_sample.py ../shared/data/clips/city_cc0_720x405_25.mpg

Takes 2.4 s (60 frames) from 1.0 s in, scales 720x405 -> 480x270 (swscale, area), encodes
H.264 (libx264, CRF 23, preset slow, yuv420p, BT.601 tags as for SD) with PyAV.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av

SRC = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/clips/city_cc0_720x405_25.mpg"
DST = Path(__file__).with_name("city_480x270_25.mp4")
START, FRAMES, W, H = 1.0, 60, 480, 270

with av.open(SRC) as inp, av.open(str(DST), "w") as out:
    vin = inp.streams.video[0]
    vs = out.add_stream("libx264", rate=25)
    vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
    vs.codec_context.time_base = Fraction(1, 25)
    vs.codec_context.options = {"crf": "23", "preset": "slow"}
    vs.codec_context.colorspace = 6  # SMPTE 170M (BT.601), what the SD source implies
    vs.codec_context.color_range = 1  # limited
    vs.metadata["title"] = "city (CC0) excerpt"
    t0 = None
    n = 0
    for f in inp.decode(vin):
        if t0 is None:
            t0 = f.time
        if f.time - t0 < START - 1e-6:
            continue
        g = f.reformat(width=W, height=H, format="yuv420p", interpolation="AREA")
        g.pts = n
        g.time_base = Fraction(1, 25)
        for p in vs.encode(g):
            out.mux(p)
        n += 1
        if n == FRAMES:
            break
    for p in vs.encode(None):
        out.mux(p)
print(DST, DST.stat().st_size, "bytes")

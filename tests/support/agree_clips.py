"""Issue 12's "done when", run by hand on real clips (too slow for CI at 720p on 2 cores):
``convert`` (x2, blend) and ``eval-video`` against libavcodec's own decode of each clip.

    .venv/bin/python tests/support/agree_clips.py ../shared/data/clips/*.mp4 ../shared/data/clips/*.mpg

Per clip: frames libavcodec decodes = frames convert and eval-video read; output frames =
ceil(duration x 2 x rate) at even steps of 1 / (2 x rate) from the first frame; no damage reported;
audio streams kept. (The timestamp part alone is the CI test tests/pipeline/test_media_clips.py.)
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.eval_video import eval_video
from filmrt.pipeline.options import ConvertOptions, EncodeOptions


def check(clip: str, tmp: Path) -> bool:
    t0 = time.time()
    with av.open(clip) as c:
        vs = c.streams.video[0]
        tb, rate, n_audio = Fraction(vs.time_base), Fraction(vs.average_rate), len(c.streams.audio)
        ref, last = [], None
        for f in c.decode(vs):
            ref.append(Fraction(f.pts) * tb)
            last = Fraction(f.duration) * tb if f.duration else 1 / rate
    out = tmp / (Path(clip).stem + ".mkv")
    res = convert(clip, out, ConvertOptions(fps="x2", runtime=RuntimeOptions(model="blend"),
                                            encode=EncodeOptions(preset="ultrafast")))
    with av.open(str(out)) as o:
        ovs = o.streams.video[0]
        otb = Fraction(ovs.time_base)
        times = [Fraction(f.pts) * otb for f in o.decode(ovs)]
        out_audio = len(o.streams.audio)
    want = math.ceil((ref[-1] - ref[0] + last) * 2 * rate - Fraction(1, 1000))
    even = all(abs((b - a) - 1 / (2 * rate)) < Fraction(1, 1000) for a, b in zip(times, times[1:], strict=False))
    ev = eval_video(clip, RuntimeOptions(model="blend"))
    ok = (len(ref) == res.frames_in == ev["frames_decoded"] and len(times) == want and even
          and not res.problems and out_audio == n_audio)
    print(f"{Path(clip).name}: libavcodec {len(ref)} frames, convert read {res.frames_in}, eval-video read "
          f"{ev['frames_decoded']}; out {len(times)} (want {want}), even steps {even}; problems {res.problems}; "
          f"audio {out_audio}/{n_audio}; eval scored {ev['frames_scored']} (skipped at cuts "
          f"{ev['pairs_skipped_cut']}); {'OK' if ok else 'MISMATCH'} ({time.time() - t0:.0f} s)", flush=True)
    return ok


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        results = [check(c, Path(d)) for c in sys.argv[1:]]
    sys.exit(0 if all(results) else 1)

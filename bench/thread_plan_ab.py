"""Before/after of the thread plan (issue 15, item 2): one ``convert`` with the plan or with the
libraries' own thread counts, and where its time went.

``python bench/thread_plan_ab.py before|after [BACKEND] [T] [CLIP]``: RIFE 4.25 x2 (batch 4, as the bench) on the first T
seconds (default 1) of CLIP (default the bench clip); prints one JSON line: wall, model seconds,
time outside the model (total, share, per output frame), process CPU time, the stage split and the
load average. "before" replaces :func:`filmrt.pipeline.threads.plan_threads` by a plan of zeros
(0 = each library's default). Run both in one sitting and compare within it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from filmrt.bench.settings import default_clip
from filmrt.options import RuntimeOptions
from filmrt.pipeline import convert as conv
from filmrt.pipeline.options import ConvertOptions
from filmrt.pipeline.threads import ThreadPlan, cpu_cores


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "after"
    backend = argv[1] if len(argv) > 1 else "auto"
    t = float(argv[2]) if len(argv) > 2 else 1.0
    clip = argv[3] if len(argv) > 3 else str(default_clip())
    if which == "before":
        conv.plan_threads = lambda device, threads=None, cores=None: ThreadPlan(cpu_cores(), 0, 0, 0, 0)
    opts = ConvertOptions(fps="x2", t=t, runtime=RuntimeOptions(model="rife-4.25", backend=backend, max_batch=4))
    c0 = os.times()
    with tempfile.TemporaryDirectory() as d:
        r = conv.convert(clip, os.path.join(d, "out.mp4"), opts)
    c1 = os.times()
    n = max(1, r.frames_out)
    print(json.dumps({
        "which": which, "backend": r.backend, "threads": r.threads, "wall_s": r.seconds, "model_s": r.model_s,
        "outside_model_s": r.seconds - r.model_s, "outside_share": (r.seconds - r.model_s) / r.seconds,
        "outside_ms_per_out_frame": 1e3 * (r.seconds - r.model_s) / n, "frames_out": r.frames_out,
        "interpolated": r.interpolated, "cpu_s": (c1.user - c0.user) + (c1.system - c0.system),
        "stage_s": r.stage_s, "load_average": os.getloadavg(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""filmrt.bench: ``filmrt bench``, throughput of every stage, backends and peers side by side, with the machine.

A figure is only worth something with its machine, its versions, its command and a baseline
measured in the same run (the machines here are shared and noisy), so one run
(:func:`filmrt.bench.driver.run_bench`) writes one JSON document holding all of them, with a
markdown summary (:mod:`filmrt.bench.report`). bench/README.md says what each section measures and
which module does what, the GPU check (``--profile gpu``) and the peers (``--peers``) included.
Frames are (N, 3, H, W) float32 RGB in [0, 1]; ``hw`` in the JSON is [H, W]; sizes are written WxH
(:mod:`filmrt.sizes`); times are milliseconds (``*_ms``) or seconds (``*_s``).
"""

SCHEMA = "filmrt-bench/1"

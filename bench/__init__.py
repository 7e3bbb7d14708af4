"""filmrt.bench: ``filmrt bench``, throughput of every stage, backends and peers side by side, with the machine.

A figure is only worth something with its machine, its versions, its command and a baseline
measured in the same run (the machines here are shared and noisy), so one run of
:func:`filmrt.bench.driver.run_bench` produces one JSON document holding all of them, and
:func:`filmrt.bench.report.write_results` writes it with a markdown summary under
``bench/results/<date>-<machine>.json/.md`` (``results/`` is data of the repository, not of the
package). What each section measures, and how, is in bench/README.md; the modules, one concern
each, say it again where it is done. ``--profile gpu`` (:mod:`filmrt.bench.gpu`) is the GPU
check: its sections run in child processes of :mod:`filmrt.bench.runner`. ``--peers``
(:mod:`filmrt.bench.peers_vs`) sets filmrt beside its peers (VapourSynth ones from ``.venv-peers``)
on the same frames, scored by ``filmrt score``, into ``bench/results/peers-<date>-<machine>.*``.

Shapes at boundaries: frames are (N, 3, H, W) float32 RGB in [0, 1]; ``hw`` in the JSON is
[H, W]; sizes are written WxH (:mod:`filmrt.sizes`). Times in the JSON are milliseconds
(``*_ms``) or seconds (``*_s``); FLOPs are plain FLOPs.
"""

SCHEMA = "filmrt-bench/1"

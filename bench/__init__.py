"""filmrt.bench: ``filmrt bench``, throughput of every stage, backends and peers side by side, with the machine.

A figure is only worth something with its machine, its versions, its command and a baseline
measured in the same run (the machines here are shared and noisy), so one run of
:func:`filmrt.bench.driver.run_bench` produces one JSON document holding all of them, and
:func:`filmrt.bench.report.write_results` writes it with a markdown summary under
``bench/results/<date>-<machine>.json/.md`` (``results/`` is data of the repository, not of the package).

What is measured (each section can be switched off; ``--quick`` shrinks sizes and repeats):

- **matmul peak**: a square matmul per precision, the ceiling the models are compared against
  (fp32 on CPU; fp32/TF32/fp16/bf16 on CUDA).
- **FLOPs**: counted once per model and size with ``torch.utils.flop_counter.FlopCounterMode`` on
  the *meta* device (shapes only, no arithmetic). The counter sees convolutions and matmuls
  (FLOP = 2 x MAC), not element-wise ops or the warp; it is the figure papers quote.
- **model only**: ``Interpolator.interpolate`` on frames already on the device, per model x
  backend x precision x size x batch: warm-up call(s), then the median of repeated calls (CUDA
  events on GPU, ``time.perf_counter`` on CPU). Interpolations/s = batch / median seconds;
  achieved FLOP/s = counted FLOPs / median seconds, and its fraction of the matmul peak.
- **FILM stages** (models whose spec is ``staged``): features (per frame), flow (per pair) and
  fusion (warp + fusion, per output time), and the saving of stage reuse per input frame:
  x2 costs F + P + D instead of one whole call (2F + P + D), x4 costs F + P + 3D instead of
  3 (2F + P + D).
- **end to end**: :func:`filmrt.pipeline.convert.convert` on a segment of a real clip, in a child
  process (so its peak host memory is its own): output frames/s, peak host and device memory, and
  decode, inference and encode measured alone on the same segment.
- **peers**: ffmpeg's ``minterpolate`` (mi_mode=mci, mc_mode=aobmc, me_mode=bidir, vsbmc=1),
  run through PyAV's bundled libavfilter, on the same segment and output rate (decode + filter +
  libx264 encode, like ``ffmpeg -vf minterpolate``), and naive blending. Quality of every method
  is scored by THE drop-every-other-frame protocol of ``filmrt eval-video``
  (:func:`filmrt.pipeline.eval_video.score_dropped_frames`). Ratios between methods measured in
  the same run are what to compare; absolute times depend on the machine and its load.

Modules, one concern each: :mod:`.settings` (what to measure), :mod:`.machine` (machine facts,
versions, git), :mod:`.timing`, :mod:`.flops` (counted FLOPs, matmul peak), :mod:`.model_only`,
:mod:`.film_stages`, :mod:`.e2e` (convert in a child process, per-stage profile), :mod:`.peers`
(minterpolate, quality), :mod:`.report` (targets, JSON, markdown), :mod:`.driver`, :mod:`.cli`;
and two tools that also run as scripts: :mod:`.warp_kernel`, :mod:`.update_readme`.

Shapes at boundaries: frames are (N, 3, H, W) float32 RGB in [0, 1]; ``hw`` in the JSON is
[H, W]; sizes are written WxH (:mod:`filmrt.sizes`). Times in the JSON are milliseconds
(``*_ms``) or seconds (``*_s``); FLOPs are plain FLOPs.
"""

SCHEMA = "filmrt-bench/1"

"""filmrt.engine.trt: TensorRT. :mod:`.plugin` registers the BackwardWarp plugin (the CUDA kernel of
:mod:`filmrt.engine.cuda.warp_kernel`), :mod:`.builder` builds and caches engines from plugin graphs
(``filmrt build-engine``), :mod:`.backend` runs them behind the Interpolator interface.
``tensorrt`` itself is imported only when one of them is used."""

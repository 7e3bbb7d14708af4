"""filmrt.engine.cuda: the BackwardWarp CUDA kernel (``kernels/``: CUDA C source, committed PTX, host
build for CPU tests), its ctypes launcher (:mod:`.warp_kernel`) and the PyTorch CUDA fast path
(:mod:`.fast`)."""

"""filmrt.export: PyTorch -> ONNX (portable and plugin graphs, staged FILM, FP16)."""

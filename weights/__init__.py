"""Weights shipped with filmrt (safetensors + SOURCE notes); see :mod:`filmrt.weights`."""

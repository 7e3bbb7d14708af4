"""filmrt.pipeline: decode -> schedule -> interpolate -> encode -> mux, and batch jobs."""

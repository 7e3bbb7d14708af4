"""Helpers for the tests (not installed with filmrt): ``support.synth`` makes small clips with known content."""

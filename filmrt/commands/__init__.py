"""Core sub-commands of the ``filmrt`` CLI (interpolate, weights, eval); see :mod:`filmrt.cli`."""

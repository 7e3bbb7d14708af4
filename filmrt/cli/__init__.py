"""The ``filmrt`` command line.

- :mod:`filmrt.cli.main`: the command table (one plain import per command) and :func:`main`;
- :mod:`filmrt.cli.groups`: option groups generated from the options dataclasses, shared by every
  command, so each default is written once (in the dataclass);
- :mod:`filmrt.cli.interpolate`, :mod:`filmrt.cli.weights`, :mod:`filmrt.cli.evaluate`: the core commands.

This package's ``__init__`` imports nothing, so a stage's command module can use the option
groups without importing the command table (which imports the stages).
"""

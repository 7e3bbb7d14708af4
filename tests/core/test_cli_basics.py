import argparse
import subprocess
import sys

import pytest

from filmrt.cli.main import COMMANDS, build_parser, main

#: the commands filmrt offers, in the order `filmrt --help` lists them
EXPECTED = ["interpolate", "weights", "eval", "convert", "verify", "eval-video", "score", "batch", "live", "export",
            "build-engine", "bench"]


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "filmrt" in out and "COMMAND" in out
    for name in EXPECTED:
        assert name in out


def test_command_table_is_exactly_the_commands():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == EXPECTED
    assert all(hasattr(m, "register") for m in COMMANDS)


def test_every_command_parses_help(capsys):
    for name in EXPECTED:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0, name
    assert "usage: filmrt build-engine" in capsys.readouterr().out


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "filmrt", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("filmrt ")

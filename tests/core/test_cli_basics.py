import argparse
import subprocess
import sys

import pytest

from filmrt.cli.main import COMMANDS, TABLE, build_parser, main

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


def test_table_names_what_each_module_registers():
    """The table's names are what lets ``filmrt convert`` import one module: each must be exactly
    what its module registers, and a one-command parser parses what the full one does."""
    for mod, names in TABLE:
        sub = argparse.ArgumentParser().add_subparsers()
        next(m for m in COMMANDS if m.__name__ == mod).register(sub)
        assert tuple(sub.choices) == names, mod
    assert [n for _, names in TABLE for n in names] == EXPECTED
    argv = ["convert", "a.mp4", "b.mp4", "--fps", "50", "--model", "blend"]
    assert vars(build_parser("convert").parse_args(argv)) == vars(build_parser().parse_args(argv))


def test_a_command_imports_its_own_module_only():
    code = ("import sys; from filmrt.cli.main import build_parser; build_parser('convert'); "
            "print(sorted(m for m in sys.modules if m.startswith(('filmrt.bench', 'filmrt.pipeline.batch', "
            "'filmrt.pipeline.live', 'filmrt.pipeline.eval_video'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_every_command_parses_help(capsys):
    for name in EXPECTED:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0, name
    assert "usage: filmrt build-engine" in capsys.readouterr().out


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "filmrt", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("filmrt ")

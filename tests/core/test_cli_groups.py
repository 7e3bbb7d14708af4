"""filmrt.cli.groups: CLI options generated from the options dataclasses.

The dataclass default is the one default: argparse's own default is None (not given), so
``from_args`` passes only what the user gave and the dataclass fills the rest.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest

from filmrt.cli.groups import add_options, add_runtime_options, from_args, given, runtime_from_args
from filmrt.options import RuntimeOptions, opt


@dataclass(frozen=True)
class Demo:
    speed: float = field(default=1.5, metadata=opt("how fast"))
    count: int = field(default=3, metadata=opt("how many", metavar="N"))
    name: str | None = field(default=None, metadata=opt("a name", short="-n"))
    loud: bool = field(default=False, metadata=opt("say it loud"))
    colour: str = field(default="red", metadata=opt("a colour", choices=("red", "green")))
    hidden: int = field(default=7, metadata=opt("not on the CLI", cli=False))
    renamed: int = field(default=1, metadata=opt("another flag", flag="--other"))
    plain: int = 0  # no metadata: not an option


def _parser(**kw) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t")
    add_options(p, Demo, **kw)
    return p


def test_types_defaults_and_only_given_values():
    p = _parser()
    args = p.parse_args(["--speed", "2", "--count", "5", "--loud"])
    assert given(Demo, args) == {"speed": 2.0, "count": 5, "loud": True}
    d = from_args(Demo, args)
    assert (d.speed, d.count, d.loud, d.name, d.colour, d.hidden) == (2.0, 5, True, None, "red", 7)
    assert from_args(Demo, p.parse_args([])) == Demo()  # nothing given: every dataclass default


def test_help_shows_the_dataclass_default_once():
    text = _parser().format_help()
    assert "how fast (default: 1.5)" in text and "how many (default: 3)" in text
    assert "--hidden" not in text and "--plain" not in text
    assert "--other" in text and "-n NAME" in text.replace("-n NAME, --name NAME", "-n NAME")


def test_choices_are_enforced_and_bools_are_switches(capsys):
    p = _parser()
    with pytest.raises(SystemExit):
        p.parse_args(["--colour", "blue"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        p.parse_args(["--loud", "yes"])


def test_only_exclude_and_required():
    p = _parser(only=["speed", "name"], required=["name"])
    with pytest.raises(SystemExit):
        p.parse_args(["--speed", "1"])
    assert given(Demo, p.parse_args(["-n", "x"])) == {"name": "x"}
    p = _parser(exclude=["count"])
    with pytest.raises(SystemExit):
        p.parse_args(["--count", "1"])


def test_overrides_win_and_runtime_group():
    p = argparse.ArgumentParser()
    add_runtime_options(p)
    args = p.parse_args(["--model", "blend", "--batch", "2"])
    r = runtime_from_args(args, device="cpu")
    assert isinstance(r, RuntimeOptions) and (r.model, r.max_batch, r.device) == ("blend", 2, "cpu")
    assert from_args(Demo, _parser().parse_args(["--count", "5"]), count=9).count == 9

"""CLI option groups generated from the options dataclasses.

Each dataclass field with :func:`filmrt.options.opt` metadata becomes one option. argparse's own
default is ``None`` (not given) and :func:`from_args` passes only the options that were given, so
the dataclass default is the single source of every default; ``--help`` shows it.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable

from filmrt.options import RuntimeOptions

_TYPES = {"int": int, "float": float, "str": str}


def _fields(cls, only: Iterable[str] | None, exclude: Iterable[str]):
    only = set(only) if only is not None else None
    exclude = set(exclude)
    for f in dataclasses.fields(cls):
        md = f.metadata
        if not md or not md.get("cli", True) or f.name in exclude or (only is not None and f.name not in only):
            continue
        yield f


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _type_of(f: dataclasses.Field, default):
    t = f.metadata.get("type")
    if t is not None:
        return t
    if isinstance(default, bool):
        return bool
    if isinstance(default, int | float):
        return type(default)
    ann = str(f.type)
    for name, typ in _TYPES.items():
        if ann.startswith(name):
            return typ
    return str


def add_options(parser, cls, *, only: Iterable[str] | None = None, exclude: Iterable[str] = (),
                title: str | None = None, required: Iterable[str] = ()) -> None:
    """Add the options of dataclass ``cls`` to ``parser`` (in an argument group when ``title``)."""
    target = parser.add_argument_group(title) if title else parser
    required = set(required)
    for f in _fields(cls, only, exclude):
        md = f.metadata
        default = _default(f)
        flags = [md.get("flag") or "--" + f.name.replace("_", "-")]
        if md.get("short"):
            flags.insert(0, md["short"])
        typ = _type_of(f, default)
        help_text = md["help"]
        if typ is bool:
            target.add_argument(*flags, dest=f.name, action="store_true", default=None, help=help_text)
            continue
        if default is not None and f.name not in required:
            help_text = f"{help_text} (default: {default})"
        kw = {"dest": f.name, "default": None, "help": help_text, "type": typ}
        if md.get("choices"):
            kw["choices"] = list(md["choices"])
        if md.get("metavar"):
            kw["metavar"] = md["metavar"]
        if f.name in required:
            kw["required"] = True
        target.add_argument(*flags, **kw)


def given(cls, args: argparse.Namespace) -> dict:
    """The fields of ``cls`` that ``args`` holds a value for (options given on the command line)."""
    out = {}
    for f in dataclasses.fields(cls):
        v = getattr(args, f.name, None)
        if v is not None:
            out[f.name] = v
    return out


def from_args(cls, args: argparse.Namespace, **overrides):
    """An instance of ``cls`` from the given options (others keep the dataclass defaults)."""
    kw = given(cls, args)
    kw.update(overrides)
    return cls(**kw)


def add_runtime_options(parser, *, only: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> None:
    """--model --weights --backend --device --precision --batch and the backend extras."""
    add_options(parser, RuntimeOptions, only=only, exclude=exclude, title="model and runtime")


def runtime_from_args(args: argparse.Namespace, **overrides) -> RuntimeOptions:
    return from_args(RuntimeOptions, args, **overrides)

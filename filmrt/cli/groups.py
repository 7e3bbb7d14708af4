"""CLI option groups generated from the options dataclasses.

Each dataclass field with :func:`filmrt.options.opt` metadata becomes one option. argparse's own
default is ``None`` (not given) and :func:`from_args` passes only the options that were given, so
the dataclass default is the single source of every default; ``--help`` shows it. A bool field
is a switch: ``--name`` turns on one whose default is False, ``--no-name`` turns off one whose
default is True.

:class:`~filmrt.options.RuntimeOptions` is composed: besides its own fields it carries one settings
object per backend (:data:`filmrt.options.SETTINGS`). :func:`add_runtime_options` adds their fields
too, one titled group per backend, and :func:`runtime_from_args` routes them back (their names are
unique across the composed groups, so the namespace can be flat).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable

from filmrt.options import SETTINGS, RuntimeOptions, flag_of

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
    fields = list(_fields(cls, only, exclude))
    if not fields:
        return  # no empty titled group in --help
    target = parser.add_argument_group(title) if title else parser
    required = set(required)
    for f in fields:
        md = f.metadata
        default = _default(f)
        flags = [flag_of(f)]
        if md.get("short"):
            flags.insert(0, md["short"])
        typ = _type_of(f, default)
        help_text = md["help"]
        if typ is bool:
            if default is True:  # a switch that is on: the flag turns it off
                flags = ["--no-" + flags[-1][2:]]
            target.add_argument(*flags, dest=f.name, action="store_const", const=not default, default=None,
                                help=help_text)
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


def add_runtime_options(parser, *, only: Iterable[str] | None = None, exclude: Iterable[str] = (),
                        titled: bool = True) -> None:
    """--model --weights --backend --device --precision --batch, the backend extras, the cache and
    each backend's settings (``--ov-hint``, ``--trt-workspace`` ...: one group per backend).
    ``only``/``exclude`` name fields of RuntimeOptions or of the settings; ``titled=False`` adds
    every option to ``parser`` itself (an argument group: argparse does not nest groups)."""
    add_options(parser, RuntimeOptions, only=only, exclude=exclude, title="model and runtime" if titled else None)
    for group, cls in SETTINGS.items():
        add_options(parser, cls, only=only, exclude=exclude, title=f"{group} backend" if titled else None)


def runtime_given(args: argparse.Namespace) -> dict:
    """The RuntimeOptions and backend-settings fields ``args`` holds a value for, flat."""
    out = given(RuntimeOptions, args)
    for cls in SETTINGS.values():
        out |= given(cls, args)
    return out


def runtime_from_args(args: argparse.Namespace, *, exclude: Iterable[str] = (), **overrides) -> RuntimeOptions:
    """RuntimeOptions from the options of :func:`add_runtime_options` that were given (others keep
    their defaults), the settings fields routed to their objects; ``exclude`` names fields to
    leave out (those a command defines itself)."""
    exclude = set(exclude)
    kw = {k: v for k, v in runtime_given(args).items() if k not in exclude}
    return RuntimeOptions.build(**(kw | overrides))

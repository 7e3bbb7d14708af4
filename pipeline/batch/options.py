"""What ``filmrt batch`` needs besides SRC, DST and the conversion options: :class:`BatchOptions`.

The conversion itself is described by :class:`filmrt.pipeline.options.ConvertOptions` (one for
every file); these are the options of the batch run around it: which files, where the work runs,
how often a failure is retried, what is reported. Each default is written once, here; the
``filmrt batch`` options are generated from the fields (:mod:`filmrt.cli.groups`). Everything is
checked when the object is made, so a bad option fails before DST or its manifest exist.

CPU threads per worker are not a batch option: they are the runtime's ``threads``
(``--threads``, :class:`filmrt.options.RuntimeOptions`), which batch also uses to size Ray CPU
tasks and, when unset, divides the machine's cores between local workers.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions, opt

_GPUS_HINT = "give CUDA device indices like 0,1,2 (or 'all')"


def parse_gpus(value: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """``"0,1"`` / ``"all"`` / ``[0, 1]`` -> ``(0, 1)``; ``"all"`` asks PyTorch how many GPUs exist."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "all":
            n = torch.cuda.device_count()
            if n == 0:
                raise FilmrtError("--gpus all: PyTorch sees no CUDA GPU on this machine")
            return tuple(range(n))
        try:
            gpus = tuple(int(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise FilmrtError(f"--gpus {value!r}: {_GPUS_HINT}") from None
    else:
        gpus = tuple(int(x) for x in value)
    if not gpus or any(g < 0 for g in gpus):
        raise FilmrtError(f"--gpus {value!r}: {_GPUS_HINT}")
    return gpus


class JobOptions(Protocol):
    """What batch reads of a job's conversion options: :class:`~filmrt.pipeline.options.ConvertOptions`,
    or a custom converter's own frozen dataclass with at least these fields. The rest is handed to the
    converter untouched and hashed for resume (fields marked ``opt(output=False)`` left out)."""

    fps: str
    runtime: RuntimeOptions


@dataclass(frozen=True)
class BatchOptions:
    """How a batch run finds its files, where it runs them and what it reports."""

    workers: int | None = field(default=None, metadata=opt(
        "local worker processes, one model each (default: one per --gpus entry, else 1; 0 = in this "
        "process). With --ray: most tasks at once (default: what the cluster can run)", metavar="N"))
    #: CUDA device indices (a string such as "0,1" or "all" is parsed when the object is made)
    gpus: tuple[int, ...] | None = field(default=None, metadata=opt(
        "CUDA devices, one worker pinned to each (round robin if --workers is larger); 'all'. "
        "With --ray: run GPU tasks (num_gpus=1), Ray picks the devices", metavar="0,1,...", type=str))
    #: None/False: local; True: $RAY_ADDRESS, a cluster started here, else a private one; str: that address
    ray: str | bool | None = field(default=None, metadata=opt(
        "run the jobs as Ray tasks on the cluster at ADDRESS (host:port); without ADDRESS: "
        "$RAY_ADDRESS or a cluster started here with `ray start --head`, else a private local one",
        metavar="ADDRESS", cli=False))  # an optional value: added by filmrt.pipeline.batch.cli
    include: tuple[str, ...] = field(default=(), metadata=opt(
        "only files whose path relative to SRC (or name) matches; repeatable", metavar="GLOB", cli=False))
    exclude: tuple[str, ...] = field(default=(), metadata=opt(
        "skip matching files; repeatable", metavar="GLOB", cli=False))
    probe: bool = field(default=False, metadata=opt(
        "also open files with unknown extensions and take those holding video"))
    ext: str | None = field(default=None, metadata=opt(
        "output container for every file, e.g. mp4 (default: the source's; .mkv for mpg/webm/wmv/...)",
        metavar="EXT"))
    #: failed attempts retried per file (so up to retries + 1 attempts)
    retries: int = field(default=2, metadata=opt("retry a failed file up to K times", metavar="K"))
    overwrite: bool = field(default=False, metadata=opt(
        "replace files in DST that filmrt batch did not make, changed since it made them, or made for "
        "another source (a name clash); by default they are left alone and reported as failed",
        flag="--overwrite"))
    retry_failed: bool = field(default=False, metadata=opt("retry files an earlier run gave up on"))
    dry_run: bool = field(default=False, metadata=opt("list what would be converted and why; change nothing"))
    json_report: str | None = field(default=None, metadata=opt(
        "write the report (every file, status, reason) here", flag="--json", metavar="REPORT"))
    quiet: bool = field(default=False, metadata=opt(
        "no progress bar and no per-file lines (failures still show)"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpus", parse_gpus(self.gpus))
        object.__setattr__(self, "include", _patterns(self.include))
        object.__setattr__(self, "exclude", _patterns(self.exclude))
        if self.workers is not None and not 0 <= int(self.workers) <= 256:
            raise FilmrtError(f"--workers {self.workers}: must be 0..256")
        if int(self.retries) < 0:
            raise FilmrtError("--retries must be >= 0")
        if self.json_report and os.path.isdir(self.json_report):
            raise FilmrtError(f"--json {self.json_report} is a directory: name a file")
        if self.ray in ("", False):
            object.__setattr__(self, "ray", None)

    @property
    def local(self) -> bool:
        """The jobs run on this machine (not as Ray tasks)."""
        return self.ray is None

    def replace(self, **changes) -> BatchOptions:
        return dataclasses.replace(self, **changes)


def _patterns(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # one pattern, not its characters
        return (value,)
    return tuple(value)

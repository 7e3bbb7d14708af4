"""The state one bench run shares between its sections: settings, device, models, work folder, skips.

:class:`ModelCache` gives every section the same weights for a model; :class:`RunContext` carries
it with the resolved settings and the list of what was not measured (and why), which the report
prints under "Not measured".
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import NamedTuple

import torch

from filmrt import weights as W
from filmrt.bench.settings import BenchSettings
from filmrt.models import get_spec, load_model
from filmrt.options import RuntimeOptions


class ModelWeights(NamedTuple):
    #: weights file to load (None: the installed ones, or none for a parameter-free model)
    path: str | None
    #: how the result describes them
    description: str
    #: seeded random weights (no real ones installed): timing is valid, quality is not
    random: bool = False


class ModelCache:
    """Builds each model's weights once; a model without installed weights gets seeded random ones.

    Timing does not depend on weight values, so a model whose weights are not installed (FILM:
    its released weights cannot be obtained here) is benchmarked with random weights in its full
    configuration, written to a temporary safetensors file so every backend loads the same thing.
    ``configs`` ({model: config}) forces random weights in another configuration (a dry run's small FILM).
    """

    def __init__(self, workdir: Path, configs: dict | None = None):
        self.workdir = workdir
        self.configs = configs or {}
        self._weights: dict[str, ModelWeights] = {}

    def weights_for(self, name: str) -> ModelWeights:
        if name in self._weights:
            return self._weights[name]
        spec = get_spec(name)
        if not spec.needs_weights:
            res = ModelWeights(None, "none (parameter-free)")
        elif W.find(spec.name) and spec.name not in self.configs:
            res = ModelWeights(None, f"installed: {Path(W.find(spec.name)).name}")
        else:
            torch.manual_seed(0)
            config = dict(self.configs.get(spec.name) or spec.default_config)
            net = spec.build(config)
            path = self.workdir / f"{spec.name}-random.safetensors"
            W.save(path, net.state_dict(), spec.name, config, source="bench random init")
            res = ModelWeights(str(path), "random (seeded; no weights installed; timing does not depend on "
                               "weight values)", random=True)
        self._weights[name] = res
        return res

    def module(self, name: str, device: torch.device) -> torch.nn.Module:
        return load_model(name, weights=self.weights_for(name).path, device=device)

    def runtime(self, name: str, **fields) -> RuntimeOptions:
        """RuntimeOptions for ``name`` with this cache's weights (``fields``: backend, device, ...)."""
        return RuntimeOptions(model=name, weights=self.weights_for(name).path, **fields)


@dataclasses.dataclass
class RunContext:
    #: resolved settings (no None left where a default is chosen for the device)
    settings: BenchSettings
    device: torch.device
    cache: ModelCache
    #: temporary folder of this run (random weights, encoded outputs)
    workdir: Path
    #: what was not measured: {"what", "why"}
    skipped: list[dict] = dataclasses.field(default_factory=list)

    def skip(self, what: str, why: BaseException | str) -> None:
        reason = why if isinstance(why, str) else f"{type(why).__name__}: {why}"
        self.skipped.append({"what": what, "why": reason})

    def log(self, msg: str) -> None:
        """A progress line on stderr (not with ``quiet``)."""
        if not self.settings.quiet:
            print(f"[bench] {msg}", file=sys.stderr, flush=True)

    def runtime(self, model: str, **fields) -> RuntimeOptions:
        """The runtime of ``model`` for the end-to-end runs: the first asked backend (else
        auto), the first precision, this device."""
        s = self.settings
        base = {"backend": (s.backends or ["auto"])[0], "device": str(self.device), "precision": s.precisions[0],
                "max_batch": s.e2e_batch}
        return self.cache.runtime(model, **{**base, **fields})

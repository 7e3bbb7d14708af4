"""FILM: parity with the reference (golden fixture), staged == whole, layout == the manifests.

The parity test is THE proof that filmrt's FILM is FILM: the official-format checkpoint of the
small fixture model is imported with ``filmrt weights import`` and every output of the reference
code (image, warped inputs, forward/backward flow and residual flow pyramids) is matched.
Naming: ``forward`` = flow estimated from (frame0, frame1), used to read frame 1; ``backward`` =
from (frame1, frame0), used to read frame 0 -- the reference's names, which the fixture uses too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import filmrt
from filmrt.models.film import FILM, PAPER_CONFIG, checkpoint_layout

pytestmark = pytest.mark.usefixtures("one_thread")


def nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def small_weights(film_small_imported):
    return film_small_imported


@pytest.fixture(scope="module")
def io(shared):
    return np.load(shared / "fixtures" / "film" / "film_net_small_io.npz")


def test_parity_with_reference(small_weights, io):
    model = filmrt.load_model(small_weights)
    assert model.name == "film" and not model.training
    x0, x1 = nchw(io["x0"]), nchw(io["x1"])
    t = torch.from_numpy(io["time"]).reshape(-1)
    assert torch.all(t == 0.5)
    with torch.no_grad():
        image, aux = model(x0, x1, t, return_aux=True)

    def check(ours: torch.Tensor, key: str) -> None:
        ref = nchw(io[key])
        assert ours.shape == ref.shape, key
        err = float((ours - ref).abs().max())
        assert err <= 1e-4, f"{key}: max abs error {err:.3g}"

    check(image, "image")
    check(aux["x0_warped"], "x0_warped")
    check(aux["x1_warped"], "x1_warped")
    levels = {"flow": 3, "residual_flow": 4}  # fusion levels / all pyramid levels of the small config
    for direction in ("forward", "backward"):
        for kind, n in levels.items():
            ours = aux[f"{direction}_{kind}_pyramid"]
            assert len(ours) == n
            for i in range(n):
                check(ours[i], f"{direction}_{kind}_pyramid_{i}")


def test_staged_equals_forward(small_weights, io):
    model = filmrt.load_model(small_weights)
    x0, x1 = nchw(io["x0"]), nchw(io["x1"])
    t = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        whole = model(x0, x1, t)
        s0, s1 = model.encode_frame(x0), model.encode_frame(x1)
        pair = model.encode_pair(s0, s1)
        staged = model.decode(s0, s1, pair, t)
    assert torch.equal(whole, staged)
    assert model.pad_align == "center" and model.pad_multiple == 64


def test_layout_matches_manifests(shared):
    fx = shared / "fixtures" / "film"
    for name in ("film_net_small_config.json", "film_net_full_variables.json"):
        d = json.loads((fx / name).read_text())
        ours = [(v.checkpoint_key, v.keras_name, list(v.shape)) for v in checkpoint_layout(d["config"])]
        ref = [(v["checkpoint_key"], v["keras_name"], v["shape"]) for v in d["variables"]]
        assert ours == ref, name
    full = json.loads((fx / "film_net_full_variables.json").read_text())
    assert sum(int(np.prod(v["shape"])) for v in full["variables"]) == full["num_params"] == 34_436_667


def test_paper_model_structure():
    layout = checkpoint_layout(PAPER_CONFIG)
    model = FILM(PAPER_CONFIG)
    sd = model.state_dict()
    assert len(layout) == len(sd) == 82
    assert sum(p.numel() for p in model.parameters()) == 34_436_667
    for v in layout:
        s = v.shape
        want = (s[3], s[2], s[0], s[1]) if v.is_kernel else s
        assert tuple(sd[v.param].shape) == want, v
    # the 7-level model runs end to end on the smallest legal frame (64x64: level 6 is 1x1)
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.rand(1, 3, 64, 64, generator=g), torch.rand(1, 3, 64, 64, generator=g)
    with torch.no_grad():
        image, aux = model(x0, x1, torch.tensor([0.5]), return_aux=True)
    assert image.shape == (1, 3, 64, 64) and torch.isfinite(image).all()
    assert [f.shape[-1] for f in aux["forward_residual_flow_pyramid"]] == [64, 32, 16, 8, 4, 2, 1]
    assert [f.shape[-1] for f in aux["backward_flow_pyramid"]] == [64, 32, 16, 8, 4]


def test_rejects_unpadded_input():
    model = FILM({**PAPER_CONFIG, "filters": 4, "flow_filters": [4, 4, 4, 4]})
    with pytest.raises(ValueError, match="divisible by 64"):
        model(torch.zeros(1, 3, 60, 64), torch.zeros(1, 3, 60, 64), torch.tensor([0.5]))

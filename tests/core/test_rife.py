"""RIFE 4.25: parameter names, weights conversion, shipped weights, parity with the reference run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import filmrt
from filmrt import warp as warp_mod
from filmrt import weights as W
from filmrt.errors import FilmrtError
from filmrt.models import default_model_name, get_spec
from filmrt.models.rife import IFNet, convert_pkl, inference_state_dict

PKL_SHA256 = "1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44"


@pytest.fixture(scope="module")
def pkl(shared):
    p = shared / "weights" / "rife-4.25" / "flownet.pkl"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return p


@pytest.fixture(scope="module")
def ref(shared):
    p = shared / "fixtures" / "rife" / "rife425_io.npz"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return dict(np.load(p))


@pytest.fixture(scope="module")
def model():
    return filmrt.load_model("rife-4.25")


def test_architecture_parameter_count_and_attributes():
    net = IFNet()
    assert sum(p.numel() for p in net.parameters()) == 5_664_776
    assert len(net.state_dict()) == 158
    assert (net.name, net.pad_align, net.pad_multiple) == ("rife-4.25", "end", 64)
    for k in ("block0.conv0.0.0.weight", "block0.convblock.3.beta", "block4.lastconv.0.weight", "encode.cnn3.bias"):
        assert k in net.state_dict()


def test_shipped_weights_found_without_user_weights():
    # conftest points FILMRT_WEIGHTS_DIR at an empty dir: only the shipped file can be found
    p = W.find("rife-4.25")
    assert p is not None and p.parent == W.shipped_weights_dir()
    meta = W.info(p).metadata
    assert meta["model"] == "rife-4.25" and meta["version"] == "4.25"
    assert meta["source_sha256"] == PKL_SHA256 and meta["license"] == "MIT"
    net = filmrt.load_model("rife-4.25")
    assert isinstance(net, IFNet) and not net.training
    assert get_spec("rife").name == "rife-4.25"
    if W.find("film") is None:
        assert default_model_name() == "rife-4.25"


def test_convert_pkl_matches_shipped_tensors(pkl, tmp_path):
    out = convert_pkl(pkl, tmp_path / "r.safetensors")
    tensors, wi = W.load(out)
    assert wi.model == "rife-4.25" and wi.metadata["source_sha256"] == PKL_SHA256
    assert not any(k.startswith(("teacher.", "caltime.")) for k in tensors)
    raw = torch.load(pkl, map_location="cpu", weights_only=True)
    assert len(raw) == 198 and len(tensors) == 158
    shipped, _ = W.load(W.shipped_weights_dir() / "rife-4.25.safetensors")
    assert shipped.keys() == tensors.keys()
    for k in tensors:  # bit-identical to the pkl and to what ships
        assert torch.equal(tensors[k], raw[k]) and torch.equal(tensors[k], shipped[k]), k
    # the converted file is itself a model file
    assert isinstance(filmrt.load_model(out), IFNet)


def test_inference_state_dict_strips_module_prefix():
    sd = {"module." + k: v for k, v in IFNet().state_dict().items()}
    sd["module.teacher.x"] = torch.zeros(1)
    sd["caltime.y"] = torch.zeros(1)
    clean = inference_state_dict(sd)
    IFNet().load_state_dict(clean, strict=True)


def test_convert_pkl_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.pkl"
    torch.save({"conv.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(FilmrtError, match="does not hold RIFE 4.25"):
        convert_pkl(bad, tmp_path / "o.safetensors")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(FilmrtError, match="cannot read"):
        convert_pkl(junk, tmp_path / "o.safetensors")
    with pytest.raises(FilmrtError, match="not found"):
        convert_pkl(tmp_path / "missing.pkl", tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()


# Bounds of the parity with the reference run (Practical-RIFE's own code, float32, CPU), valid on
# any x86-64. The model is ~40 float32 convolutions deep; each output sums K = 9 * C_in (up to
# ~1,700) products, and oneDNN orders those sums differently with AVX2, AVX-512 or AMX kernels. A
# reordered float32 sum differs by about sqrt(K) * 2^-24 ~ 3e-6 of the magnitude of its terms per
# layer, so after the whole network values of magnitude <= ~1 (the frame in [0, 1], this fixture's
# sub-pixel flows) differ by ~1e-5 between CPUs: measured 1.8e-5 on Intel (AVX-512), below 2e-5 on
# AMD (AVX2). 1e-4 leaves a margin of 5x over that.
PARITY = 1e-4


def _sigmoid_gap(mask, ref_mask) -> float:
    """Largest difference of the blending weights sigmoid(mask): what the model uses the mask for.

    The mask is a logit of magnitude up to ~14 here; float32 rounding is relative to magnitude, so
    the logit itself differs between CPUs by ~1e-5 * 14 (AMD AVX2: 1.6e-4). The sigmoid removes that
    scale: sigmoid' <= 1/4 and |x| * sigmoid'(x) <= 0.224, so a logit off by a relative e moves the
    weight by at most 0.224 * e, and the weight then moves the frame by |w0 - w1| * gap <= gap.
    The weights are held to the same PARITY as the frame they blend.
    """
    return (torch.sigmoid(mask) - torch.sigmoid(ref_mask)).abs().max().item()


@pytest.mark.parametrize("tag,t", [("050", 0.5), ("025", 0.25)])
def test_parity_with_reference(model, ref, tag, t):
    a, b = torch.from_numpy(ref["img0"]), torch.from_numpy(ref["img1"])
    with torch.inference_mode():
        merged, flow, mask = model.forward_with_aux(a, b, torch.tensor([t]))
        plain = model(a, b, torch.tensor([t]))
    assert torch.equal(plain, merged)
    assert (merged.clamp(0, 1) - torch.from_numpy(ref[f"merged_t{tag}"])).abs().max() <= PARITY
    assert (flow - torch.from_numpy(ref[f"flow_t{tag}"])).abs().max() <= PARITY
    # The mask is a logit before the sigmoid (|values| up to ~14): it amplifies the float32 rounding
    # difference between filmrt's warp grid and the reference's (see the next test); 1e-3 here.
    assert (mask - torch.from_numpy(ref[f"mask_t{tag}"])).abs().max() <= 1e-3


def _reference_grid_warp(image, flow):
    """The same warp written the way Practical-RIFE forms its grid (linspace + flow / ((W-1)/2)).

    Only used here, to show that the mask residual above is float32 rounding of the sampling grid.
    """
    n, _, h, w = flow.shape
    gx = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(n, 1, h, w)
    gy = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(n, 1, h, w)
    d = torch.cat([flow[:, 0:1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
    g = (torch.cat([gx, gy], 1) + d).permute(0, 2, 3, 1)
    return F.grid_sample(image, g, mode="bilinear", padding_mode="border", align_corners=True)


@pytest.fixture
def reference_grid_warp():
    """``_reference_grid_warp`` registered as a warp implementation for one test, then removed."""
    name = "test-rife-reference-grid"
    warp_mod.register_warp_impl(name, _reference_grid_warp)
    try:
        yield name
    finally:
        warp_mod.unregister_warp_impl(name)


def test_mask_parity_with_reference_grid_formula(model, ref, reference_grid_warp):
    """With the reference's own grid formula the mask's residual is float32 rounding like the rest of
    the network's: the blending weights sigmoid(mask) match to PARITY (measured 1.8e-5 on Intel; the
    logit's largest difference, 7.6e-5 on Intel and 1.6e-4 on AMD, bounds it by 4e-5 through
    sigmoid' <= 1/4). The logit itself is not held to an absolute bound: its rounding grows with its
    magnitude (see _sigmoid_gap)."""
    a, b = torch.from_numpy(ref["img0"]), torch.from_numpy(ref["img1"])
    with warp_mod.use_warp_impl(reference_grid_warp), torch.inference_mode():
        for tag, t in (("050", 0.5), ("025", 0.25)):
            _, _, mask = model.forward_with_aux(a, b, torch.tensor([t]))
            assert _sigmoid_gap(mask, torch.from_numpy(ref[f"mask_t{tag}"])) <= PARITY
    assert reference_grid_warp in warp_mod.warp_impls()  # (the fixture removes it after the test)


def test_time_conditioning_and_batch(model, ref):
    a, b = torch.from_numpy(ref["img0"]), torch.from_numpy(ref["img1"])
    with torch.inference_mode():
        out = model(torch.cat([a, a]), torch.cat([b, b]), torch.tensor([0.5, 0.25]))
    assert out.shape == (2, 3, 128, 192)
    assert (out[0:1].clamp(0, 1) - torch.from_numpy(ref["merged_t050"])).abs().max() <= PARITY
    assert (out[1:2].clamp(0, 1) - torch.from_numpy(ref["merged_t025"])).abs().max() <= PARITY


def test_interpolator_pads_at_the_end_and_crops(model, ref):
    """Through the Interpolator on a non-multiple-of-64 size: same as padding right/bottom by hand."""
    from filmrt.engine import open_interpolator

    a, b = torch.from_numpy(ref["img0"])[..., :100, :150], torch.from_numpy(ref["img1"])[..., :100, :150]
    interp = open_interpolator("rife-4.25", backend="torch")
    assert interp.pad_align == "end" and interp.model_name == "rife-4.25"
    got = interp.interpolate(a, b, [0.5])
    with torch.inference_mode():
        want = model(F.pad(a, (0, 42, 0, 28)), F.pad(b, (0, 42, 0, 28)), torch.tensor([0.5]))
    assert got.shape == (1, 3, 100, 150)
    assert torch.allclose(got, want[..., :100, :150].clamp(0, 1), atol=1e-6)

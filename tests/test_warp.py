import numpy as np
import pytest
import torch

from filmrt.warp import backward_warp, use_warp_impl, warp_grid_sample


def _fixture(shared):
    d = np.load(shared / "fixtures" / "warp" / "warp_io.npz")
    nchw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return nchw(d["image"]), nchw(d["flow"]), nchw(d["warped"])


def test_matches_reference_fixture(shared):
    image, flow, warped = _fixture(shared)
    out = backward_warp(image, flow)
    assert out.shape == warped.shape and out.dtype == torch.float32
    assert (out - warped).abs().max().item() <= 1e-5
    # the fixture really exercises far-out-of-frame flows (clamped to the border)
    h, w = image.shape[-2:]
    assert flow[:, 0].abs().max() > w and flow[:, 1].abs().max() > h


def test_half_precision_uses_float32_coordinates(shared):
    image, flow, warped = _fixture(shared)
    for dtype, tol in ((torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)):
        out = backward_warp(image.to(dtype), flow)
        assert out.dtype == dtype
        assert (out.float() - warped).abs().max().item() <= tol


def test_zero_flow_is_identity_and_integer_shift_moves_pixels():
    img = torch.rand(3, 4, 9, 13)
    assert torch.allclose(backward_warp(img, torch.zeros(3, 2, 9, 13)), img, atol=1e-6)
    flow = torch.zeros(3, 2, 9, 13)
    flow[:, 0] = 2.0  # read 2 px to the right
    out = backward_warp(img, flow)
    assert torch.allclose(out[..., :-2], img[..., 2:], atol=1e-6)
    # the last two columns read past the right edge: clamped to the last column
    assert torch.allclose(out[..., -1], img[..., -1], atol=1e-6)


def test_large_frames_address_pixels_exactly():
    # a 1-px shift on a 4096-wide frame must not blur (float32 coordinates)
    img = torch.rand(1, 1, 2, 4096)
    flow = torch.zeros(1, 2, 2, 4096)
    flow[:, 0] = 1.0
    out = backward_warp(img.half(), flow)
    assert torch.allclose(out[..., :-1].float(), img[..., 1:].half().float(), atol=1e-3)


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    flow = (torch.rand(2, 2, 6, 7, dtype=torch.float64) * 6 - 3).requires_grad_(True)
    assert torch.autograd.gradcheck(warp_grid_sample, (img, flow), eps=1e-6, atol=1e-5)


def test_shape_errors_and_impl_selection():
    with pytest.raises(ValueError):
        backward_warp(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 5))
    with pytest.raises(KeyError):
        with use_warp_impl("nope"):
            pass
    with use_warp_impl("grid_sample"):
        x = torch.rand(1, 1, 3, 3)
        assert torch.equal(backward_warp(x, torch.zeros(1, 2, 3, 3)), warp_grid_sample(x, torch.zeros(1, 2, 3, 3)))

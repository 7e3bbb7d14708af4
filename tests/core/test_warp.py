import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from filmrt.warp import (
    backward_warp,
    current_warp_impl,
    register_warp_impl,
    unregister_warp_impl,
    use_warp_impl,
    warp_grid_sample,
    warp_impls,
)


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


class _Counting:
    """A warp implementation that counts its calls (and computes the reference)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, image, flow):
        self.calls += 1
        return warp_grid_sample(image, flow)


@pytest.fixture
def counting_impl():
    """A fake implementation registered under a name for one test, and unregistered after it."""
    fn = _Counting()
    register_warp_impl("test-counting", fn)
    try:
        yield fn
    finally:
        unregister_warp_impl("test-counting")
    assert "test-counting" not in warp_impls()


def test_impl_choice_is_scoped_nests_and_stays_in_its_thread(counting_impl):
    x, f = torch.rand(1, 1, 3, 3), torch.zeros(1, 2, 3, 3)
    assert current_warp_impl() is warp_grid_sample  # registering chose nothing
    backward_warp(x, f)
    assert counting_impl.calls == 0
    with use_warp_impl("test-counting"):
        backward_warp(x, f)
        assert counting_impl.calls == 1
        with use_warp_impl("grid_sample"):  # the innermost block wins
            backward_warp(x, f)
        assert counting_impl.calls == 1
        other = threading.Thread(target=backward_warp, args=(x, f))  # another thread: its own choice
        other.start()
        other.join()
        assert counting_impl.calls == 1
        backward_warp(x, f)
        assert counting_impl.calls == 2
    backward_warp(x, f)  # after the block: the reference again
    assert counting_impl.calls == 2 and current_warp_impl() is warp_grid_sample
    with use_warp_impl(counting_impl):  # a function works without a name
        backward_warp(x, f)
    assert counting_impl.calls == 3
    with pytest.raises(ValueError):
        register_warp_impl("grid_sample", counting_impl)
    with pytest.raises(TypeError):
        with use_warp_impl(3):
            pass


def test_importing_the_stages_registers_and_chooses_nothing():
    """Importing the exporter (plugin warp), the backends and the CLI leaves the warp as it was."""
    code = (
        "import filmrt.warp as w\n"
        "before = w.warp_impls()\n"
        "import filmrt.export, filmrt.export.plugin, filmrt.engine.torch_backend, filmrt.engine.ort_backend\n"
        "import filmrt.engine.trt.backend, filmrt.engine.cuda.warp_kernel, filmrt.engine.cuda.fast, filmrt.cli.main\n"
        "assert w.warp_impls() == before == ['grid_sample'], w.warp_impls()\n"
        "assert w.current_warp_impl() is w.warp_grid_sample\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_exporting_a_plugin_graph_leaves_the_warp_as_it_was():
    from filmrt.export import export_graphs
    from filmrt.models.blend import Blend

    class Warps(Blend):  # the smallest model with a warp: blend of a with b warped by a zero flow
        def forward(self, img0, img1, t):
            return super().forward(img0, backward_warp(img1, torch.zeros_like(img1[:, :2])), t)

    before = warp_impls()
    graphs = export_graphs(Warps(), warp="plugin")
    assert [n.op_type for n in graphs["model"].graph.node].count("BackwardWarp") == 1
    assert warp_impls() == before and current_warp_impl() is warp_grid_sample

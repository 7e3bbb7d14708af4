"""The trt backend without TensorRT: availability reasons, profile selection and FILM stage plumbing
(on stand-in engines), the torch CUDA fast-path flags."""

import pytest
import torch

from filmrt.engine import backend_available, open_interpolator
from filmrt.engine.cuda import fast as cuda_fast
from filmrt.engine.trt import backend as tbk
from filmrt.errors import FilmrtError
from filmrt.stages import LRU, tree_cat


def _has_trt():
    try:
        import tensorrt  # noqa: F401

        return True
    except ImportError:
        return False


def test_available_says_why_not():
    ok, why = tbk.available(torch.device("cpu"))
    assert not ok and "NVIDIA GPU" in why
    ok, why = backend_available("trt", torch.device("cuda"))
    if not _has_trt():
        assert not ok and "TensorRT is not installed" in why and "pip install" in why
    elif not torch.cuda.is_available():
        assert not ok and "CUDA" in why


def test_open_interpolator_refuses_trt_on_cpu():
    with pytest.raises(FilmrtError, match="trt"):
        open_interpolator("blend", backend="trt", device="cpu")
    with pytest.raises(FilmrtError, match="--engine.*trt: TensorRT runs on NVIDIA GPUs only"):
        open_interpolator("rife-4.25", engine="rife.engine")  # auto picks a backend that takes --engine


def test_trt_backend_takes_its_options_and_refuses_others():
    """The trt backend takes (model, RuntimeOptions): --engine/--onnx (the extras for trt) and its
    TrtSettings; another backend's option is refused by RuntimeOptions, and a precision it cannot
    run by the one precision check (before TensorRT is needed)."""
    import inspect

    from filmrt.options import EXTRAS, RuntimeOptions

    params = inspect.signature(tbk.TrtInterpolator).parameters
    assert list(params) == ["model", "options"]
    assert {x for x, backends in EXTRAS.items() if "trt" in backends} == {"engine", "onnx"}
    with pytest.raises(FilmrtError, match="--threads is an option of the torch, ort and openvino backends"):
        RuntimeOptions(backend="trt", threads=2)
    with pytest.raises(FilmrtError, match="--ov-hint is an option of the openvino backend, not of 'trt'"):
        RuntimeOptions.build(backend="trt", ov_hint="latency")
    with pytest.raises(FilmrtError, match="trt backend runs fp16 or fp32, not bf16"):
        tbk.TrtInterpolator("rife-4.25", RuntimeOptions(precision="bf16"))
    with pytest.raises(FilmrtError, match="unknown precision 'fp8'"):
        tbk.TrtInterpolator("rife-4.25", RuntimeOptions.build(trt_cuda_graph=True).replace(precision="fp8"))


class _FakeEngine:
    """What TrtEngine reads from a TensorRT engine: per-input profile shapes."""

    def __init__(self, profiles):
        self.profiles = profiles  # list of {name: (min, opt, max)}

    def get_tensor_profile_shape(self, name, k):
        return self.profiles[k][name]


def _engine(profiles, inputs=("img0", "t")):
    e = tbk.TrtEngine.__new__(tbk.TrtEngine)
    e.engine = _FakeEngine(profiles)
    e.num_profiles = len(profiles)
    e.inputs = list(inputs)
    e.path = tbk.Path("toy.engine")
    return e


def test_profile_selection_and_batch_limits():
    p720 = {"img0": ((1, 3, 768, 1280), (4, 3, 768, 1280), (4, 3, 768, 1280)), "t": ((1,), (4,), (4,))}
    p1080 = {"img0": ((1, 3, 1088, 1920), (2, 3, 1088, 1920), (2, 3, 1088, 1920)), "t": ((1,), (2,), (2,))}
    e = _engine([p720, p1080])
    assert e.pick_profile({"img0": (3, 3, 768, 1280), "t": (3,)}) == 0
    assert e.pick_profile({"img0": (2, 3, 1088, 1920), "t": (2,)}) == 1
    assert e.pick_profile({"img0": (3, 3, 1088, 1920), "t": (3,)}) is None  # batch too large
    assert e.max_batch({"img0": (8, 3, 1088, 1920), "t": (8,)}) == 2
    assert e.max_batch({"img0": (8, 3, 2176, 3840), "t": (8,)}) == 0
    assert e.covers(1, 1088, 1920) and not e.covers(1, 2176, 3840)
    assert "min (1, 3, 768, 1280)" in e.describe_profiles()


def test_outside_profile_is_a_clear_error(monkeypatch):
    p = {"img0": ((1, 3, 64, 64), (1, 3, 64, 64), (1, 3, 64, 64)), "t": ((1,), (1,), (1,))}
    e = _engine([p])
    e.device = torch.device("cpu")
    e.dtypes = {"img0": torch.float32, "t": torch.float32}
    with pytest.raises(FilmrtError, match="outside the profile.*build-engine --shapes"):
        e.run({"img0": torch.zeros(1, 3, 128, 64), "t": torch.zeros(1)})


def test_stage_feeds_are_assembled_by_name():
    e = _engine([{}], inputs=["frame0.feat_0", "frame1.feat_0", "flow_fwd_0", "t"])
    s0 = tree_cat([{"feat_0": torch.full((1, 2), float(i))} for i in range(3)])  # batched states
    s1 = tree_cat([{"feat_0": torch.full((1, 2), 10.0 + i)} for i in range(3)])
    feeds = tbk.TrtInterpolator._stack_frames(e, s0, s1)
    assert set(feeds) == {"frame0.feat_0", "frame1.feat_0"}
    assert feeds["frame0.feat_0"][:, 0].tolist() == [0, 1, 2]
    assert feeds["frame1.feat_0"][:, 0].tolist() == [10, 11, 12]


def test_lru_keeps_the_most_recent():
    c = LRU(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1
    c.put("c", 3)
    assert "b" not in c and c.get("a") == 1 and c.get("c") == 3


def test_cuda_fast_flags():
    assert cuda_fast.parse_flags(None) == ("warp",)
    assert cuda_fast.parse_flags("") == ()
    assert cuda_fast.parse_flags("cudagraphs") == ("cudagraphs", "compile")
    assert set(cuda_fast.parse_flags("all")) == set(cuda_fast.FLAGS)
    with pytest.raises(FilmrtError, match="unknown fast-path"):
        cuda_fast.parse_flags("warp,turbo")
    m = torch.nn.Conv2d(3, 3, 1)
    r = cuda_fast.apply(m, torch.device("cpu"), "warp,compile")
    assert r.applied == [] and set(r.skipped) == {"warp", "compile"}
    assert m.forward.__func__ is torch.nn.Conv2d.forward  # nothing changed on CPU


def test_cuda_fast_warp_is_scoped_to_the_interpolator_that_chose_it(monkeypatch):
    """A CUDA-fast TorchInterpolator runs ITS calls on the kernel; nobody else's warp changes.

    On the CPU: the kernel is stood in for by a counting function, and the interpolator is made
    the way it is on CUDA (apply_fast returns the kernel as FastPath.warp)."""
    from filmrt.engine import torch_backend
    from filmrt.engine.cuda import warp_kernel
    from filmrt.warp import backward_warp, warp_grid_sample, warp_impls

    calls = []

    def fake_kernel(image, flow):
        calls.append(image.shape)
        return warp_grid_sample(image, flow)

    monkeypatch.setattr(warp_kernel, "available", lambda: (True, ""))
    monkeypatch.setattr(warp_kernel, "warp_cuda", fake_kernel)
    assert cuda_fast.apply(torch.nn.Identity(), torch.device("cuda"), "warp").warp is fake_kernel
    made = cuda_fast.FastPath(["warp"], {}, fake_kernel)
    monkeypatch.setattr(torch_backend, "apply_fast", lambda model, device, fast: made)

    before = warp_impls()
    fast = torch_backend.TorchInterpolator("rife-4.25")
    assert fast.warp_impl is fake_kernel and warp_impls() == before
    x, f = torch.rand(1, 3, 8, 8), torch.rand(1, 2, 8, 8)
    backward_warp(x, f)
    assert calls == []  # creating it changed nothing for other callers
    a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    got = fast.interpolate(a, b, [0.5])
    assert len(calls) > 0  # its own calls run on the "kernel"
    n = len(calls)
    backward_warp(x, f)
    monkeypatch.undo()
    plain = open_interpolator("rife-4.25", backend="torch")
    assert plain.warp_impl is None
    assert torch.equal(plain.interpolate(a, b, [0.5]), got)  # the fake computes the reference
    assert len(calls) == n  # after its call, and for another interpolator: the reference warp


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.gpu
def test_torch_backend_cuda_fast_path_matches_plain():
    from filmrt.engine.cuda import warp_kernel

    a, b = torch.rand(2, 3, 100, 130), torch.rand(2, 3, 100, 130)
    fast = open_interpolator("rife-4.25", backend="torch", device="cuda", precision="fp32", fast="warp")
    assert fast.fast.applied == ["warp"] and fast.warp_impl is warp_kernel.warp_cuda
    plain = open_interpolator("rife-4.25", backend="torch", device="cuda", precision="fp32", fast="none")
    assert plain.warp_impl is None  # the kernel is fast's choice, for its own calls only
    ref = plain.interpolate(a, b, [0.5, 0.25])
    d = (ref - fast.interpolate(a, b, [0.5, 0.25])).abs().max().item()
    assert d <= 1e-3


class _FakeStage:
    """A stage engine computing with torch: lets the FILM staged plumbing run on the CPU."""

    def __init__(self, inputs, outputs, fn):
        self.inputs, self.outputs, self.fn, self.batches = inputs, outputs, fn, []

    def covers(self, n, h, w):
        return True

    def run_batched(self, feeds):
        self.batches.append(next(iter(feeds.values())).shape[0])
        return self.fn(feeds)


def _staged_interp(max_batch=8):
    S = ["feat_0", "image_0"]
    feats = _FakeStage(["img"], S, lambda f: {"feat_0": f["img"] * 2, "image_0": f["img"]})
    flow_in = [p + s for p in tbk.FRAME_PREFIXES for s in S]
    flow = _FakeStage(flow_in, ["flow_fwd_0"], lambda f: {"flow_fwd_0": f["frame1.feat_0"] - f["frame0.feat_0"]})
    fusion = _FakeStage(
        flow_in + ["flow_fwd_0", "t"],
        ["image"],
        lambda f: {"image": f["frame0.image_0"] + f["t"].view(-1, 1, 1, 1) * f["flow_fwd_0"] / 2},
    )
    it = tbk.TrtInterpolator.__new__(tbk.TrtInterpolator)
    it.device, it.precision, it.max_batch = torch.device("cpu"), "fp32", max_batch
    it.staged, it._sources = True, {}
    it._engines = {"features": [feats], "flow": [flow], "fusion": [fusion]}
    it._make_stages(4)
    it.model_name, it.pad_align, it.pad_multiple = "film", "center", 64
    return it, feats, flow, fusion


def test_film_stages_reuse_features_per_frame_and_flows_per_pair():
    it, feats, flow, fusion = _staged_interp()
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 3, 50, 70, generator=g), torch.rand(1, 3, 50, 70, generator=g)
    ts = [0.25, 0.5, 0.75]
    out = it.interpolate(a.expand(3, -1, -1, -1), b.expand(3, -1, -1, -1), ts, keys_a=[0] * 3, keys_b=[1] * 3)
    want = torch.stack([(1 - t) * a[0] + t * b[0] for t in ts])
    assert torch.allclose(out, want, atol=1e-6)
    assert feats.batches == [2] and flow.batches == [1] and fusion.batches == [3]  # 2 frames, 1 pair
    # the next pair (1, 2) reuses frame 1's features from the cache
    c = torch.rand(1, 3, 50, 70, generator=g)
    out = it.interpolate(b, c, [0.5], keys_a=[1], keys_b=[2])
    assert torch.allclose(out, (b + c) / 2, atol=1e-6)
    assert feats.batches == [2, 1] and flow.batches == [1, 1]
    # the same pair again: features and flows both cached, fusion only
    it.interpolate(b, c, [0.3], keys_a=[1], keys_b=[2])
    assert feats.batches == [2, 1] and flow.batches == [1, 1] and fusion.batches == [3, 1, 1]


def test_film_stages_without_keys_cache_nothing():
    it, feats, flow, fusion = _staged_interp()
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    out = it.interpolate(a, b, [0.5, 0.5])
    assert torch.allclose(out, (a + b) / 2, atol=1e-6)
    it.interpolate(a, b, [0.5, 0.5])
    assert feats.batches == [4, 4] and flow.batches == [2, 2] and len(it.stages.frames) == 0


def test_run_batched_splits_to_the_profile_batch_limit(monkeypatch):
    p = {"img0": ((1, 3, 64, 64), (2, 3, 64, 64), (2, 3, 64, 64)), "t": ((1,), (2,), (2,))}
    e = _engine([p])
    seen = []

    def fake_run(feeds):
        seen.append(feeds["img0"].shape[0])
        return {"image": feeds["img0"] * feeds["t"].view(-1, 1, 1, 1)}

    monkeypatch.setattr(e, "run", fake_run)
    x, t = torch.rand(5, 3, 64, 64), torch.arange(5.0)
    out = e.run_batched({"img0": x, "t": t})["image"]
    assert seen == [2, 2, 1]
    assert torch.allclose(out, x * t.view(-1, 1, 1, 1))

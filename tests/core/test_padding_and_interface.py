import pytest
import torch

import filmrt
from filmrt.engine import open_interpolator
from filmrt.errors import FilmrtError
from filmrt.padding import Padding, pad_to_multiple, padded_size


def test_padded_size():
    assert [padded_size(n) for n in (1, 63, 64, 65, 480, 720, 1080)] == [64, 64, 64, 128, 512, 768, 1088]


@pytest.mark.parametrize("align", ["center", "end"])
def test_pad_crop_round_trip(align):
    x = torch.rand(2, 3, 37, 70)
    y, p = pad_to_multiple(x, 64, align)
    assert y.shape[-2:] == (64, 128)
    assert torch.equal(p.crop(y), x)
    if align == "center":  # the reference FILM placement: pad // 2 before, rest after
        assert (p.top, p.bottom, p.left, p.right) == (13, 14, 29, 29)
    else:
        assert (p.top, p.left) == (0, 0)
    assert float(y.sum()) == pytest.approx(float(x.sum()), rel=1e-5)  # zeros only


def test_zero_padding_is_identity():
    x = torch.rand(1, 3, 64, 128)
    y, p = pad_to_multiple(x)
    assert p == Padding() and y is x


def test_blend_interpolator_contract():
    interp = open_interpolator("blend", backend="torch")
    a, b = torch.zeros(3, 3, 10, 12), torch.ones(3, 3, 10, 12)
    out = interp.interpolate(a, b, [0.0, 0.25, 1.0])
    assert out.shape == (3, 3, 10, 12) and out.dtype == torch.float32
    assert torch.allclose(out[:, 0, 0, 0], torch.tensor([0.0, 0.25, 1.0]))
    assert "blend on torch" in interp.describe()
    with pytest.raises(FilmrtError):
        interp.interpolate(a, torch.ones(3, 3, 10, 13), 0.5)
    with pytest.raises(FilmrtError):
        interp.interpolate(a, b, [0.5, 0.5])
    with pytest.raises(FilmrtError):
        interp.interpolate(a, b, 1.5)


def test_load_model_unknown_name():
    with pytest.raises(FilmrtError, match="unknown model"):
        filmrt.load_model("nonexistent-model")


def test_image_round_trip(tmp_path):
    from filmrt.imageio import read_image, write_image

    x = torch.rand(3, 5, 7)
    p = write_image(tmp_path / "a.png", x)
    y = read_image(p)
    assert y.shape == (3, 5, 7) and (y - x).abs().max() <= 0.5 / 255 + 1e-6
    with pytest.raises(FilmrtError, match="not found"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(FilmrtError, match="cannot read"):
        read_image(tmp_path / "bad.png")


def test_every_backend_takes_exactly_its_runtime_options():
    """open_interpolator hands a backend class the model and the RuntimeOptions, nothing else: every
    class is constructed as Cls(model, options) (its extras and settings are in the options)."""
    import importlib
    import inspect

    from filmrt.engine import _BACKEND_CLASSES
    from filmrt.options import BACKENDS

    assert set(_BACKEND_CLASSES) == set(BACKENDS)
    for name, where in _BACKEND_CLASSES.items():
        mod, cls = where.split(":")
        params = inspect.signature(getattr(importlib.import_module(mod), cls)).parameters
        assert list(params) == ["model", "options"], name


def test_open_interpolator_resolves_model_backend_and_precision_once(tmp_path):
    from filmrt.engine import resolve_precision
    from filmrt.models import resolve_model_name
    from filmrt.options import RuntimeOptions
    from filmrt.weights import find, save

    # no --model: the weights file names its model
    rife = find("rife-4.25")
    assert resolve_model_name(None, rife) == "rife-4.25" and resolve_model_name("blend", rife) == "blend"
    interp = open_interpolator(RuntimeOptions(weights=str(rife), backend="torch"))
    assert interp.model_name == "rife-4.25"
    blend = save(tmp_path / "b.safetensors", {}, "blend")
    assert open_interpolator(weights=str(blend)).model_name == "blend"
    # the one spelling check (RuntimeOptions'), the backends' refusals
    for bad in (lambda: RuntimeOptions(precision="fp8"), lambda: resolve_precision("fp8", torch.device("cpu"))):
        with pytest.raises(FilmrtError, match="unknown precision 'fp8': use auto, fp32, fp16, bf16"):
            bad()
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision(None, torch.device("cuda")) == "fp16"
    with pytest.raises(FilmrtError, match="the ort backend runs fp32 or fp16, not bf16"):
        resolve_precision("bf16", torch.device("cpu"), backend="ort", supported=("fp32", "fp16"))
    with pytest.raises(TypeError):
        open_interpolator("blend", fancy=True)  # not a RuntimeOptions field
    with pytest.raises(FilmrtError, match="no backend takes all of --engine, --fast"):
        open_interpolator("blend", engine="x.engine", fast="warp")

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

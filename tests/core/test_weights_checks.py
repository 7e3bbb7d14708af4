"""Weights are checked when they load, and model outputs are checked when they come out (issue 12, item 4).

- all-NaN (or any non-finite) weights are refused with one line;
- a file that says it holds the released RIFE 4.25 but holds other tensors is refused, unless
  the user named it (then a warning); a fresh conversion of the same tensors is accepted;
- a plain ``--model rife-4.25`` takes the shipped file, never a same-model file in the user
  weights directory (which a warning names);
- non-finite model outputs stop the run with one line instead of clamped garbage.
"""

from __future__ import annotations

import re
import shutil

import pytest
import torch
from support.synth import make_clip

from filmrt import weights
from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.fileio import sha256_file
from filmrt.interpolator import Interpolator
from filmrt.models import load_model
from filmrt.shipped_weights import RELEASED

RIFE = RELEASED["rife-4.25"]


@pytest.fixture(scope="module")
def shipped_tensors():
    tensors, _ = weights.load(weights.shipped_weights_dir() / RIFE["file"])
    return tensors


def _save(path, tensors):
    return weights.save(path, tensors, "rife-4.25", version="4.25")


def test_released_hashes_are_the_shipped_files(shipped_tensors):
    shipped = weights.shipped_weights_dir() / RIFE["file"]
    assert sha256_file(shipped) == RIFE["sha256"]
    assert weights.tensors_digest(shipped_tensors) == RIFE["tensors_sha256"]
    source_md = (weights.shipped_weights_dir() / "SOURCE.md").read_text()
    assert RIFE["sha256"] in source_md  # SOURCE.md and the constant say the same


def test_nan_weights_refused(tmp_path, shipped_tensors, capsys):
    bad = dict(shipped_tensors)
    name = sorted(bad)[3]
    bad[name] = torch.full_like(bad[name], float("nan"))
    path = _save(tmp_path / "nan.safetensors", bad)
    with pytest.raises(FilmrtError, match=re.escape(name) + ".*NaN or infinite"):
        load_model("rife-4.25", path)
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    rc = main(["convert", clip, str(tmp_path / "o.mp4"), "--fps", "50", "--weights", str(path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "NaN" in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists()


def test_changed_tensors_claiming_release(tmp_path, shipped_tensors, capsys, monkeypatch):
    changed = dict(shipped_tensors)
    name = sorted(changed)[0]
    changed[name] = changed[name] + 1e-3
    path = _save(tmp_path / "rife-4.25.safetensors", changed)
    # named by the user: used, with a warning
    model = load_model("rife-4.25", path)
    assert model.weights_path == str(path)
    assert "differ from them" in capsys.readouterr().err
    # a damaged shipped file (here: a fake shipped folder) is refused
    monkeypatch.setattr(weights, "shipped_weights_dir", lambda: tmp_path)
    with pytest.raises(FilmrtError, match="refused; reinstall filmrt"):
        load_model("rife-4.25")


def test_fresh_conversion_of_release_accepted(tmp_path, shipped_tensors, capsys):
    path = _save(tmp_path / "again.safetensors", shipped_tensors)  # other metadata: other file hash
    load_model("rife-4.25", path)
    assert "warning" not in capsys.readouterr().err


def test_user_dir_never_shadows_shipped(tmp_path, shipped_tensors, capsys, monkeypatch):
    user = tmp_path / "user"
    monkeypatch.setenv("FILMRT_WEIGHTS_DIR", str(user))
    changed = {k: v.clone() for k, v in shipped_tensors.items()}
    changed[sorted(changed)[0]] += 1.0
    _save(user / "rife-4.25.safetensors", changed)
    model = load_model("rife-4.25")
    assert model.weights_path == str(weights.shipped_weights_dir() / RIFE["file"])
    err = capsys.readouterr().err
    assert "is not used" in err and "--weights" in err


def test_copy_of_shipped_in_user_dir_is_harmless(tmp_path, monkeypatch, capsys):
    user = tmp_path / "user"
    user.mkdir()
    monkeypatch.setenv("FILMRT_WEIGHTS_DIR", str(user))
    shutil.copy(weights.shipped_weights_dir() / RIFE["file"], user / "rife-4.25.safetensors")
    model = load_model("rife-4.25")
    assert model.weights_path == str(weights.shipped_weights_dir() / RIFE["file"])


class _NaNModel(Interpolator):
    model_name, backend = "nan", "test"

    def _run(self, a, b, t, keys_a, keys_b):
        out = (a + b) / 2
        out[:, :, 0, 0] = float("nan")
        return out


def test_non_finite_outputs_refused():
    a = torch.rand(2, 3, 16, 16)
    with pytest.raises(FilmrtError, match="NaN or infinite"):
        _NaNModel().interpolate(a, a, 0.5)


class _FixedModel(Interpolator):
    """Returns ``value`` at one pixel of the blend (the check sees the chunk before the clamp)."""

    model_name, backend = "fixed", "test"

    def __init__(self, value: float, fill: float | None = None):
        self.value, self.fill = value, fill

    def _run(self, a, b, t, keys_a, keys_b):
        out = (a + b) / 2 if self.fill is None else torch.full_like(a, self.fill)
        out[:, :, 0, 0] = self.value
        return out


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_every_non_finite_value_is_refused(value):
    """The check sums the chunk: +inf, -inf and NaN each make the sum non-finite."""
    a = torch.rand(2, 3, 16, 16)
    with pytest.raises(FilmrtError, match="NaN or infinite"):
        _FixedModel(value).interpolate(a, a, 0.5)


def test_finite_values_whose_sum_overflows_pass():
    """A sum past float32's range from finite values is checked value by value, and passes."""
    a = torch.rand(1, 3, 16, 16)
    out = _FixedModel(3e38, fill=3e38).interpolate(a, a, 0.5)
    assert torch.equal(out, torch.ones_like(out))  # clamped to [0, 1] as usual

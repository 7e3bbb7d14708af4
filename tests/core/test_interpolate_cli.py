"""``filmrt interpolate``: outputs, naming, modes and the one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from filmrt.cli.main import main
from filmrt.imageio import read_image
from filmrt.pipeline.infer import nearest_dyadic

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def frames(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    b = np.roll(a, 3, axis=1)
    pa, pb = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(a).save(pa)
    Image.fromarray(b).save(pb)
    return pa, pb, a, b


@pytest.fixture(scope="module")
def small_film(film_small_imported):
    return film_small_imported


def test_blend_midpoint_is_one_file(frames, tmp_path):
    pa, pb, a, b = frames
    out = tmp_path / "mid.png"
    assert main(["interpolate", str(pa), str(pb), "-o", str(out), "--model", "blend", "--quiet"]) == 0
    got = np.asarray(Image.open(out)).astype(int)
    want = (a.astype(int) + b.astype(int)) / 2
    assert got.shape == a.shape and np.abs(got - want).max() <= 1


def test_blend_several_times_make_a_directory(frames, tmp_path, capsys):
    pa, pb, a, b = frames
    out = tmp_path / "frames"
    assert main(["interpolate", str(pa), str(pb), "-o", str(out), "--model", "blend", "--at", "0.75,0.25"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_001_t0.250000.png", "frame_002_t0.750000.png"]
    got = np.asarray(Image.open(out / names[0])).astype(int)
    assert np.abs(got - (0.75 * a + 0.25 * b)).max() <= 1
    assert "mode direct" in capsys.readouterr().out  # blend: auto = direct


def test_film_depth_recursive_matches_midpoints(frames, tmp_path, small_film):
    pa, pb, _, _ = frames
    d = tmp_path / "depth"
    assert main(["interpolate", str(pa), str(pb), "-o", str(d), "--depth", "2",
                 "--weights", str(small_film), "--quiet"]) == 0
    names = sorted(p.name for p in d.iterdir())
    assert names == ["frame_001_t0.250000.png", "frame_002_t0.500000.png", "frame_003_t0.750000.png"]
    mid = tmp_path / "mid.png"
    assert main(["interpolate", str(pa), str(pb), "-o", str(mid), "--weights", str(small_film), "--quiet"]) == 0
    assert torch.equal(read_image(mid), read_image(d / names[1]))
    # 1/4 is the midpoint of A and the written 1/2 frame (up to the 8-bit rounding of the PNG)
    q = tmp_path / "q.png"
    assert main(["interpolate", str(pa), str(mid), "-o", str(q), "--weights", str(small_film), "--quiet"]) == 0
    assert float((read_image(q) - read_image(d / names[0])).abs().max()) <= 0.1


def test_film_direct_and_recursive_times(frames, tmp_path, small_film, capsys):
    pa, pb, _, _ = frames
    d = tmp_path / "direct"
    assert main(["interpolate", str(pa), str(pb), "-o", str(d), "--at", "0.3,0.5", "--mode", "direct",
                 "--weights", str(small_film)]) == 0
    assert sorted(p.name for p in d.iterdir()) == ["frame_001_t0.300000.png", "frame_002_t0.500000.png"]
    r = tmp_path / "rec.png"
    assert main(["interpolate", str(pa), str(pb), "-o", str(r), "--at", "0.3", "--max-depth", "3",
                 "--weights", str(small_film)]) == 0
    assert "asked 0.3" in capsys.readouterr().out  # 0.3 -> 0.25 at depth 3 (nearest of k/8 is 2/8)
    assert nearest_dyadic(0.3, 3) == 0.25 and nearest_dyadic(0.5, 8) == 0.5 and nearest_dyadic(0.375, 8) == 0.375


def test_recursive_times_use_the_rounding_rule_of_convert(frames, tmp_path, capsys):
    """--at 1/16 at depth 3 is a tie between 0 and 1/8: rounded up to 1/8 (nearest_dyadic), as the
    scheduler of `filmrt convert` rounds; recursive mode works for any model (blend here)."""
    pa, pb, a, b = frames
    out = tmp_path / "t.png"
    assert main(["interpolate", str(pa), str(pb), "-o", str(out), "--model", "blend", "--mode", "recursive",
                 "--at", "0.0625", "--max-depth", "3"]) == 0
    text = capsys.readouterr().out
    assert "mode recursive" in text and "t=0.125000 (asked 0.0625" in text
    got = np.asarray(Image.open(out)).astype(int)
    assert np.abs(got - (0.875 * a + 0.125 * b)).max() <= 1  # three midpoints of blend = 1/8


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("filmrt: error:")
    return err


def test_errors(frames, tmp_path, capsys, monkeypatch):
    pa, pb, a, _ = frames
    other = tmp_path / "other.png"
    Image.fromarray(a[:20]).save(other)
    out = tmp_path / "o.png"
    assert main(["interpolate", str(pa), str(other), "-o", str(out), "--model", "blend"]) == 2
    assert "same size" in _err(capsys)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["interpolate", str(pa), str(bad), "-o", str(out), "--model", "blend"]) == 2
    assert "cannot read image" in _err(capsys)
    assert main(["interpolate", str(pa), str(tmp_path / "missing.png"), "-o", str(out), "--model", "blend"]) == 2
    assert "not found" in _err(capsys)
    assert main(["interpolate", str(pa), str(pb), "-o", str(out), "--weights", str(tmp_path / "no.safetensors"),
                 "--model", "film"]) == 2
    assert "weights file not found" in _err(capsys)
    assert main(["interpolate", str(pa), str(pb), "-o", str(out), "--model", "blend", "--at", "1.5"]) == 2
    assert "[0, 1]" in _err(capsys)
    # no FILM weights installed: say exactly how to get and import them
    monkeypatch.setenv("FILMRT_WEIGHTS_DIR", str(tmp_path / "empty-weights"))
    assert main(["interpolate", str(pa), str(pb), "-o", str(out), "--model", "film"]) == 2
    err = _err(capsys)
    assert "google-research/frame-interpolation" in err and "filmrt weights import" in err
    assert "saved_model" in err
    assert not out.exists()

"""``--protect``: still graphics and a scrolling ticker found on the synthetic broadcast composite
(:mod:`support.broadcast`: every region known), and kept out of the interpolation.

The frames between the source frames are made here by plain blending (the model's output is not
the point: the protection replaces regions of whatever the model made), and scored against the true
frames of the composite inside the graphics rectangles and outside them.
"""

from __future__ import annotations

import json
import math

import av
import numpy as np
import pytest
import torch
from support.broadcast import LOGO, TICKER, H, W, composite, regions, write_composite

from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.pipeline.options import ConvertOptions
from filmrt.pipeline.time.protect import analyse, apply, parse_protect


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1).float() / 255.0


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)


def _psnr(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    d = pred[mask].astype(np.float64) - truth[mask]
    return -10 * math.log10(max(float(np.mean(d * d)) / 255.0**2, 1e-10))


SRC = [_t(composite(2 * k)) for k in range(8)]  # the source: every other frame of the composite


def test_parse_protect():
    assert parse_protect("auto") == "auto" and parse_protect(None) == "off"
    assert parse_protect("10,20,30,40,0,0,5,5") == [(10, 20, 30, 40), (0, 0, 5, 5)]
    for bad in ("1,2,3", "a,b,c,d", "1,2,0,4", "-1,2,3,4", "on"):
        with pytest.raises(FilmrtError, match="--protect"):
            ConvertOptions(protect=bad)


def test_analyse_finds_logo_text_and_ticker_and_nothing_else():
    p = analyse(SRC)
    reg = regions()
    assert len(p.tickers) == 1
    tk = p.tickers[0]
    assert (tk.y0, tk.y1) == (TICKER[1], TICKER[1] + TICKER[3])
    assert tk.speed == pytest.approx(-8.0, abs=0.05)  # 4 px a frame leftwards, every other frame kept
    assert p.still[reg["logo"]].all()  # the whole opaque logo
    assert not (p.still & ~reg["graphics"]).any()  # nothing of the moving picture
    assert p.still[reg["text"]].sum() > 0.3 * reg["text"].sum()  # the glyphs and their edges
    assert any(x == LOGO[0] and y == LOGO[1] for x, y, _, _ in p.boxes)


def test_protected_beats_plain_inside_the_graphics_and_equals_it_outside():
    p = analyse(SRC)
    reg = regions()
    inside, outside = [], []
    for k in range(len(SRC) - 1):
        a, b = SRC[k], SRC[k + 1]
        plain = 0.5 * (a + b)
        truth = composite(2 * k + 1)
        prot = apply(p, plain, a, b, 0.5)
        inside.append((_psnr(_u8(plain), truth, reg["graphics"]), _psnr(_u8(prot), truth, reg["graphics"])))
        outside.append((_psnr(_u8(plain), truth, ~reg["graphics"]), _psnr(_u8(prot), truth, ~reg["graphics"])))
    plain_in, prot_in = np.mean(inside, 0)
    plain_out, prot_out = np.mean(outside, 0)
    assert prot_in > plain_in + 15  # the blended ticker is a double image; moved, it is exact
    assert prot_out == pytest.approx(plain_out, abs=1e-9)


def test_ticker_moves_at_any_t_and_a_still_picture_is_left_alone():
    p = analyse(SRC)
    y0, y1 = TICKER[1], TICKER[1] + TICKER[3]
    # t = 1/4 between source frames 2k and 2k+2 is composite frame 2k + 1/2: 2 px of ticker motion
    out = apply(p, torch.zeros_like(SRC[0]), SRC[1], SRC[2], 0.25)
    half = 0.5 * (_t(composite(2))[:, y0:y1, 4:-4] + _t(composite(3))[:, y0:y1, 4:-4])  # 6 px and 4 px along
    moved_2px = torch.roll(_t(composite(2))[:, y0:y1], -2, dims=-1)[:, :, 4:-4]
    assert torch.allclose(out[:, y0:y1, 4:-4], moved_2px, atol=1e-5)
    assert not torch.allclose(out[:, y0:y1, 4:-4], half, atol=1e-3)
    still = [SRC[0]] * 6
    assert analyse(still).empty  # nothing moves: nothing tells a graphic from the scenery


def test_convert_protect_auto_end_to_end(tmp_path, capsys):
    src = write_composite(tmp_path / "bc.mkv", frames=6, step=2)  # fewer frames than the window
    out = tmp_path / "out.mkv"
    assert main(["convert", src, str(out), "--fps", "x2", "--model", "blend", "--protect", "auto",
                 "--codec", "ffv1", "--quiet", "--json", str(tmp_path / "r.json")]) == 0
    # what auto found is said (stderr and the JSON), as live says it: else nobody can tell it did anything
    said = [n for n in json.loads((tmp_path / "r.json").read_text())["temporal"]["notes"] if n.startswith("protect:")]
    assert len(said) == 1 and "still graphic" in said[0] and "ticker rows" in said[0]
    assert f"filmrt: {said[0]}" in capsys.readouterr().err
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    reg = regions()
    assert frames[0].shape == (H, W, 3)
    for i in (1, 3, 5):  # interpolated: the ticker and the logo as in the true frame between
        assert _psnr(frames[i], composite(i), reg["ticker"]) > 40
        assert _psnr(frames[i], composite(i), reg["logo"]) > 40


def test_convert_refuses_a_protect_box_outside_the_picture(tmp_path, capsys):
    # a box wholly off the picture protects nothing: a run that "succeeds" with it is a silent no-op
    src = write_composite(tmp_path / "bc.mkv", frames=4, step=2)
    out = tmp_path / "out.mkv"
    assert main(["convert", src, str(out), "--fps", "x2", "--model", "blend", "--protect", f"0,0,8,8,{W},0,8,8",
                 "--codec", "ffv1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{W},0,8,8 lies outside the {W}x{H} picture" in err
    assert not out.exists()
    # a box running off an edge is clipped to the picture, not refused
    assert main(["convert", src, str(out), "--fps", "x2", "--model", "blend", "--protect", f"{W - 8},{H - 8},64,64",
                 "--codec", "ffv1", "--quiet"]) == 0

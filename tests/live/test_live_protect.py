"""``filmrt live --protect``: the Protector of convert, on a live run of the synthetic broadcast
composite (:mod:`support.broadcast`: every graphic's rectangle known).

The source is every other frame of the composite at 25 fps, paced at its own rate; live doubles the
rate with blends (``--model blend``), written losslessly (FFV1 in Matroska), so output frame n is
scored against composite frame n + OFF (live starts on the live edge: a few first frames may be
passed over; OFF is found by the first output frame, a source frame, exactly). Live cannot hold its clock for the analysis window: it protects
from the frame after its analysis is done (``protect.from_frame`` in the report), and every
interpolated frame from there on must beat the plain run inside the graphics and equal it outside.
"""

from __future__ import annotations

import json
import math

import av
import numpy as np
from support.broadcast import LOGO, H, W, composite, regions, write_composite

from filmrt.cli.main import main
from filmrt.pipeline.time.protect import WINDOW

SOURCE_FRAMES = 40


def _psnr(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    d = pred[mask].astype(np.float64) - truth[mask]
    return -10 * math.log10(max(float(np.mean(d * d)) / 255.0**2, 1e-10))


def _live(tmp_path, src: str, name: str, protect: str) -> tuple[list[np.ndarray], dict]:
    out, js = tmp_path / f"{name}.mkv", tmp_path / f"{name}.json"
    assert main(["live", src, str(out), "--fps", "x2", "--model", "blend", "--latency", "8f", "--protect", protect,
                 "--codec", "ffv1", "--format", "matroska", "--json", str(js), "--quiet"]) == 0
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return frames, json.loads(js.read_text())


def test_live_protect_auto_beats_plain_inside_the_graphics(tmp_path):
    src = write_composite(tmp_path / "bc.mkv", frames=SOURCE_FRAMES, step=2)
    plain, rp = _live(tmp_path, src, "plain", "off")
    prot, rq = _live(tmp_path, src, "prot", "auto")
    assert rp["protect"] is None
    assert rq["stats"]["late"] == 0 and rq["latency_s"] == rp["latency_s"]  # the latency bound holds
    pr = rq["protect"]
    assert pr["option"] == "auto" and "ticker rows" in pr["found"] and f"{LOGO[0]},{LOGO[1]}" in pr["found"]
    # watched over WINDOW input frames (2 output frames each), then analysed beside the clock
    assert 2 * (WINDOW - 1) < pr["from_frame"] < 2 * SOURCE_FRAMES - 20
    reg = regions()
    po, qo = _offset(plain), _offset(prot)  # the runs may start on different frames
    inside, outside = [], []
    for c in range(pr["from_frame"] + qo, min(len(prot) + qo, len(plain) + po) - 1):
        if c % 2 == 0:
            continue  # a source frame
        truth, p, q = composite(c), plain[c - po], prot[c - qo]  # the interpolated frames of composite frame c
        if _repeated(plain, c - po) or _repeated(prot, c - qo):
            continue  # a loaded machine made live fall back to repeat there (its deadline): not a blend
        inside.append((_psnr(p, truth, reg["graphics"]), _psnr(q, truth, reg["graphics"])))
        outside.append((_psnr(p, truth, ~reg["graphics"]), _psnr(q, truth, ~reg["graphics"])))
    assert len(inside) >= 8
    plain_in, prot_in = np.mean(inside, 0)
    plain_out, prot_out = np.mean(outside, 0)
    assert prot_in > plain_in + 10  # the blended ticker is a double image; moved, it is exact
    assert abs(prot_out - plain_out) < 1e-6  # outside the graphics nothing is touched
    for n in range(1, pr["from_frame"], 2):  # before the analysis: the plain frames
        if 0 <= n + qo - po < len(plain) and not _repeated(prot, n) and not _repeated(plain, n + qo - po):
            assert np.array_equal(prot[n], plain[n + qo - po])


def _repeated(frames: list[np.ndarray], n: int) -> bool:
    """Output frame n repeats the one before (the lowest tier), written losslessly."""
    return n > 0 and np.array_equal(frames[n], frames[n - 1])


def _offset(frames: list[np.ndarray]) -> int:
    """The composite frame that output frame 0 is (a source frame, written losslessly)."""
    return next(2 * k for k in range(10) if np.array_equal(frames[0], composite(2 * k)))


def test_live_protect_boxes_from_the_first_frame(tmp_path):
    src = write_composite(tmp_path / "bc.mkv", frames=12, step=2)
    x, y, w, h = LOGO
    prot, r = _live(tmp_path, src, "box", f"{x},{y},{w},{h}")
    assert r["protect"]["from_frame"] == 1  # no analysis: the first interpolated frame
    logo = regions()["logo"]
    off = _offset(prot)
    for n in range(1, len(prot) - 1, 2):
        if _repeated(prot, n):
            continue  # live's lowest tier on a loaded machine
        assert _psnr(prot[n], composite(n + off), logo) > 40


def test_live_refuses_a_protect_box_outside_the_picture(tmp_path, capsys):
    src = write_composite(tmp_path / "bc.mkv", frames=4, step=2)
    out = tmp_path / "out.mkv"
    assert main(["live", src, str(out), "--fps", "x2", "--model", "blend", "--protect", f"0,{H},8,8",
                 "--codec", "ffv1", "--format", "matroska", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"0,{H},8,8 lies outside the {W}x{H} picture" in err

"""VMAF, judder and motion error in ``eval-video`` and ``eval``: the numbers of ``filmrt score``.

eval-video rebuilds the dropped frames itself; ``score`` scores a file made by any tool. Given the
same pictures (here: CAND is written losslessly from the very frames eval-video's blend makes), both
must report the same VMAF, judder and motion error, because both run the one implementation
(:class:`filmrt.pipeline.score.SequenceTrack` over libvmaf). ``eval --vmaf`` scores each triplet
alone with the same engine. VMAF needs libvmaf (``pip install 'filmrt[quality]'``): those tests
skip with that reason without it; without it ``--vmaf`` is a one-line error (exit 2).
"""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from filmrt import vmaf as vmaf_mod
from filmrt.cli.main import main
from filmrt.imageio import to_uint8
from filmrt.pipeline.eval_video import blend_predictor
from filmrt.pipeline.io.decode import PyAVSource
from filmrt.vmaf import find_ffmpeg

W, H, N = 128, 80, 16
needs_vmaf = pytest.mark.skipif(find_ffmpeg() is None, reason="no FFmpeg with libvmaf (pip install 'filmrt[quality]')")


def _pan(i: int) -> np.ndarray:
    """A smooth texture panned 3 px right and 1 px down a frame, with an uneven pace (judder to see)."""
    rng = np.random.default_rng(5)
    big = rng.random((H + 40, W + 80, 3))
    k = np.ones(5) / 5
    for ax in (0, 1):
        big = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), ax, big)
    big = 30 + 190 * (big - big.min()) / (big.max() - big.min())
    x = 3 * i + (2 if i % 4 == 3 else 0)
    return np.round(big[i : i + H, x : x + W]).astype(np.uint8)


def _write(path, frames) -> str:
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "bgr0"
        s.codec_context.time_base = s.time_base = Fraction(1, 25)
        for k, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="bgr0")
            f.pts, f.time_base = k, Fraction(1, 25)
            c.mux(s.encode(f))
        c.mux(s.encode())
    return str(path)


def _blend_cand(ref: str, path) -> str:
    """REF's even frames kept, each odd one as eval-video's blend makes it; the last odd frame
    (no neighbour after it: eval-video does not rebuild it) left out."""
    src = PyAVSource(ref)
    try:
        rgb = [f.rgb for f in src.frames()]
    finally:
        src.close()
    out = []
    for i in range(len(rgb) - (len(rgb) % 2 == 0)):
        if i % 2:
            out.append(to_uint8(blend_predictor(rgb[i - 1][None], rgb[i + 1][None], [i])[0]))
        else:
            out.append(to_uint8(rgb[i]))
    return _write(path, out)


def _both(tmp_path, vmaf: bool) -> tuple[dict, dict]:
    ref = _write(tmp_path / "ref.mkv", [_pan(i) for i in range(N)])
    cand = _blend_cand(ref, tmp_path / "cand.mkv")
    flag = ["--vmaf"] if vmaf else []
    assert main(["eval-video", ref, "--model", "blend", "--quiet", "--json", str(tmp_path / "ev.json"), *flag]) == 0
    assert main(["score", ref, cand, "--quiet", "--json", str(tmp_path / "sc.json"), *flag]) == 0
    return json.loads((tmp_path / "ev.json").read_text()), json.loads((tmp_path / "sc.json").read_text())


def _same(a, b) -> None:
    assert (a is None and b is None) or a == pytest.approx(b, abs=1e-9), (a, b)


def test_eval_video_judder_and_motion_error_are_scores(tmp_path, capsys):
    ev, sc = _both(tmp_path, vmaf=False)
    assert ev["frames_scored"] == sc["generated"]["frames"] == N // 2 - 1
    # the same pictures (eval-video compares with the decoded float truth, score with its 8-bit copy)
    assert ev["blend_psnr"] == pytest.approx(sc["generated"]["psnr"], abs=1e-5)
    for key in ("cand", "ref"):
        for field in ("judder", "judder_px", "mean_step_px", "steps"):
            _same(ev["blend_judder"][key][field], sc["judder"][key][field])
    _same(ev["blend_judder"]["motion_error"], sc["judder"]["motion_error"])
    # a blend holds half a step then jumps: its motion is off, the pan's own pace is uneven
    assert ev["blend_judder"]["motion_error"] > 0.2 and ev["judder"]["ref"]["judder"] > 0.1
    assert ev["vmaf"] is None and "vmaf" not in ev["per_frame"]
    out = capsys.readouterr().out
    assert "judder" in out and "motion err" in out


@needs_vmaf
def test_eval_video_vmaf_is_scores_vmaf(tmp_path):
    ev, sc = _both(tmp_path, vmaf=True)
    gen = [r["vmaf"] for r in sc["frames"] if r["group"] == "generated"]
    assert ev["per_frame"]["blend_vmaf"] == pytest.approx(gen, abs=1e-6)  # libvmaf, the same inputs in order
    assert ev["blend_vmaf"] == pytest.approx(sc["generated"]["vmaf"], abs=1e-6)
    assert ev["vmaf_model"] == sc["vmaf_model"] == "vmaf_v0.6.1"
    assert 0 <= ev["blend_vmaf"] < 100 and ev["vmaf"] == pytest.approx(ev["blend_vmaf"], abs=1e-6)  # blend model


def _triplets(root, n: int = 3):
    from PIL import Image

    for k in range(n):
        d = root / f"{k:02d}"
        d.mkdir(parents=True)
        for name, i in (("frame_00.png", 2 * k), ("frame_01_gt.png", 2 * k + 1), ("frame_02.png", 2 * k + 2)):
            Image.fromarray(_pan(i)).save(d / name)


@needs_vmaf
def test_eval_vmaf_per_set_is_libvmaf_on_each_triplet(tmp_path, capsys):
    from filmrt.imageio import read_image
    from filmrt.vmaf import Picture, VmafScorer

    _triplets(tmp_path / "set")
    js = tmp_path / "e.json"
    assert main(["eval", "--dataset", str(tmp_path / "set"), "--model", "blend", "--vmaf", "--quiet",
                 "--json", str(js)]) == 0
    r = json.loads(js.read_text())["sets"][0]
    assert "VMAF" in capsys.readouterr().out
    want = []
    for ex in r["examples"]:
        d = tmp_path / "set" / ex["name"]
        a, b, gt = (read_image(d / f) for f in ("frame_00.png", "frame_02.png", "frame_01_gt.png"))
        pred = to_uint8(0.5 * (a + b))
        with VmafScorer(W, H) as vm:  # each triplet alone: no motion feature across unrelated examples
            vm.add(Picture.rgb(to_uint8(gt)), Picture.rgb(pred))  # RGB, as libvmaf reads the PNGs
            want.append(vm.scores()[0])
    assert [ex["vmaf"] for ex in r["examples"]] == pytest.approx(want, abs=1e-6)
    assert r["mean_vmaf"] == pytest.approx(float(np.mean(want)), abs=1e-6)


def test_vmaf_without_libvmaf_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(vmaf_mod, "find_ffmpeg", lambda: None)
    ref = _write(tmp_path / "ref.mkv", [_pan(i) for i in range(5)])
    _triplets(tmp_path / "set", 1)
    for argv in (["eval-video", ref, "--model", "blend", "--quiet", "--vmaf"],
                 ["eval", "--dataset", str(tmp_path / "set"), "--model", "blend", "--quiet", "--vmaf"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "libvmaf" in err and "filmrt[quality]" in err and "Traceback" not in err


def test_blend_predictor_is_the_mean():  # what _blend_cand relies on
    a, b = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    assert torch.equal(blend_predictor(a, b, [1]), 0.5 * (a + b))

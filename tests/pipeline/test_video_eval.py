"""`filmrt eval-video`, the demo and one short real-model (RIFE) conversion."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
import torch
from support.helpers import decode_all
from support.synth import frame_rgb, make_clip

from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.eval_video import blend_predictor, eval_video, score_dropped_frames
from filmrt.pipeline.io.planes import make_thumb
from filmrt.pipeline.io.source import DecodedFrame
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.quality import psnr

pytestmark = pytest.mark.usefixtures("one_thread")


def test_eval_video_blend_counts(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=11, width=96, height=64)
    r = eval_video(clip, RuntimeOptions(model="blend"))
    assert r["frames_decoded"] == 11 and r["frames_scored"] == 5 and r["pairs_skipped_cut"] == 0
    assert r["psnr"] == pytest.approx(r["blend_psnr"]) and 0 < r["ssim"] <= 1


def test_eval_video_cli_json_and_errors(tmp_path, capsys):
    clip = make_clip(tmp_path / "c.mp4", frames=5, width=96, height=64)
    js = tmp_path / "r.json"
    assert main(["eval-video", clip, "--model", "blend", "--quiet", "--json", str(js)]) == 0
    assert "PSNR" in capsys.readouterr().out
    assert json.loads(js.read_text())["frames_scored"] == 2
    two = make_clip(tmp_path / "two.mp4", frames=2, width=96, height=64)
    with pytest.raises(FilmrtError, match="not enough frames"):
        eval_video(two, RuntimeOptions(model="blend"))


def test_rife_beats_blend_on_real_video(shared):
    """One short real-model run: RIFE 4.25 on 0.5 s of real camera footage (6 frames scored)."""
    clip = shared / "data" / "clips" / "bikes_640x272_25.mp4"
    r = eval_video(clip, RuntimeOptions(model="rife-4.25"), t=0.52)
    assert r["model"] == "rife-4.25" and r["frames_scored"] == 6
    assert r["psnr"] > r["blend_psnr"] + 1.0 and r["ssim"] > r["blend_ssim"]


def test_rife_convert_recovers_motion(tmp_path):
    """25 -> 50 of a moving square with RIFE: the new frames sit where the square really was."""
    n, w, h = 6, 128, 64
    clip = make_clip(tmp_path / "m.mp4", frames=n, width=w, height=h)
    out = tmp_path / "o.mp4"
    res = convert(clip, out, ConvertOptions(fps="x2", runtime=RuntimeOptions(model="rife-4.25"),
                                          encode=EncodeOptions(preset="ultrafast", crf=4)))
    assert res.model == "rife-4.25" and res.frames_out == 2 * n
    got = [rgb for _, rgb in decode_all(out)]
    inp = [rgb for _, rgb in decode_all(clip)]
    for i in range(n - 1):
        truth = torch.from_numpy(frame_rgb(2 * i + 1, w, h, 2 * n - 1)).permute(2, 0, 1).float() / 255
        blend = 0.5 * (inp[i] + inp[i + 1])
        assert psnr(got[2 * i + 1], truth) > psnr(blend, truth) + 3


def test_rife_refuses_recursive(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=3, width=64, height=64)
    with pytest.raises(FilmrtError, match="recursive"):
        convert(clip, tmp_path / "o.mp4", ConvertOptions(fps="x2", mode="recursive", runtime=RuntimeOptions(model="rife-4.25")))
    assert not (tmp_path / "o.mp4").exists()


def test_drop_frame_protocol_scores_every_method_on_the_same_frames():
    """THE protocol (eval-video's and bench's): odd frames rebuilt from their even neighbours by
    every method, in batches, scored on the prediction rounded to uint8."""
    def frame(i: int) -> DecodedFrame:
        rgb = torch.full((3, 16, 16), 2 * i / 255)  # a ramp: blending the neighbours is exact
        return DecodedFrame(i, Fraction(i, 25), rgb, make_thumb(rgb))

    calls = []

    def off_by_one_level(a, b, dropped):
        calls.append(list(dropped))
        return 0.5 * (a + b) + 1 / 255

    scores = score_dropped_frames((frame(i) for i in range(9)), {"blend": blend_predictor, "off": off_by_one_level},
                                  batch=3)
    assert (scores.frames_decoded, scores.frames_scored, scores.pairs_skipped_cut) == (9, 4, 0)
    assert calls == [[1, 3, 5], [7]]
    assert scores.methods["blend"].psnr == [100.0] * 4  # exact: the MSE floor
    assert scores.methods["off"].psnr == pytest.approx([20 * math.log10(255)] * 4)

"""filmrt score: any tool's output scored against the original, frames matched by time.

The inputs are written losslessly (FFV1) from pictures the test computes itself, so every expected
number is computed here independently of the scorer: PSNR of hand-made blends, a brightness step of
a known size (flicker), a duplicated frame in an even pan (judder), and VMAF against FFmpeg's own
libvmaf run on the same two files.
"""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from filmrt.cli.main import main
from filmrt.quality import psnr
from filmrt.vmaf import find_ffmpeg

W, H, N = 160, 96, 16


def _texture() -> np.ndarray:
    rng = np.random.default_rng(7)
    big = rng.random((H + 8, W + 3 * N + 8, 3))
    k = np.ones(5) / 5  # smooth so that motion and blends are measurable, not noise
    for ax in (0, 1):
        big = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), ax, big)
    return (40 + 170 * (big - big.min()) / (big.max() - big.min())).astype(np.float64)


TEX = _texture()


def ref_frame(i: int) -> np.ndarray:
    """A pan of 3 px a frame over a smooth texture: (H, W, 3) uint8."""
    return np.round(TEX[4 : 4 + H, 4 + 3 * i : 4 + 3 * i + W]).astype(np.uint8)


def write(path, frames, *, pix_fmt="bgr0", rate=25, start_pts=0) -> str:
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=rate)
        s.width, s.height, s.pix_fmt = W, H, pix_fmt
        s.codec_context.time_base = s.time_base = Fraction(1, rate)
        for k, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
            f.pts, f.time_base = start_pts + k, Fraction(1, rate)
            c.mux(s.encode(f))
        c.mux(s.encode())
    return str(path)


def blend(i: int) -> np.ndarray:
    return np.round((ref_frame(i - 1).astype(np.float64) + ref_frame(i + 1)) / 2).astype(np.uint8)


def cand_frames(bright: int | None = None) -> list[np.ndarray]:
    """What a blending tool makes from every other REF frame (the odd ones rebuilt, the last one held)."""
    out = []
    for i in range(N):
        img = ref_frame(i) if i % 2 == 0 or i == N - 1 else blend(i)
        if bright is not None and i == bright:
            img = np.clip(img.astype(np.int16) + 8, 0, 255).astype(np.uint8)
        out.append(img)
    return out


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return write(tmp_path_factory.mktemp("score") / "ref.mkv", [ref_frame(i) for i in range(N)])


def test_generated_frames_scored_apart_and_match_by_time(ref, tmp_path):
    # the tool's output starts 10 s later on its own clock: matched from each file's first frame
    cand = write(tmp_path / "cand.mkv", cand_frames(), start_pts=250)
    rep_path = tmp_path / "r.json"
    assert main(["score", ref, cand, "--json", str(rep_path), "--quiet"]) == 0
    rep = json.loads(rep_path.read_text())
    assert rep["matched"] == N and rep["unmatched_cand_frames"] == 0
    assert rep["kept"]["frames"] == N // 2 and rep["kept"]["psnr"] == pytest.approx(100.0)  # lossless copies
    gen = [i for i in range(1, N, 2)]
    expected = [psnr(cand_frames()[i], ref_frame(i)) for i in gen]
    assert rep["generated"]["frames"] == len(gen)
    assert rep["generated"]["psnr"] == pytest.approx(float(np.mean(expected)), abs=1e-6)
    assert [r["ref_index"] for r in rep["frames"] if r["group"] == "generated"] == gen
    # a blend of an even pan brightens nothing: flicker stays within 8-bit rounding of the means
    assert rep["generated"]["flicker_max"] < 0.5
    # the reference pans evenly: no judder; the blend tool's output moves evenly too (global motion)
    assert rep["judder"]["ref"]["judder"] < 0.05
    assert rep["judder"]["ref"]["mean_step_px"] == pytest.approx(3.0, abs=0.2)
    assert rep["judder"]["motion_error"] is not None


def test_flicker_finds_a_brightness_step(ref, tmp_path):
    cand = write(tmp_path / "cand.mkv", cand_frames(bright=5))
    assert main(["score", ref, cand, "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    rows = {r["ref_index"]: r for r in json.loads((tmp_path / "r.json").read_text())["frames"]}
    assert rows[5]["flicker"] == pytest.approx(8.0, abs=0.6)  # +8 code values (a few clip at 255)
    assert all(rows[i]["flicker"] < 0.5 for i in (3, 7, 9, 11))


def test_judder_of_a_dropped_and_repeated_frame(ref, tmp_path):
    frames = [ref_frame(i) for i in range(N)]
    for i in (4, 10):  # a nearest-frame converter: one frame shown twice, the next step twice as long
        frames[i] = frames[i - 1]
    cand = write(tmp_path / "cand.mkv", frames)
    assert main(["score", ref, cand, "--every", "0", "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["kept"] is None and rep["generated"]["frames"] == N
    assert rep["judder"]["cand"]["judder"] > 0.3 > 0.05 > rep["judder"]["ref"]["judder"]
    assert rep["judder"]["motion_error"] > 0.2  # two held frames of 15 steps, each off by a whole step twice


def test_frames_off_the_reference_grid_are_counted_not_scored(ref, tmp_path):
    # 40 fps output: only every 5th CAND frame (every 8th of 25 fps REF... ) lands on a REF time
    frames = [ref_frame(min(N - 1, int(k * 25 / 40))) for k in range(int(N * 40 / 25))]
    cand = write(tmp_path / "cand.mkv", frames, rate=40)
    assert main(["score", ref, cand, "--every", "0", "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["matched"] + rep["unmatched_cand_frames"] == len(frames)
    assert 0 < rep["unmatched_cand_frames"] < len(frames)


def test_a_frame_between_reference_times_is_not_scored_as_the_nearest_one(ref, tmp_path):
    # 40 fps against 25: CAND frame k is at REF frame 5k/8, on REF's grid only when 8 divides k. The
    # frames between are black: matched to the nearest REF frame (up to 3/8 of a frame away) they
    # would pull the scores down; only the 4 frames on the grid are the same instants
    n = int(N * 40 / 25)
    frames = [ref_frame(5 * k // 8) if k % 8 == 0 else np.zeros((H, W, 3), np.uint8) for k in range(n)]
    cand = write(tmp_path / "cand40.mkv", frames, rate=40)
    assert main(["score", ref, cand, "--every", "0", "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert [r["ref_index"] for r in rep["frames"]] == [0, 5, 10, 15]
    assert rep["unmatched_cand_frames"] == n - 4
    assert rep["generated"]["psnr"] == 100.0


def test_generated_frames_next_to_a_scene_cut_are_not_scored(tmp_path):
    other = np.ascontiguousarray(255 - ref_frame(0)[::-1])  # another shot: inverted and upside down
    frames = [ref_frame(i) if i < 8 else other for i in range(N)]
    ref = write(tmp_path / "ref.mkv", frames)
    cand = [f if i % 2 == 0 else np.round((frames[i - 1].astype(float) + frames[min(N - 1, i + 1)]) / 2)
            .astype(np.uint8) for i, f in enumerate(frames)]
    cand_path = write(tmp_path / "cand.mkv", cand)
    assert main(["score", ref, cand_path, "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    skipped = [r["ref_index"] for r in rep["frames"] if r.get("skipped")]
    assert skipped == [7]  # frame 7 sits between the last frame of one shot and the first of the next
    assert rep["skipped_at_cuts"] == 1 and rep["generated"]["frames"] == N // 2 - 1
    assert rep["generated"]["flicker_max"] < 0.5  # the ghost across the cut is not counted as flicker


def test_refusals(ref, tmp_path, capsys):
    small = tmp_path / "small.mkv"
    with av.open(str(small), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "bgr0"
        s.codec_context.time_base = s.time_base = Fraction(1, 25)
        for k in range(3):
            f = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            f.pts = k
            c.mux(s.encode(f))
        c.mux(s.encode())
    assert main(["score", ref, str(small), "--quiet"]) == 2
    assert "same size" in capsys.readouterr().err
    assert main(["score", ref, ref, "--json", ref, "--quiet"]) == 2
    assert "is the same file as" in capsys.readouterr().err
    assert main(["score", ref, ref, "--every", "1", "--quiet"]) == 2


@pytest.mark.skipif(find_ffmpeg() is None, reason="no FFmpeg with libvmaf (pip install 'filmrt[quality]')")
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "bgr0"])
def test_vmaf_agrees_with_libvmaf(tmp_path, pix_fmt):
    # libvmaf's FFmpeg reads yuv420p luma as decoded and makes BT.601 Y' of RGB; filmrt hands it the
    # decoded pictures (tests/pipeline/test_vmaf_agreement.py: excursions, 10-bit, mixed formats)
    ref = write(tmp_path / "ref.mkv", [ref_frame(i) for i in range(N)], pix_fmt=pix_fmt)
    cand = write(tmp_path / "cand.mkv", cand_frames(), pix_fmt=pix_fmt)
    assert main(["score", ref, cand, "--every", "0", "--vmaf", "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    ours = [r["vmaf"] for r in json.loads((tmp_path / "r.json").read_text())["frames"]]
    log = tmp_path / "v.json"
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", cand, "-i", ref, "-lavfi",
                    f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}", "-f", "null", "-"], check=True)
    theirs = [f["metrics"]["vmaf"] for f in json.loads(log.read_text())["frames"]]
    assert len(ours) == len(theirs) == N
    assert max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) < 0.5
    assert abs(float(np.mean(ours)) - float(np.mean(theirs))) < 0.5
    assert min(ours) < 95  # the blends are not perfect: the test would pass trivially on copies


def test_eval_video_protocol_reports_flicker():
    import torch

    from filmrt.pipeline.eval_video import blend_predictor, score_dropped_frames
    from filmrt.pipeline.io.decode import DecodedFrame

    frames = [DecodedFrame(i, Fraction(i, 25), torch.from_numpy(ref_frame(i)).permute(2, 0, 1).float() / 255,
                           torch.zeros(36, 64)) for i in range(9)]

    def brighter(a, b, dropped):  # blends, then 10 code values too bright
        return (0.5 * (a + b) + 10 / 255).clamp(0, 1)

    s = score_dropped_frames(frames, {"blend": blend_predictor, "bright": brighter}, batch=2)
    assert len(s.methods["blend"].flicker) == 4
    assert s.methods["blend"].mean_flicker < 0.5
    assert s.methods["bright"].mean_flicker == pytest.approx(10.0, abs=0.6)

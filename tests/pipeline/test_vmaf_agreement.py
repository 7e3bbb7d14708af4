"""``filmrt score --vmaf`` against libvmaf run directly by FFmpeg on the same two files (issue 23: within 0.5).

The pairs are written losslessly (FFV1) from Y'CbCr planes the test draws itself, so both sides
decode the very same codes: a pan over a smooth texture (motion for libvmaf's motion feature), and a
candidate that is a degraded copy (each Y' plane box-blurred 3x3), so the scores are not trivially
100. The cases:

- ``in-range``: 8-bit 4:2:0, Y' within 16..235;
- ``excursions``: 8-bit 4:2:0 tagged limited range with super-whites and sub-blacks (a block at
  Y' = 250, one at Y' = 5, the texture reaching 1..254): what broadcast masters hold. filmrt once
  derived luma from the decoded RGB (clipped to the nominal range, two conversions): 90.70 where
  libvmaf gave 99.93;
- ``10-bit``: 10-bit 4:2:0 (libvmaf scores it at 10 bits);
- ``444-vs-420``: REF 4:2:0, CAND 4:4:4 (a peer's output format): FFmpeg converts REF to CAND's;
- ``full-vs-limited``: REF limited range, CAND the same format tagged full range: FFmpeg compares
  the codes as they are (no conversion between two inputs of one format).

The oracle is ``ffmpeg -i CAND -i REF -lavfi libvmaf=log_fmt=json`` (FFmpeg's libvmaf takes the
distorted picture first); per frame and in the mean, filmrt must be within 0.5. Run with ``-s`` to
see the figures (docs/quality.md quotes them). Skipped with a reason without an FFmpeg with libvmaf.

Found by attacking ``--vmaf`` with pairs nobody tuned for (issue 23), each with its test below: a
picture size that changes mid-stream (scored, now with a note), a candidate of a later part of REF
(``--offset``), a pair shown turned differently (refused), ``--ss nan`` (a traceback), and
``eval --vmaf`` on 720p PNG triplets (a BT.709 Y' where libvmaf on the files reads BT.601).
"""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from filmrt.cli.main import main
from filmrt.vmaf import find_ffmpeg

W, H, N = 192, 108, 12
pytestmark = pytest.mark.skipif(find_ffmpeg() is None, reason="no FFmpeg with libvmaf (pip install 'filmrt[quality]')")


def _texture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    big = rng.random((H + 8, W + 2 * N + 8))
    k = np.ones(5) / 5  # smooth, so that a blur costs something and motion is measurable
    for ax in (0, 1):
        big = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), ax, big)
    return (big - big.min()) / (big.max() - big.min())


TEX = _texture(11)


def luma(i: int, case: str) -> np.ndarray:
    """Frame ``i`` of the pan, (H, W) float Y' in 8-bit code values."""
    t = TEX[4 : 4 + H, 4 + 2 * i : 4 + 2 * i + W]
    if case != "excursions":
        return 20 + 210 * t
    y = 1 + 253 * t  # the texture reaches 1..254
    y[: H // 2] = 226 + 28 * t[: H // 2]  # detail above 235 (super-whites: a sky, a specular highlight)
    y[H // 2 :, : W // 2] = 1 + 24 * t[H // 2 :, : W // 2]  # and below 16 (sub-blacks)
    y[10:30, 20:70] = 250.0  # a flat super-white block
    y[70:95, 110:170] = 5.0  # a flat sub-black one
    return y


def blur(y: np.ndarray) -> np.ndarray:
    p = np.pad(y, 1, mode="edge")
    return sum(p[dy : dy + H, dx : dx + W] for dy in range(3) for dx in range(3)) / 9


def write(path, planes_y, pix_fmt: str, color_range: int) -> str:
    """FFV1 in Matroska: the given Y' planes (8-bit code values, scaled to the format's depth),
    neutral chroma, ``color_range`` tagged (1 limited, 2 full)."""
    fmt = av.VideoFormat(pix_fmt)
    bits = fmt.components[0].bits
    dtype = np.uint8 if bits == 8 else np.uint16
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = W, H, pix_fmt
        s.codec_context.color_range = color_range
        s.codec_context.time_base = s.time_base = Fraction(1, 25)
        for k, y in enumerate(planes_y):
            f = av.VideoFrame(W, H, pix_fmt)
            for n, p in enumerate(f.planes):
                arr = np.frombuffer(p, dtype=dtype).reshape(p.height, p.line_size // dtype().itemsize)
                val = y * 2 ** (bits - 8) if n == 0 else np.full((p.height, p.width), 128.0 * 2 ** (bits - 8))
                arr[:, : p.width] = np.clip(np.round(val), 0, 2**bits - 1).astype(dtype)
            f.color_range = color_range
            f.pts, f.time_base = k, Fraction(1, 25)
            c.mux(s.encode(f))
        c.mux(s.encode())
    return str(path)


CASES = {  # case: (REF pix_fmt, REF range, CAND pix_fmt, CAND range)
    "in-range": ("yuv420p", 1, "yuv420p", 1),
    "excursions": ("yuv420p", 1, "yuv420p", 1),
    "10-bit": ("yuv420p10le", 1, "yuv420p10le", 1),
    "444-vs-420": ("yuv420p", 1, "yuv444p", 1),
    "full-vs-limited": ("yuv420p", 1, "yuv420p", 2),
}


def make_pair(folder, case: str) -> tuple[str, str]:
    """(REF, CAND) files of ``case`` in ``folder``."""
    rf, rr, cf, cr = CASES[case]
    frames = [luma(i, case) for i in range(N)]
    ref = write(folder / f"{case}-ref.mkv", frames, rf, rr)
    cand = write(folder / f"{case}-cand.mkv", [blur(y) for y in frames], cf, cr)
    return ref, cand


def libvmaf(ref: str, cand: str, log) -> list[float]:
    """Per-frame VMAF from FFmpeg's libvmaf run on the two files (CAND first: the distorted input)."""
    subprocess.run([find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", cand, "-i", ref,
                    "-lavfi", f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}", "-f", "null", "-"], check=True)
    frames = json.loads(log.read_text())["frames"]
    return [float(f["metrics"]["vmaf"]) for f in sorted(frames, key=lambda f: f["frameNum"])]


def filmrt_vmaf(ref: str, cand: str, out) -> list[float]:
    assert main(["score", ref, cand, "--every", "0", "--vmaf", "--json", str(out), "--quiet"]) == 0
    return [r["vmaf"] for r in json.loads(out.read_text())["frames"]]


@pytest.mark.parametrize("case", list(CASES))
def test_score_vmaf_agrees_with_libvmaf(tmp_path, case):
    ref, cand = make_pair(tmp_path, case)
    ours = filmrt_vmaf(ref, cand, tmp_path / "ours.json")
    theirs = libvmaf(ref, cand, tmp_path / "theirs.json")
    assert len(ours) == len(theirs) == N
    worst = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
    print(f"\n{case}: filmrt {np.mean(ours):.3f}, libvmaf {np.mean(theirs):.3f}, worst frame {worst:.4f}")
    assert worst < 0.5
    assert abs(float(np.mean(ours)) - float(np.mean(theirs))) < 0.5
    assert float(np.mean(theirs)) < 97  # a degraded copy: agreement on 100 would prove nothing


def test_copy_with_excursions_agrees_with_libvmaf(tmp_path):
    # the report of issue 23: a copy of a file with super-whites and sub-blacks (libvmaf: about 100)
    ref, _ = make_pair(tmp_path, "excursions")
    ours = filmrt_vmaf(ref, ref, tmp_path / "ours.json")
    theirs = libvmaf(ref, ref, tmp_path / "theirs.json")
    worst = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
    print(f"\ncopy-excursions: filmrt {np.mean(ours):.3f}, libvmaf {np.mean(theirs):.3f}, worst frame {worst:.4f}")
    assert worst < 0.5 and float(np.mean(theirs)) > 99


@pytest.mark.parametrize(("fmt", "planar"), [("yuv420p", "yuv420p"), ("nv12", "yuv420p"), ("p010le", "yuv420p10le"),
                                             ("yuyv422", "yuv422p"), ("bgr0", "gbrp"), ("gray10le", "gray10le")])
def test_picture_keeps_the_decoded_codes(fmt, planar):
    # a packed or semi-planar frame crosses as its planar form: the same Y' codes, no range change
    from filmrt.vmaf import Picture

    rgb = np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
    pic = Picture.of_frame(frame)
    assert pic.pix_fmt == planar
    want = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt).reformat(format=planar)
    first = want.planes[0]
    item = 2 if "10" in planar else 1
    rows = np.frombuffer(first, np.uint8).reshape(first.height, first.line_size)[:, : first.width * item]
    assert pic.data[: rows.size] == rows.tobytes()
    assert len(pic.data) >= rows.size
    if fmt in ("yuv420p", "nv12"):  # 8-bit Y' first: the decoded plane itself
        p0 = frame.planes[0]
        assert pic.data[: H * W] == np.frombuffer(p0, np.uint8).reshape(H, p0.line_size)[:, :W].tobytes()


def _mjpeg_with_size_change(path, frames_y) -> str:
    """MJPEG in Matroska whose second half is half the size (each JPEG carries its own size: a
    legal mid-stream change, as at a splice). Two encoders, one stream."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("mjpeg", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuvj420p"
        s.time_base = Fraction(1, 25)
        small = av.CodecContext.create("mjpeg", "w")
        small.width, small.height, small.pix_fmt, small.time_base = W // 2, H // 2, "yuvj420p", Fraction(1, 25)
        half = len(frames_y) // 2
        for k, y in enumerate(frames_y):
            rgb = np.repeat(np.clip(np.round(y), 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            if k >= half:
                rgb = rgb[::2, ::2]
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuvj420p")
            f.pts, f.time_base = k, Fraction(1, 25)
            for p in (small.encode(f) if k >= half else s.encode(f)):
                p.stream, p.pts, p.dts, p.time_base = s, k, k, Fraction(1, 25)
                c.mux(p)
    return str(path)


def test_score_says_when_a_picture_size_changes(tmp_path, capsys):
    # libvmaf refuses a file whose size changes midway; score scales such pictures to the first
    # size (as convert does) and must say so, not hand back a number as if nothing happened
    frames = [luma(i, "in-range") for i in range(N)]
    ref = write(tmp_path / "ref.mkv", frames, "yuv420p", 1)
    cand = _mjpeg_with_size_change(tmp_path / "cand.mkv", frames)
    out = tmp_path / "ours.json"
    assert main(["score", ref, cand, "--every", "0", "--vmaf", "--json", str(out), "--quiet"]) == 0
    rep = json.loads(out.read_text())
    assert len([r for r in rep["frames"] if "vmaf" in r]) == N
    assert any(n.startswith("CAND: the picture size changes mid-stream") for n in rep["notes"])
    assert "filmrt: note: CAND: the picture size changes mid-stream" in capsys.readouterr().err


def test_offset_scores_a_candidate_of_a_later_part(tmp_path):
    # a tool run on REF from its 5th frame on: CAND's first frame is REF's at 0.16 s, and nothing in
    # the files says so (both tools pair from the first frames: 30 VMAF points off). --offset
    # starts REF alone there; the oracle is libvmaf on REF's frames from there, written apart
    frames = [luma(i, "in-range") for i in range(N)]
    ref = write(tmp_path / "ref.mkv", frames, "yuv420p", 1)
    tail = write(tmp_path / "ref-tail.mkv", frames[4:], "yuv420p", 1)
    cand = write(tmp_path / "cand.mkv", [blur(y) for y in frames[4:]], "yuv420p", 1)
    out = tmp_path / "ours.json"
    assert main(["score", ref, cand, "--every", "0", "--vmaf", "--offset", "0.16", "--json", str(out), "--quiet"]) == 0
    rep = json.loads(out.read_text())
    ours = [r["vmaf"] for r in rep["frames"]]
    theirs = libvmaf(tail, cand, tmp_path / "theirs.json")
    assert len(ours) == len(theirs) == N - 4 and rep["unmatched_cand_frames"] == 0
    worst = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
    print(f"\noffset: filmrt {np.mean(ours):.3f}, libvmaf {np.mean(theirs):.3f}, worst frame {worst:.4f}")
    assert worst < 0.5
    # --ss cuts both files alike (CAND's 0.04 s is REF's 0.20 s): the same pairs, less the first
    assert main(["score", ref, cand, "--every", "0", "--ss", "0.04", "--offset", "0.16", "--json", str(out),
                 "--quiet"]) == 0
    assert [r["psnr"] for r in json.loads(out.read_text())["frames"]] == [r["psnr"] for r in rep["frames"]][1:]


@pytest.mark.parametrize("args", [["--ss", "nan"], ["--t", "inf"], ["--offset", "nan"], ["--offset", "-1"]])
def test_non_finite_times_are_one_line_errors(tmp_path, args, capsys):
    # argparse's float takes "nan" and "inf": once a traceback from Fraction, now the usual refusal
    ref = write(tmp_path / "ref.mkv", [luma(i, "in-range") for i in range(2)], "yuv420p", 1)
    assert main(["score", ref, ref, "--quiet", *args]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_pair_shown_turned_differently_is_refused(tmp_path, capsys):
    # CAND is REF's very pictures with a display matrix (shown turned 90 degrees): FFmpeg's libvmaf
    # turns it and refuses the pair (sizes differ); filmrt scored the coded pictures (as good as a
    # copy) without a word. Now a one-line error; two files turned alike still score.
    ref = write(tmp_path / "ref.mkv", [luma(i, "in-range") for i in range(4)], "yuv420p", 1)
    turned = tmp_path / "turned.mov"
    subprocess.run([find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-display_rotation", "90",
                    "-i", ref, "-c", "copy", str(turned)], check=True)
    assert main(["score", ref, str(turned), "--every", "0", "--vmaf", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "REF is shown rotated 0 degrees and CAND 90" in err and "Traceback" not in err
    assert main(["score", str(turned), str(turned), "--every", "0", "--quiet"]) == 0


def test_eval_vmaf_agrees_with_libvmaf_on_the_png_files_at_720p(tmp_path):
    # eval's triplets are RGB files: the oracle is libvmaf on PRED.png and TRUTH.png, which FFmpeg
    # turns into BT.601 Y'. eval once gave libvmaf a BT.709 Y' from 720 lines (an untagged HD
    # video's): up to 2.7 points off on Middlebury pictures scaled to 720p, 1.3 on these
    from PIL import Image

    from filmrt.imageio import read_image, to_uint8

    w, h = 1280, 720
    rng = np.random.default_rng(5)
    big = rng.random((h // 8 + 4, w // 8 + 8, 3))
    big = np.kron(big, np.ones((8, 8, 1)))  # blocks of colour, each channel its own: matrices differ
    d = tmp_path / "set" / "00"
    d.mkdir(parents=True)
    for name, dx in (("frame_00.png", 0), ("frame_01_gt.png", 2), ("frame_02.png", 4)):
        Image.fromarray((255 * big[16 : 16 + h, 8 + dx : 8 + dx + w]).astype(np.uint8)).save(d / name)
    js = tmp_path / "e.json"
    assert main(["eval", "--dataset", str(tmp_path / "set"), "--model", "blend", "--vmaf", "--quiet",
                 "--json", str(js)]) == 0
    ours = json.loads(js.read_text())["sets"][0]["examples"][0]["vmaf"]
    a, b = read_image(d / "frame_00.png"), read_image(d / "frame_02.png")
    Image.fromarray(to_uint8(0.5 * (a + b))).save(tmp_path / "pred.png")  # the blend model's prediction
    theirs = libvmaf(str(d / "frame_01_gt.png"), str(tmp_path / "pred.png"), tmp_path / "theirs.json")[0]
    print(f"\neval 720p: filmrt {ours:.3f}, libvmaf {theirs:.3f}")
    assert abs(ours - theirs) < 0.5 and theirs < 97

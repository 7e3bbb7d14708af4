"""A display matrix (phone video turned 90/180/270°, or mirrored) into a container that has no place
for it (.ts, .avi, .mpg): the pictures are turned upright, as ffmpeg's autorotate does; .mp4/.mkv
keep the matrix and the coded pictures. A bright square in the source's top-left corner must land
where a player shows it (the corners below were measured with FFmpeg 6.0: `ffmpeg -i IN -c:v
libx264 OUT.ts` puts it in the same corner at the same size)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from filmrt.cli.main import main
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.hdr import display_matrix_of
from filmrt.pipeline.io.orient import MATRIX_MUXERS, turn_of
from filmrt.pipeline.io.verify import verify_pair
from filmrt.pipeline.options import ConvertOptions, EncodeOptions

W, H, FRAMES = 64, 48, 10
#: the source's display matrix (PyAV's set_display_rotation: anticlockwise degrees, flips) and the
#: corner where a player shows the top-left marker (FFmpeg 6.0's autorotate: the same corners)
CASES = {
    "rot90": ((90, False, False), "BL"),
    "rot180": ((180, False, False), "BR"),
    "rot270": ((270, False, False), "TR"),
    "hflip": ((0, True, False), "TR"),
}


def make_marked(path, rot: int, hflip: bool, vflip: bool, *, width: int = W, height: int = H,
                frames: int = FRAMES, codec: str = "libx264") -> str:
    """A grey clip with a bright square in the top-left corner of every coded picture, and a display matrix."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream(codec, rate=25)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            vs.codec_context.options = {"preset": "ultrafast", "crf": "10"}
        vs.set_display_rotation(rot, hflip=hflip, vflip=vflip)
        for i in range(frames):
            img = np.full((height, width, 3), 40, np.uint8)
            img[: height // 4, : width // 4] = 255
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    return str(path)


def read_out(path) -> dict:
    """Size, frame count and rate, the first picture's bright corner and display matrix."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = list(c.decode(vs))
        rate = vs.average_rate
    a = frames[0].to_ndarray(format="gray").astype(float)
    h, w = a.shape
    corners = {"TL": a[: h // 8, : w // 8], "TR": a[: h // 8, -(w // 8):], "BL": a[-(h // 8):, : w // 8],
               "BR": a[-(h // 8):, -(w // 8):]}
    means = {k: v.mean() for k, v in corners.items()}
    bright = max(means, key=means.get)
    assert means[bright] > 180 and sorted(means.values())[-2] < 90  # one bright corner, the others grey
    return {"size": (w, h), "frames": len(frames), "rate": rate, "corner": bright,
            "matrix": display_matrix_of(frames[0])}


def fast(**kw) -> ConvertOptions:
    return ConvertOptions(fps="50", runtime=RuntimeOptions(model="blend"), encode=EncodeOptions(preset="ultrafast"),
                          **kw)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("orient")
    return {name: make_marked(d / f"{name}.mp4", *m) for name, (m, _) in CASES.items()}


@pytest.mark.parametrize("ext", ["ts", "avi", "mp4"])
@pytest.mark.parametrize("name", list(CASES))
def test_turned_where_the_container_has_no_place(sources, name, ext, tmp_path):
    src, (rot, _, _), corner = sources[name], *CASES[name]
    out = tmp_path / f"o.{ext}"
    r = convert(src, out, fast())
    got = read_out(out)
    assert got["frames"] == 2 * FRAMES and got["rate"] == 50 and r.frames_out == 2 * FRAMES
    assert r.verify["status"] == "ok", r.verify
    rep = verify_pair(src, str(out))
    assert rep.ok, rep.differences
    quarter = rot in (90, 270)
    if ext == "mp4":  # the matrix kept, the pictures as coded
        assert got["size"] == (W, H) and got["corner"] == "TL" and got["matrix"] is not None
        assert turn_of(got["matrix"]) == turn_of(display_matrix_of_first(src))
        assert not any("into the pictures" in n for n in r.output["notes"])
        assert "display matrix" in rep.checks
        return
    assert got["size"] == ((H, W) if quarter else (W, H)) and (r.width, r.height) == got["size"]
    assert got["corner"] == corner  # where a player shows the source's top-left
    assert got["matrix"] is None
    container = "mpegts" if ext == "ts" else "avi"
    assert [n for n in r.output["notes"] if n.endswith(f"into the pictures: {container} has no place for the "
                                                         "display matrix")], r.output["notes"]


def display_matrix_of_first(path) -> list[int] | None:
    with av.open(str(path)) as c:
        return display_matrix_of(next(c.decode(video=0)))


def test_mpeg_ps_and_mkv(sources, tmp_path):
    """.mpg (MPEG-2 by default) is turned; .mkv keeps the matrix."""
    r = convert(sources["rot90"], tmp_path / "o.mpg", fast())
    got = read_out(tmp_path / "o.mpg")
    assert got["size"] == (H, W) and got["corner"] == "BL" and got["matrix"] is None and r.verify["status"] == "ok"
    assert verify_pair(sources["rot90"], str(tmp_path / "o.mpg")).ok
    convert(sources["rot90"], tmp_path / "o.mkv", fast())
    got = read_out(tmp_path / "o.mkv")
    assert got["size"] == (W, H) and got["corner"] == "TL" and got["matrix"] is not None


def test_ss_interlaced_and_odd_size(sources, tmp_path):
    # --ss: the range's first picture is turned like the rest
    r = convert(sources["rot270"], tmp_path / "ss.ts", fast(ss=0.2))
    got = read_out(tmp_path / "ss.ts")
    assert got["size"] == (H, W) and got["corner"] == "TR" and got["frames"] == 2 * (FRAMES - 5)
    assert r.verify["status"] == "ok" and verify_pair(sources["rot270"], str(tmp_path / "ss.ts"), ss=0.2).ok
    # deinterlaced (bwdif at field rate) first, then turned
    r = convert(sources["rot90"], tmp_path / "i.ts", fast(deinterlace="bwdif"))
    got = read_out(tmp_path / "i.ts")
    assert got["size"] == (H, W) and got["corner"] == "BL" and r.verify["status"] == "ok"
    assert r.temporal["deinterlace"] == "bwdif"
    # odd size: 65x49 turned is 49x65, the encoder's 4:2:0 drops the last column and row
    odd = make_marked(tmp_path / "odd.mkv", 90, False, False, width=65, height=49, codec="ffv1")
    r = convert(odd, tmp_path / "odd.ts", fast())
    got = read_out(tmp_path / "odd.ts")
    assert got["size"] == (48, 64) and got["corner"] == "BL" and r.verify["status"] == "ok"
    assert verify_pair(odd, str(tmp_path / "odd.ts")).ok


def test_sar_turned_with_the_picture(tmp_path):
    """Anamorphic pixels (2:1) turned a quarter: the SAR becomes 1:2 (the display shape stays right)."""
    src = tmp_path / "ana.mp4"
    with av.open(str(src), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.codec_context.sample_aspect_ratio = vs.sample_aspect_ratio = Fraction(2, 1)
        vs.set_display_rotation(90)
        for i in range(FRAMES):
            f = av.VideoFrame.from_ndarray(np.full((H, W, 3), 90, np.uint8), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    r = convert(str(src), tmp_path / "ana.ts", fast())
    with av.open(str(tmp_path / "ana.ts")) as c:
        next(c.decode(video=0))
        assert c.streams.video[0].codec_context.sample_aspect_ratio == Fraction(1, 2)
    assert r.verify["status"] == "ok" and verify_pair(str(src), str(tmp_path / "ana.ts")).ok


def test_filmrt_verify_flags_a_sideways_output(sources, tmp_path):
    """The fault this guards against: a TS written as coded (no turn) plays sideways; verify says so."""
    sideways = tmp_path / "sideways.ts"
    with av.open(sources["rot90"]) as i, av.open(str(sideways), "w") as o:
        vs = o.add_stream("libx264", rate=50)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        n = 0
        for f in i.decode(video=0):
            for _ in range(2):
                g = f.reformat(format="yuv420p")
                g.pts, g.time_base = n, Fraction(1, 50)
                n += 1
                for p in vs.encode(g):
                    o.mux(p)
        for p in vs.encode(None):
            o.mux(p)
    rep = verify_pair(sources["rot90"], str(sideways))
    assert not rep.ok and any("picture size" in d for d in rep.differences), rep.differences
    assert main(["verify", sources["rot90"], str(sideways)]) == 4


@pytest.mark.parametrize("ext,muxer,codec,kept", [
    ("mp4", "mp4", "libx264", True), ("mov", "mov", "libx264", True), ("mkv", "matroska", "libx264", True),
    ("webm", "webm", "libvpx-vp9", True), ("ts", "mpegts", "libx264", False), ("avi", "avi", "libx264", False),
    ("mpg", "mpeg", "mpeg2video", False), ("vob", "vob", "mpeg2video", False), ("mxf", "mxf", "libx264", False),
    ("nut", "nut", "libx264", False), ("flv", "flv", "libx264", False)])
def test_which_containers_keep_the_matrix(ext, muxer, codec, kept, tmp_path):
    """MATRIX_MUXERS is what FFmpeg writes and reads back (written with a 90° matrix here)."""
    p = make_marked(tmp_path / f"m.{ext}", 90, False, False, codec=codec)
    with av.open(p) as c:
        assert (display_matrix_of(next(c.decode(video=0))) is not None) is kept
    assert (muxer in MATRIX_MUXERS) is kept


def test_live_from_a_file_turns_too(sources, tmp_path):
    """`filmrt live` plans with the same output decision: a file's matrix into MPEG-TS is turned."""
    from filmrt.pipeline.live.options import LiveOptions
    from filmrt.pipeline.live.run import live

    out = tmp_path / "live.ts"
    live(sources["rot90"], str(out), LiveOptions(fps="50", runtime=RuntimeOptions(model="blend")))
    got = read_out(out)
    assert got["size"] == (H, W) and got["corner"] == "BL" and got["matrix"] is None


@pytest.mark.parametrize("matrix,chain,quarter", [
    ([0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30], (("transpose", "cclock"),), True),  # -display_rotation 90
    ([0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30], (("transpose", "clock"),), True),  # 270
    ([-65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30], (("hflip", ""), ("vflip", "")), False),  # 180
    ([-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30], (("hflip", ""),), False),  # mirrored
    ([65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30], (("vflip", ""),), False),  # upside-down mirror
])
def test_turn_of_is_ffmpegs_autorotate(matrix, chain, quarter):
    """fftools' choice for each matrix (get_rotation, then transpose / hflip / vflip)."""
    t = turn_of(matrix)
    assert t.chain == chain and t.quarter is quarter
    assert t.size(64, 48) == ((48, 64) if quarter else (64, 48))
    assert t.sar(Fraction(2)) == (Fraction(1, 2) if quarter else 2)


def test_no_turn_for_the_identity_and_none_made_for_a_tilt():
    assert turn_of([65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30]) is None and turn_of(None) is None
    tilt = turn_of([56756, -32768, 0, 32768, 56756, 0, 0, 0, 1 << 30])  # 30°: ffmpeg's `rotate`, not done here
    assert tilt is not None and not tilt.applicable

"""Same format out: mezzanine codecs, chroma formats, bit depth, RGB, HDR tags and metadata, alpha.

Each clip is made here (tests/support/formats_synth.py), converted x2 with the ``blend`` model (or
RIFE where motion matters), and the output is decoded: codec, profile, pixel format, colour tags and
side data are what the source had, and copied source frames come back within the stated PSNR.
"""

from __future__ import annotations

import av
import pytest
import torch
from support.formats_synth import decoded, make_caption_clip, make_extras_clip, make_format_clip, square_x
from support.helpers import decode_all

from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.captions import a53_of
from filmrt.pipeline.io.colour import ColourSpec
from filmrt.pipeline.io.formats import choose_format
from filmrt.pipeline.io.hdr import SideInfo, losses, read_side_data
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.quality import psnr

HDR10 = ("log-level=error:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
         "L(10000000,50):max-cll=1000,400")
#: (name, clip options, extension, expected profile, PSNR of copied frames vs the source (dB))
CASES = [
    ("prores_hq", dict(codec="prores_ks", pix_fmt="yuv422p10le", options={"profile": "hq"}), "mov", "HQ", 55),
    ("dnxhr_hqx", dict(codec="dnxhd", pix_fmt="yuv422p10le", options={"profile": "dnxhr_hqx"}, width=256,
                       height=144), "mov", "DNXHR HQX", 55),
    ("h264_444_10", dict(codec="libx264", pix_fmt="yuv444p10le", options={"crf": "0", "preset": "ultrafast"}),
     "mkv", "High 4:4:4 Predictive", 40),
    ("h264_422", dict(codec="libx264", pix_fmt="yuv422p", options={"crf": "0", "preset": "ultrafast"}),
     "mkv", "High 4:2:2", 40),
    ("ffv1_rgb10", dict(codec="ffv1", pix_fmt="gbrp10le"), "mkv", None, 80),
    # BT.2020 primaries and matrix, HLG transfer (ARIB STD-B67): the tags travel as they are
    ("prores_hlg", dict(codec="prores_ks", pix_fmt="yuv422p10le", options={"profile": "standard"},
                        spec=ColourSpec("bt2020", False, 10), primaries=9, trc=18), "mov", "Standard", 55),
]


def options(model: str = "blend", **encode) -> ConvertOptions:
    return ConvertOptions(fps="x2", runtime=RuntimeOptions(model=model),
                          encode=EncodeOptions(preset="ultrafast", **encode))


def stream_facts(path) -> dict:
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return dict(codec=cc.name, profile=cc.profile, pix_fmt=cc.pix_fmt, primaries=cc.color_primaries,
                    trc=cc.color_trc, colorspace=cc.colorspace, range=cc.color_range)


@pytest.mark.parametrize("name,kw,ext,profile,bound", CASES, ids=[c[0] for c in CASES])
def test_same_format_out(tmp_path, name, kw, ext, profile, bound):
    """Same codec family, profile, pixel format (chroma + bits) and tags; copies within ``bound`` dB."""
    src = make_format_clip(tmp_path / f"in.{ext}", **kw)
    out = tmp_path / f"out.{ext}"
    res = convert(src, out, options())
    a, b = stream_facts(src), stream_facts(out)
    assert (b["codec"], b["profile"], b["pix_fmt"]) == (a["codec"], profile, kw["pix_fmt"])
    assert (b["primaries"], b["trc"], b["colorspace"], b["range"]) == (
        a["primaries"], a["trc"], a["colorspace"], a["range"])
    assert res.video["output"]["pix_fmt"] == kw["pix_fmt"] and res.dropped == []
    if "trc" in kw:
        assert (b["primaries"], b["trc"], b["colorspace"]) == (9, 18, 9)
    s, o = decode_all(src), decode_all(out)
    assert len(o) == 2 * len(s) - 1 or len(o) == 2 * len(s)
    for i in range(len(s)):
        assert psnr(o[2 * i][1], s[i][1]) > bound


def test_hevc_pq_hdr10_metadata_carried(tmp_path):
    """HEVC Main10, BT.2020 + PQ, mastering display + content light level -> the same out."""
    src = make_format_clip(tmp_path / "pq.mkv", codec="libx265", pix_fmt="yuv420p10le", primaries=9, trc=16,
                           spec=None, options={"preset": "ultrafast", "x265-params": HDR10})
    out = tmp_path / "out.mkv"
    res = convert(src, out, options())
    facts = stream_facts(out)
    assert (facts["codec"], facts["profile"], facts["pix_fmt"]) == ("hevc", "Main 10", "yuv420p10le")
    assert (facts["primaries"], facts["trc"]) == (9, 16)  # BT.2020, SMPTE ST 2084 (PQ)
    assert "BT.2020 primaries, PQ (SMPTE ST 2084) transfer" in res.colour
    want, got = read_side_data(decoded(src)[0]), read_side_data(decoded(out)[0])
    assert got.mastering == want.mastering and got.light == want.light
    assert got.light.max_cll == 1000 and got.light.max_fall == 400
    assert abs(got.mastering.max_luminance - 1000) < 1e-6 and res.dropped == []
    assert res.video["side_data"]["content_light_level"] == {"max_cll": 1000, "max_fall": 400}


def test_hdr10_static_metadata_refused_or_said(tmp_path):
    """An encoder that cannot carry HDR10 static metadata: said once; --strict refuses."""
    src = make_format_clip(tmp_path / "pq.mkv", codec="libx265", pix_fmt="yuv420p10le", primaries=9, trc=16,
                           options={"preset": "ultrafast", "x265-params": HDR10}, frames=3)
    res = convert(src, tmp_path / "o.mkv", options(codec="ffv1"))
    assert len(res.dropped) == 1 and "HDR10 static metadata" in res.dropped[0]
    assert stream_facts(tmp_path / "o.mkv")["trc"] == 16  # the tags still travel
    with pytest.raises(FilmrtError, match="--strict: HDR10"):
        convert(src, tmp_path / "s.mkv", options(codec="ffv1", strict=True))
    assert not (tmp_path / "s.mkv").exists()


def test_full_range_stays_full(tmp_path):
    src = make_format_clip(tmp_path / "full.mkv", codec="libx264", pix_fmt="yuv420p", frames=3,
                           spec=ColourSpec("bt709", True, 8), options={"crf": "0", "preset": "ultrafast"})
    res = convert(src, tmp_path / "o.mkv", options())
    assert stream_facts(tmp_path / "o.mkv")["range"] == 2 and "full range" in res.colour
    s, o = decode_all(src), decode_all(tmp_path / "o.mkv")
    assert psnr(o[0][1], s[0][1]) > 40


@pytest.mark.parametrize("codec,pix,ext", [("ffv1", "yuva420p", "mkv"), ("qtrle", "argb", "mov"),
                                           ("prores_ks", "yuva444p10le", "mov")])
def test_alpha_moves_with_the_picture(tmp_path, codec, pix, ext):
    """A moving opaque square on a transparent background: the interpolated alpha (RIFE) has the
    square at the interpolated position (not two half-transparent ghosts), and the output keeps alpha."""
    w = h = 64
    frames = 5
    kw = {"options": {"profile": "4444"}} if codec == "prores_ks" else {}
    src = make_format_clip(tmp_path / f"a.{ext}", codec=codec, pix_fmt=pix, width=w, height=h, frames=frames,
                           alpha=True, **kw)
    out = tmp_path / f"o.{ext}"
    res = convert(src, out, options("rife"))
    assert stream_facts(out)["codec"] == stream_facts(src)["codec"]
    assert res.interpolated >= 4 and res.video["output"]["pix_fmt"] == pix
    got = [f.to_ndarray(format="rgba64le")[..., 3].astype("float32") / 65535 for f in decoded(out)]
    s = max(4, min(w, h) // 4)
    y0 = (h - s) // 2
    for k in (1, 3):  # between source frames 0-1 and 1-2
        x_mid = (square_x(k // 2, w, h, frames) + square_x(k // 2 + 1, w, h, frames)) / 2
        alpha = torch.from_numpy(got[k])
        want = torch.zeros(h, w)
        xi = int(round(x_mid))
        want[y0 : y0 + s, xi : xi + s] = 1
        inside = alpha[want > 0].mean().item()
        ring = torch.nn.functional.max_pool2d(want[None, None], 7, 1, 3)[0, 0]  # 3 px margin
        outside = alpha[ring == 0].max().item()
        assert inside > 0.85 and outside < 0.25, (k, inside, outside)
    for i in (0, 2):  # copied frames keep their alpha exactly where it was
        a = torch.from_numpy(got[2 * i])
        x0 = square_x(i, w, h, frames)
        assert a[y0 : y0 + s, x0 : x0 + s].mean() > 0.99 and a.sum() == pytest.approx(s * s, rel=0.02)


def test_alpha_dropped_is_said_and_strict_refuses(tmp_path):
    src = make_format_clip(tmp_path / "a.mkv", codec="ffv1", pix_fmt="yuva420p", frames=3, alpha=True)
    res = convert(src, tmp_path / "o.mkv", options(codec="libx264"))
    assert any("alpha dropped" in d for d in res.dropped)
    with pytest.raises(FilmrtError, match="--strict: alpha dropped"):
        convert(src, tmp_path / "s.mkv", options(codec="libx264", strict=True))


def test_overrides_and_decisions_in_json(tmp_path):
    """--codec/--pix-fmt/--profile/--bitrate override the source's; the JSON says what was chosen."""
    src = make_format_clip(tmp_path / "p.mov", codec="prores_ks", pix_fmt="yuv422p10le", frames=3,
                           options={"profile": "hq"})
    res = convert(src, tmp_path / "o.mov", options(profile="lt"))
    assert stream_facts(tmp_path / "o.mov")["profile"] == "LT"
    res = convert(src, tmp_path / "o.mkv", options(codec="libx264", pix_fmt="yuv420p", bitrate="2M"))
    d = res.to_dict()
    assert d["video"]["output"]["codec"] == "libx264" and d["video"]["output"]["bitrate"] == 2_000_000
    assert "chroma reduced" in " ".join(d["dropped"]) and "bit depth lowered" in " ".join(d["dropped"])
    assert stream_facts(tmp_path / "o.mkv")["pix_fmt"] == "yuv420p"


def test_format_choice_table():
    """--codec auto for sources the tests do not encode (no encoder, or too slow to make)."""
    c = choose_format("prores", "yuva444p12le", "4444")
    assert (c.codec, c.profile, c.pix_fmt) == ("prores_ks", "4444", "yuva444p10le")
    assert choose_format("prores", "yuv422p10le", "XQ").profile == "4444xq"
    assert choose_format("hevc", "yuv422p12le").pix_fmt == "yuv422p12le"
    assert choose_format("h264", "yuv420p12le").pix_fmt == "yuv420p10le"  # x264: 10 bit at most, said
    c = choose_format("mpeg2video", "yuv422p", None, 50_000_000)  # XDCAM HD422: MPEG-2 kept, 4:2:2 profile
    assert (c.codec, c.pix_fmt, c.profile, c.bitrate) == ("mpeg2video", "yuv422p", "422", 50_000_000)
    assert choose_format("vp9", "yuva420p").codec == "ffv1"  # alpha kept
    assert choose_format("rawvideo", "rgb48le").pix_fmt == "yuv444p10le"
    with pytest.raises(FilmrtError, match="DNxHD"):
        choose_format("dnxhd", "yuv422p", "DNXHD")
    assert choose_format("dnxhd", "yuv422p", "DNXHD", 36_000_000).bitrate == 36_000_000


class _SD:
    def __init__(self, name, raw=b""):
        self.type = type("T", (), {"name": name})()
        self.raw = raw

    def __bytes__(self):
        return self.raw


def test_dynamic_metadata_and_captions_are_said():
    """HDR10+ / Dolby Vision / A/53 captions cannot be made with PyAV's encoders: the policy on
    decoded side data of those types (what the decoder hands over)."""
    frame = type("F", (), {"side_data": [_SD("DYNAMIC_HDR_PLUS"), _SD("A53_CC"), _SD("DOVI_RPU_BUFFER")]})()
    side = read_side_data(frame, SideInfo())
    lost = losses(side, "libx265")
    assert len(lost) == 3 and "HDR10+" in lost[0] and "Dolby Vision" in lost[1] and "captions" in lost[2]


def test_chapters_attachments_dispositions_copied(tmp_path):
    """Matroska: the font attachment, the subtitle's forced/default disposition and language, and the
    chapters (shifted by --ss) are copied; MP4 cannot hold the attachment: said, --strict refuses."""
    src = make_extras_clip(tmp_path / "x.mkv")
    out = tmp_path / "o.mkv"
    res = convert(src, out, options().replace(ss=0.5))
    assert res.extras == {"chapters": 2, "attachments": 1, "dispositions": 1} and res.dropped == []
    with av.open(str(out)) as c:
        sub = c.streams.subtitles[0]
        assert sub.disposition == av.stream.Disposition.forced | av.stream.Disposition.default
        assert sub.metadata["language"] == "fra"
        att = [s for s in c.streams if s.type == "attachment"]
        assert [(s.name, bytes(s.data)) for s in att] == [("font.ttf", b"FAKEFONT" * 10)]
        ch = [(float(x["start"] * x["time_base"]), float(x["end"] * x["time_base"]), x["metadata"]["title"])
              for x in c.chapters()]
    assert ch == [(0.0, pytest.approx(0.3), "One"), (pytest.approx(0.3), pytest.approx(1.1), "Two")]
    # MP4 cannot hold the SubRip stream: refused unless dropped (--drop-stream s), and the attachment is said
    with pytest.raises(FilmrtError, match="cannot hold stream #1 subtitle"):
        convert(src, tmp_path / "r.mp4", options())
    res = convert(src, tmp_path / "o.mp4", options(drop_stream="s"))
    assert any("attachment" in d for d in res.dropped) and res.extras["chapters"] == 2
    with pytest.raises(FilmrtError, match="--strict: 1 attachment"):
        convert(src, tmp_path / "s.mp4", options(strict=True, drop_stream="s"))


@pytest.mark.parametrize("out_name,codec", [("o.ts", "auto"), ("o.mkv", "auto"), ("o.mkv", "libx265")])
def test_a53_captions_repaced(tmp_path, out_name, codec):
    """H.264 with A/53 CEA-608 captions (one triple per source frame) -> x2: every triple comes out
    once, in order, on the output frame at its source frame's time (Annex B in TS, length-prefixed
    in MKV, H.264 and HEVC SEI)."""
    src = make_caption_clip(tmp_path / "cc.ts", frames=10)
    assert read_side_data(decoded(src)[0]).captions  # the clip really carries them
    out = tmp_path / out_name
    res = convert(src, out, options(codec=codec))
    assert res.dropped == [] and res.video["caption_triples"] == {"in": 10, "out": 10}
    frames = decoded(out)
    got = [a53_of(f) for f in frames]
    assert got[0::2] == [b"\xfc\x94\x20"] * 10  # copied frames: their source frame's captions
    assert not any(got[1::2])  # interpolated frames: nothing due


def test_a53_captions_gathered_when_down_converting(tmp_path):
    """25 -> 12.5: each output frame carries the triples of the source frames up to its time (two),
    the last one everything still due; none is lost or repeated."""
    src = make_caption_clip(tmp_path / "cc.ts", frames=10)
    res = convert(src, tmp_path / "o.mkv", options().replace(fps="12.5"))
    got = [len(a53_of(f)) // 3
           for f in decoded(tmp_path / "o.mkv")]
    assert got == [1, 2, 2, 2, 3] and res.video["caption_triples"] == {"in": 10, "out": 10}


def test_captions_dropped_where_no_place(tmp_path):
    """An encoder without caption SEI (FFV1): said once; --strict refuses and writes nothing."""
    src = make_caption_clip(tmp_path / "cc.ts", frames=4)
    res = convert(src, tmp_path / "o.mkv", options(codec="ffv1"))
    assert [d for d in res.dropped if "captions" in d] == [
        "CEA-608/708 closed captions (A/53) dropped: ffv1 output has no place for them (libx264/libx265 carry "
        "them)"]
    with pytest.raises(FilmrtError, match="--strict: CEA-608"):
        convert(src, tmp_path / "s.mkv", options(codec="ffv1", strict=True))
    assert not (tmp_path / "s.mkv").exists()


def test_batch_reports_the_format_decisions(tmp_path, capsys):
    """batch shares convert's encode options (--codec, --strict ...) and reports each file's decision."""
    import json

    from filmrt.cli.main import main

    lib = tmp_path / "lib"
    lib.mkdir()
    make_format_clip(lib / "a.mkv", codec="ffv1", pix_fmt="yuva420p", frames=3, alpha=True)
    rc = main(["batch", str(lib), str(tmp_path / "out"), "--fps", "x2", "--model", "blend", "--codec", "libx264",
               "--preset", "ultrafast", "--workers", "0", "--quiet", "--json", str(tmp_path / "r.json")])
    assert rc == 0
    (f,) = json.loads((tmp_path / "r.json").read_text())["files"]
    assert f["video"]["output"]["codec"] == "libx264" and "alpha dropped" in f["dropped"][0]
    assert "alpha dropped" in capsys.readouterr().err


def test_container_that_cannot_hold_the_codec(tmp_path):
    """ProRes into .mp4: auto falls back to libx264 at the same 4:2:2 10-bit (said); an explicit
    --codec the container cannot hold is a one-line error and nothing is written."""
    src = make_format_clip(tmp_path / "p.mov", codec="prores_ks", pix_fmt="yuv422p10le", frames=3,
                           options={"profile": "hq"})
    res = convert(src, tmp_path / "o.mp4", options())
    assert stream_facts(tmp_path / "o.mp4")["codec"] == "h264"
    assert stream_facts(tmp_path / "o.mp4")["pix_fmt"] == "yuv422p10le"
    assert res.video["output"]["codec"] == "libx264" and "cannot go into mp4" in res.dropped[0]
    with pytest.raises(FilmrtError, match="--codec prores_ks: the mp4 container cannot hold it"):
        convert(src, tmp_path / "e.mp4", options(codec="prores_ks"))
    assert not (tmp_path / "e.mp4").exists()

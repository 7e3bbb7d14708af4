"""Helpers for the batch tests (no tests here): a small real video library and a fake converter.

The library is cut from ``../shared/data/clips`` with PyAV: ~1 s of each clip, downscaled to a
few dozen pixels, in nested folders, in several containers (mp4 with AAC audio, mpg/MPEG-2, mkv,
mov), plus broken files (random bytes named .mp4, a truncated mp4) and files batch must ignore
(text, image, hidden file).

``fake_convert`` has ``convert``'s signature and behaviour at the file level (temp file + rename,
progress callback, FilmrtError on unreadable input) but only repeats frames (``--fps xN``); it is
the stand-in converter that checks the batch machinery without any model. Its options are a real
ConvertOptions (:func:`FakeOptions`), as batch hands every converter. Every finished
conversion is appended to ``$FILMRT_TEST_CONVERT_LOG`` when that is set, so a test can count how
many times each file was converted, independently of the manifest (one line per conversion:
source path, $CUDA_VISIBLE_DEVICES and options.runtime.device of the worker, tab-separated).
"""

from __future__ import annotations

import os
import random
import shutil
from fractions import Fraction
from pathlib import Path

from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.options import ConvertOptions, EncodeOptions

CLIPS = {
    # library path: (clip, frames, codec, with audio)
    "bikes.mp4": ("bikes_640x272_25.mp4", 25, "libx264", False),
    "street/city.mpg": ("city_cc0_720x405_25.mpg", 25, "mpeg2video", False),
    "street/night/bunny.mp4": ("bbb_720p25_audio.mp4", 25, "libx264", True),
    "cuts/trailer.mkv": ("bbb_trailer_720p24_cuts.mp4", 24, "libx264", False),
    "a/b/c/deep.mov": ("bikes_640x272_25.mp4", 20, "libx264", False),
}
BROKEN = ["broken/random.mp4", "broken/truncated.mp4"]
WIDTH = 64


def cut_clip(src: Path, dst: Path, frames: int, codec: str, audio: bool, width: int = WIDTH) -> int:
    """Write the first ``frames`` frames of ``src`` downscaled to ``width`` px wide; returns frames."""
    import av

    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        height = int(round(vin.codec_context.height * width / vin.codec_context.width / 2)) * 2
        with av.open(str(dst), "w") as out:
            vout = out.add_stream(codec, rate=rate)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            if codec == "libx264":
                vout.options = {"preset": "ultrafast", "crf": "28"}
            aout = None
            ain = inp.streams.audio[0] if audio and inp.streams.audio else None
            if ain is not None:
                aout = out.add_stream_from_template(ain)
            n = 0
            streams = [vin] + ([ain] if ain is not None else [])
            limit = frames / float(rate)
            for pkt in inp.demux(*streams):
                if pkt.stream is ain:
                    if pkt.dts is None or pkt.pts is None or float(pkt.pts * pkt.time_base) >= limit:
                        continue
                    pkt.stream = aout
                    out.mux(pkt)
                    continue
                if n >= frames:
                    continue
                for fr in pkt.decode():
                    if n >= frames:
                        break
                    img = fr.reformat(width=width, height=height, format="yuv420p")
                    img.pts = n
                    img.time_base = Fraction(1) / rate
                    out.mux(vout.encode(img))
                    n += 1
            out.mux(vout.encode())
    return n


def build_library(clips_dir: Path, root: Path) -> dict[str, int]:
    """Create the test library under ``root``; returns {relative path: frame count} of good videos."""
    good = {}
    for rel, (clip, frames, codec, audio) in CLIPS.items():
        good[rel] = cut_clip(clips_dir / clip, root / rel, frames, codec, audio)
    (root / "broken").mkdir(parents=True, exist_ok=True)
    (root / "broken/random.mp4").write_bytes(random.Random(20261122).randbytes(30_000))
    data = (root / "bikes.mp4").read_bytes()
    (root / "broken/truncated.mp4").write_bytes(data[: len(data) * 2 // 5])
    (root / "notes.txt").write_text("not a video\n")
    shutil.copyfile(clips_dir / "SOURCE.md", root / "street/SOURCE.md")
    (root / ".hidden.mp4").write_bytes(data)
    return good


def convert_options(**fields) -> ConvertOptions:
    """A ConvertOptions from flat fields: runtime and encode fields go to their parts."""
    runtime = {k: fields.pop(k) for k in list(fields) if k in RuntimeOptions.__dataclass_fields__}
    encode = {k: fields.pop(k) for k in list(fields) if k in EncodeOptions.__dataclass_fields__}
    return ConvertOptions(**fields, runtime=RuntimeOptions(**runtime), encode=EncodeOptions(**encode))


def FakeOptions(**fields) -> ConvertOptions:  # noqa: N802 - stands where a class stood
    """The options of a fake conversion: fps (``xN``), crf (default 30: small files) and device are
    what the fake converter reads; any other ConvertOptions field may be given too."""
    return convert_options(**{"fps": "x2", "crf": 30, **fields})


def count_video_frames(path) -> dict:
    """Frames (packets) and duration (s) of the first video stream of ``path``, by the pipeline's probe."""
    video = probe(path).video
    if video is None:
        raise FilmrtError(f"{path}: no video stream")
    return {"frames": video.frames, "duration": float(video.duration or 0)}


def fake_convert(src, dst, options, *, interpolator=None, on_progress=None):
    """Repeat every frame N times (``fps="xN"``); temp file + rename; FilmrtError on bad input."""
    import av

    factor = int(str(options.fps).strip("x"))
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.stem}.part{dst.suffix}")
    try:
        inp = av.open(str(src))
    except av.error.FFmpegError as e:
        raise FilmrtError(f"cannot open {src}: {e}") from e
    n_in = n_out = 0
    try:
        with inp, av.open(str(tmp), "w") as out:
            if not inp.streams.video:
                raise FilmrtError(f"{src}: no video stream")
            vin = inp.streams.video[0]
            rate = (vin.average_rate or Fraction(25)) * factor
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
            vout.options = {"preset": "ultrafast", "crf": str(options.encode.crf)}
            try:
                for fr in inp.decode(vin):
                    n_in += 1
                    for _ in range(factor):
                        img = fr.reformat(format="yuv420p")
                        img.pts, img.time_base = n_out, Fraction(1) / rate
                        out.mux(vout.encode(img))
                        n_out += 1
                    if on_progress:
                        on_progress(n_out)
            except av.error.FFmpegError as e:
                raise FilmrtError(f"{src}: decoding failed: {e}") from e
            if n_in == 0:
                raise FilmrtError(f"{src}: no frames")
            out.mux(vout.encode())
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    log = os.environ.get("FILMRT_TEST_CONVERT_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{src}\t{os.environ.get('CUDA_VISIBLE_DEVICES', '')}\t{options.runtime.device}\n")
    return {"src": str(src), "dst": str(dst), "frames_in": n_in, "frames_out": n_out}

"""Writes the input file of a conformance :class:`~support.conformance.Case` with the FFmpeg oracle.

Each case is one ffmpeg command line (two for the cases that are made by re-muxing: a negative
start, a size change), put together from the case's axes: the picture (``testsrc``; interlaced
cases weave ``testsrc2`` at 50 fps into 25 fps frames of two fields), the video encoder, a 440 Hz
tone in the audio codec, the extra stream and the timing quirk. MPEG-4 part 2 is FFmpeg's own
encoder with B-frames, except in AVI, where it is xvid with its packed B-frames (the DivX/Xvid
case): this FFmpeg 6.0 build's xvid wrapper writes damaged streams into containers with a global
header (a picture of the wrong time, flagged corrupt by FFmpeg itself, two frames lost), so it
would test the damage rule, not the timing. A/53 captions come from
:func:`support.formats_synth.make_caption_clip` (PyAV), which writes the SEI itself.
"""

from __future__ import annotations

from pathlib import Path

from support import ffmpeg_oracle as oracle
from support.conformance import SECONDS, Case

VIDEO_ARGS = {
    "h264": ["-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "12", "-pix_fmt", "yuv420p"],
    "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none:bframes=2:keyint=12",
             "-pix_fmt", "yuv420p"],
    "prores": ["-c:v", "prores_ks", "-profile:v", "0", "-pix_fmt", "yuv422p10le"],
    "dnxhr": ["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"],
    "ffv1": ["-c:v", "ffv1", "-pix_fmt", "yuv420p"],
    "mpeg2": ["-c:v", "mpeg2video", "-q:v", "4", "-g", "12", "-bf", "2"],
    "mpeg4": ["-c:v", "mpeg4", "-vtag", "xvid", "-q:v", "4", "-g", "12", "-bf", "2"],
    "vp9": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "12"],
}  # fmt: skip
AUDIO_ARGS = {
    "aac": ["-c:a", "aac", "-b:a", "96k"], "ac3": ["-c:a", "ac3", "-b:a", "96k"],
    "eac3": ["-c:a", "eac3", "-b:a", "96k"], "mp2": ["-c:a", "mp2", "-b:a", "128k"],
    "pcm16": ["-c:a", "pcm_s16le"], "pcm24": ["-c:a", "pcm_s24le"], "flac": ["-c:a", "flac"],
    "opus": ["-c:a", "libopus", "-b:a", "64k"],
}  # fmt: skip
FORMAT = {"mkv": "matroska", "ts": "mpegts", "m2ts": "mpegts", "mp4": "mp4", "mov": "mov", "webm": "webm",
          "mxf": "mxf", "avi": "avi"}  # fmt: skip
SRT = "1\n00:00:00,200 --> 00:00:00,900\nOne\n\n2\n00:00:01,000 --> 00:00:01,800\nTwo\n"
CHAPTERS = (";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=One\n"
            "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Two\n")  # fmt: skip


def size(case: Case) -> tuple[int, int]:
    if case.video == "dnxhr":  # DNxHR takes nothing smaller than 256x120
        return 256, 144
    return (160, 96) if case.timing in ("tff", "bff") else (160, 90)  # interlaced x264: height % 4


def _picture(case: Case, seconds: float, w: int, h: int) -> str:
    if case.timing in ("tff", "bff"):
        mode = "interleave_top" if case.timing == "tff" else "interleave_bottom"
        return f"testsrc2=s={w}x{h}:r=50:d={seconds},tinterlace=mode={mode}"
    chain = f"testsrc=s={w}x{h}:r={case.fps}:d={seconds}"
    if case.timing == "vfr":  # 25 fps for a second, then 12.5 fps: 50 frames over 3 s
        chain += ",setpts='if(lt(N,25),N,25+(N-25)*2)/25/TB'"
    if case.timing == "sar":
        chain += ",setsar=4/3"
    return chain


def _video_codec_args(case: Case, out_ext: str) -> list[str]:
    args = list(VIDEO_ARGS[case.video])
    if case.video == "mpeg4" and out_ext == "avi":  # the real DivX/Xvid case: xvid packs its B-frames in AVI
        args = ["-c:v", "libxvid", *args[4:]]
    elif case.video == "mpeg4" and out_ext in ("mp4", "mov"):  # MP4/MOV name MPEG-4 part 2 mp4v, not XVID
        args = ["-c:v", "mpeg4", *args[4:]]
    if case.video == "hevc" and out_ext in ("mp4", "mov"):
        args += ["-tag:v", "hvc1"]
    if case.timing in ("tff", "bff"):
        tff = case.timing == "tff"
        args += ["-flags", "+ilme+ildct", "-field_order", "tt" if tff else "bb"]
        args += ["-top", "1" if tff else "0"] if case.video == "mpeg2" else ["-x264-params", "tff=1" if tff else "bff=1"]
    return args


def _audio_codec_args(case: Case) -> list[str]:
    if case.container == "m2ts" and case.audio in ("pcm16", "pcm24"):
        return ["-c:a", "pcm_bluray"] + (["-sample_fmt", "s32"] if case.audio == "pcm24" else [])
    return list(AUDIO_ARGS[case.audio])


def _extra_inputs(case: Case, d: Path, n: int) -> tuple[list[str], list[str]]:
    """(input args, output args) for the extra stream kind; ``n``: index of the next input."""
    e, w, h = case.extra, *size(case)
    if e in ("srt", "ass", "mov_text"):
        (d / "subs.srt").write_text(SRT)
        return ["-i", str(d / "subs.srt")], ["-map", f"{n}:s", "-c:s", {"srt": "srt"}.get(e, e)]
    if e == "chapters":
        (d / "chapters.txt").write_text(CHAPTERS)
        return ["-i", str(d / "chapters.txt")], ["-map_metadata", str(n), "-map_chapters", str(n)]
    if e == "attachment":
        (d / "font.ttf").write_bytes(b"FAKEFONT" * 16)
        return [], ["-attach", str(d / "font.ttf"), "-metadata:s:t", "mimetype=application/x-truetype-font"]
    if e in ("timecode", "gop_timecode"):
        return [], ["-timecode", "01:00:00:00"]
    if e == "timecode_tag":
        return [], ["-metadata:s:v:0", "timecode=01:00:00:00"]
    if e == "video2":
        src = ["-f", "lavfi", "-i", f"smptebars=s={w}x{h}:r={case.fps}:d={SECONDS}"]
        return src, ["-map", f"{n}:v"]
    if e in ("cover", "thumb_first"):
        cover = d / "cover.png"
        oracle.ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", str(cover))
        if case.container == "mkv" and e == "cover":
            return [], ["-attach", str(cover), "-metadata:s:t", "mimetype=image/png"]
        return ["-i", str(cover)], []
    return [], []


def make(case: Case, d: Path) -> Path:
    """Write the case's input into folder ``d`` and return its path."""
    d.mkdir(parents=True, exist_ok=True)
    out = d / f"input.{case.ext}"
    if case.extra == "a53":
        from support.formats_synth import make_caption_clip

        return Path(make_caption_clip(out, frames=int(SECONDS * 25)))
    if case.timing == "neg_start":  # stream-copy from 1 s into a 3 s clip with one GOP: 1 s before zero
        base = _make(Case(case.container, case.video, case.audio, case.extra), d / "base", SECONDS + 1, gop=75)
        oracle.ffmpeg("-ss", "1", "-i", str(base), "-map", "0", "-c", "copy", "-avoid_negative_ts", "disabled", str(out))
        return out
    if case.timing == "size_change":  # two streams of two sizes, one after the other in one file
        a = _make(Case(case.container, case.video, case.audio), d / "a", SECONDS / 2)
        b = _make(Case(case.container, case.video, case.audio), d / "b", SECONDS / 2, size_=(176, 144), offset=SECONDS / 2)
        out.write_bytes(a.read_bytes() + b.read_bytes())
        return out
    return _make(case, d, SECONDS, out=out)


def _make(case: Case, d: Path, seconds: float, *, out: Path | None = None, gop: int | None = None,
          size_: tuple[int, int] | None = None, offset: float | None = None) -> Path:  # fmt: skip
    d.mkdir(parents=True, exist_ok=True)
    out = out or d / f"input.{case.ext}"
    w, h = size_ or size(case)
    vin = ["-itsoffset", "1"] if case.timing == "audio_early" else []
    inputs = [*vin, "-f", "lavfi", "-i", _picture(case, seconds, w, h)]
    maps = ["-map", "0:v"]
    n = 1
    if case.audio:
        secs = seconds * 2 if case.timing == "audio_long" else seconds
        ain = ["-itsoffset", "1"] if case.timing == "audio_late" else []
        inputs += [*ain, "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={secs}"]
        maps += ["-map", "1:a"]
        n = 2
    x_in, x_out = _extra_inputs(case, d, n) if case.extra else ([], [])
    inputs += x_in
    if case.extra in ("cover", "thumb_first") and x_in:
        pic = ["-map", f"{n}:v"]
        maps = pic + maps if case.extra == "thumb_first" else maps + pic
        k = 0 if case.extra == "thumb_first" else 1
        x_out = [f"-c:v:{k}", "png", f"-disposition:v:{k}", "attached_pic"]
    args = [*inputs, *maps, *_video_codec_args(case, case.ext), *x_out]  # x_out last: -c:v:K png wins
    if case.audio:
        args += ["-ac", "2", *_audio_codec_args(case)]
    if case.timing in ("big_offset",):
        args += ["-output_ts_offset", "3600"]
    if case.timing == "pts_wrap":  # the 33-bit PTS wraps 0.7 s into the clip
        args += ["-output_ts_offset", "95443.0", "-muxdelay", "0", "-muxpreload", "0"]
    if offset:
        args += ["-output_ts_offset", str(offset)]
    if case.container == "m2ts":
        args += ["-mpegts_m2ts_mode", "1"]
    if case.container == "raw":
        args += ["-r", str(case.fps), "-f", {"h264": "h264", "hevc": "hevc", "mpeg2": "mpeg2video", "mpeg4": "m4v"}[case.video]]
    else:
        args += ["-f", FORMAT[case.container]]
    oracle.ffmpeg(*args, str(out))
    return out

"""A sweep of ``filmrt live`` over inputs nobody tuned it for: does anything get lost without a word?

Run by hand (not collected by pytest)::

    .venv/bin/python tests/support/live_sweep.py OUTDIR [--only PATTERN] [--list]

Each case is one input (written by the FFmpeg oracle, tests/support/ffmpeg_oracle.py: 2.4 s,
160x90 at 25 fps, a tone per audio track) and one output kind (``ts`` file, ``hls`` playlist,
``pipe``: ``-`` redirected to a file). The run is the CLI as a user runs it: ``filmrt live IN OUT
--fps 50 --model blend --realtime --latency 200ms --json R``. The output is read back with PyAV and
compared with the input, stream by stream: a stream whose fate is "copied" must be there with
its codec, language, channels, audio-type dispositions and a duration close to the video's; a
dropped one must be said in the notes; the video keeps its SAR, colour tags and frame spacing.
Anything lost without a note is a finding (``!``); a note that says it is fine (``~``).

Prints one line per run and writes ``OUTDIR/sweep.json``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support import ffmpeg_oracle as oracle  # noqa: E402

SECONDS = 2.4
FPS_OUT = 50
PY = sys.executable

VIDEO = {
    "h264": ["-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "12", "-pix_fmt", "yuv420p"],
    "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none:bframes=2:keyint=12",
             "-pix_fmt", "yuv420p"],
    "mpeg2": ["-c:v", "mpeg2video", "-q:v", "4", "-g", "12", "-bf", "2"],
    "prores": ["-c:v", "prores_ks", "-profile:v", "0", "-pix_fmt", "yuv422p10le"],
    "dnxhr": ["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"],
}  # fmt: skip
AUDIO = {
    "aac": ["aac", "-b:a:{k}", "96k"], "mp2": ["mp2", "-b:a:{k}", "128k"], "mp3": ["libmp3lame", "-b:a:{k}", "96k"],
    "ac3": ["ac3", "-b:a:{k}", "192k"], "eac3": ["eac3", "-b:a:{k}", "192k"], "pcm16": ["pcm_s16le"],
    "pcm24": ["pcm_s24le"], "flac": ["flac"], "opus": ["libopus", "-b:a:{k}", "64k"],
    "vorbis": ["libvorbis"], "pcm_s16be": ["pcm_s16be"],
}  # fmt: skip
MPEG_AUDIO = {"mp2", "mp3", "mp3float", "mp2float"}
FORMAT = {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "ts": "mpegts", "mxf": "mxf", "avi": "avi"}
SRT = "1\n00:00:00,200 --> 00:00:00,900\nOne\n\n2\n00:00:01,000 --> 00:00:01,800\nTwo\n"
CHAPTERS = (";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1200\ntitle=One\n"
            "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1200\nEND=2400\ntitle=Two\n")  # fmt: skip


@dataclass
class Case:
    container: str
    video: str = "h264"
    #: audio tracks: "codec[:channels][:lang][:disposition]"
    audio: tuple[str, ...] = ()
    #: "srt", "chapters", "timecode", "sar", "colour", "tff", "data"
    extras: tuple[str, ...] = ()
    out: str = "ts"  # ts, hls, pipe, mkv (--format matroska to a file)
    #: more options, e.g. ("--drop-stream", "s")
    args: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        a = "+".join(self.audio) or "noaudio"
        x = ("+" + "+".join(self.extras)) if self.extras else ""
        opt = ("[" + " ".join(self.args) + "]") if self.args else ""
        return f"{self.container}-{self.video}-{a}{x}->{self.out}{opt}"


def cases() -> list[Case]:
    c = []
    # every audio codec in the containers that hold it, out as a TS file
    for cont, codecs in {"mp4": ("aac", "mp3", "ac3", "eac3", "flac", "opus", "mp2"),
                         "mov": ("aac", "pcm16", "pcm24", "pcm_s16be", "ac3", "mp3"),
                         "mkv": ("aac", "mp2", "mp3", "ac3", "eac3", "pcm16", "pcm24", "flac", "opus", "vorbis"),
                         "ts": ("aac", "mp2", "mp3", "ac3", "eac3", "opus"),
                         "avi": ("mp2", "mp3", "ac3", "pcm16"),
                         "mxf": ("pcm16", "pcm24")}.items():
        for a in codecs:
            c.append(Case(cont, "mpeg2" if cont == "mxf" else "h264", (a,)))
    # no audio; each video codec
    c += [Case("mp4"), Case("ts", "mpeg2", ("mp2",)), Case("mkv", "hevc", ("aac",)), Case("ts", "hevc", ("ac3",)),
          Case("mov", "prores", ("pcm24",)), Case("mov", "dnxhr", ("pcm16",)), Case("mkv", "prores", ("aac",)),
          Case("mxf", "dnxhr", ("pcm24",)), Case("avi", "mpeg2", ("mp2",)), Case("mp4", "hevc", ("aac",))]
    # two tracks with languages and dispositions; 5.1
    two = ("aac:2:eng:default", "aac:2:fra:visual_impaired")
    c += [Case("mp4", "h264", two), Case("mkv", "h264", ("ac3:2:eng", "mp2:2:deu")), Case("ts", "h264", two),
          Case("mov", "h264", two), Case("mp4", "h264", ("aac:6",)), Case("mkv", "h264", ("ac3:6",)),
          Case("ts", "h264", ("eac3:6",)), Case("mkv", "h264", ("flac:6",)), Case("mov", "h264", ("pcm24:6",)),
          Case("mkv", "h264", ("aac:2:eng", "flac:2:spa")), Case("mkv", "h264", ("opus:6",)),
          Case("ts", "h264", ("aac:1:eng:hearing_impaired",)), Case("mp4", "h264", ("aac:1",))]
    # extras
    c += [Case("mkv", "h264", ("aac",), ("srt",)), Case("mp4", "h264", ("aac",), ("srt",)),
          Case("mkv", "h264", ("aac",), ("chapters",)), Case("mp4", "h264", ("aac",), ("chapters",)),
          Case("mov", "h264", ("aac",), ("timecode",)), Case("mp4", "h264", ("aac",), ("timecode",)),
          Case("mxf", "mpeg2", ("pcm24",), ("timecode",)), Case("ts", "mpeg2", ("mp2",), ("timecode",)),
          Case("mp4", "h264", ("aac",), ("sar",)), Case("ts", "h264", ("aac",), ("sar",)),
          Case("mp4", "h264", ("aac",), ("colour",)), Case("ts", "h264", ("mp2",), ("colour",)),
          Case("ts", "h264", ("mp2",), ("tff",)), Case("mkv", "mpeg2", ("aac",), ("tff",)),
          Case("ts", "mpeg2", ("mp2",), ("tff",)), Case("mov", "prores", ("pcm24",), ("colour",)),
          Case("mkv", "h264", ("aac:2:eng", "aac:2:fra"), ("srt", "chapters"))]
    # HLS and pipe outputs
    c += [Case("mp4", "h264", ("aac",), out="hls"), Case("ts", "h264", ("mp2",), out="hls"),
          Case("mp4", "h264", two, out="hls"), Case("mov", "h264", ("pcm16",), out="hls"),
          Case("mkv", "h264", ("opus",), out="hls"), Case("mp4", "h264", ("ac3:6",), out="hls"),
          Case("mp4", "h264", ("aac",), ("sar", "colour"), out="hls"),
          Case("mp4", "h264", ("aac",), out="pipe"), Case("ts", "h264", two, out="pipe"),
          Case("mov", "h264", ("pcm16",), out="pipe"), Case("mkv", "h264", ("flac",), out="pipe"),
          Case("mkv", "hevc", ("eac3:6",), out="pipe"), Case("mp4", "h264", ("aac",), ("sar", "colour"), out="pipe")]
    # subtitles: refused by TS (a text track it would carry as private data), left out when asked; a
    # Matroska output (--format matroska) keeps them, and the chapters, PCM, FLAC
    c += [Case("mkv", "h264", ("aac",), ("srt",), args=("--drop-stream", "s")),
          Case("mp4", "h264", ("aac",), ("srt",), out="hls", args=("--drop-stream", "s")),
          Case("mkv", "h264", ("aac:2:eng", "aac:2:fra"), ("srt", "chapters"), out="mkv"),
          Case("mp4", "h264", ("aac",), ("srt",), out="mkv"), Case("mov", "h264", ("pcm24",), out="mkv"),
          Case("mkv", "h264", ("flac:6",), out="mkv"), Case("mov", "h264", ("aac",), ("timecode",), out="mkv"),
          Case("ts", "h264", two, out="mkv")]
    return c


# ---------------------------------------------------------------------------------------------- input
def _track(spec: str) -> tuple[str, int, str | None, str | None]:
    parts = spec.split(":") + [None] * 3
    return parts[0], int(parts[1] or 2), parts[2], parts[3]


def make_input(case: Case, d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    out = d / f"in.{case.container}"
    if out.exists():
        return out
    w, h = (256, 144) if case.video == "dnxhr" else (160, 96) if "tff" in case.extras else (160, 90)
    if "tff" in case.extras:
        pic = f"testsrc2=s={w}x{h}:r=50:d={SECONDS},tinterlace=mode=interleave_top"
    else:
        pic = f"testsrc=s={w}x{h}:r=25:d={SECONDS}" + (",setsar=4/3" if "sar" in case.extras else "")
    inputs, maps, args = ["-f", "lavfi", "-i", pic], ["-map", "0:v"], list(VIDEO[case.video])
    if case.video == "hevc" and case.container in ("mp4", "mov"):
        args += ["-tag:v", "hvc1"]
    if "tff" in case.extras:
        args += ["-flags", "+ilme+ildct", "-field_order", "tt"]
        args += ["-top", "1"] if case.video == "mpeg2" else ["-x264-params", "tff=1"]
    if "colour" in case.extras:
        args += ["-color_primaries", "bt470bg", "-color_trc", "smpte170m", "-colorspace", "bt470bg",
                 "-color_range", "tv"]
    n = 1
    for k, spec in enumerate(case.audio):
        codec, ch, lang, disp = _track(spec)
        layout = {1: "mono", 2: "stereo", 6: "5.1"}[ch]
        expr = "|".join(f"0.3*sin({300 + 110 * (k + 1) * (j + 1)}*2*PI*t)" for j in range(ch))
        inputs += ["-f", "lavfi", "-i", f"aevalsrc={expr}:c={layout}:s=48000:d={SECONDS}"]
        maps += ["-map", f"{n}:a"]
        n += 1
        a = AUDIO[codec]
        args += [f"-c:a:{k}", a[0], *[x.format(k=k) for x in a[1:]]]
        if lang:
            args += [f"-metadata:s:a:{k}", f"language={lang}"]
        args += [f"-disposition:a:{k}", disp or ("default" if k == 0 else "0")]
    if "srt" in case.extras:
        (d / "subs.srt").write_text(SRT)
        inputs += ["-i", str(d / "subs.srt")]
        maps += ["-map", f"{n}:s"]
        args += ["-c:s", "mov_text" if case.container in ("mp4", "mov") else "srt", "-metadata:s:s:0", "language=eng"]
        n += 1
    if "chapters" in case.extras:
        (d / "ch.txt").write_text(CHAPTERS)
        inputs += ["-i", str(d / "ch.txt")]
        args += ["-map_metadata", str(n), "-map_chapters", str(n)]
        n += 1
    if "timecode" in case.extras:
        args += ["-timecode", "01:00:00:00"]
    oracle.ffmpeg(*inputs, *maps, *args, "-f", FORMAT[case.container], str(out))
    return out


# ---------------------------------------------------------------------------------------------- read
def _disp(s) -> list[str]:
    try:
        return sorted(n for n in ("default", "visual_impaired", "hearing_impaired", "clean_effects", "forced")
                      if s.disposition & getattr(av.stream.Disposition, n))
    except Exception:  # noqa: BLE001
        return []


def describe(path: str) -> dict:
    """Streams (codec, language, channels, dispositions, packets, duration), the video's frames,
    SAR, colour tags and field order, chapters, timecode tags."""
    with av.open(path) as c:
        streams = []
        for s in c.streams:
            cc = s.codec_context
            d = {"index": s.index, "type": s.type, "codec": cc.name if cc else "?",
                 "lang": s.metadata.get("language"), "disp": _disp(s), "packets": 0, "t0": None, "t1": None}
            if s.type == "audio":
                d.update(channels=cc.channels, rate=cc.sample_rate)
            if s.type == "video":
                d.update(sar=str(cc.sample_aspect_ratio or ""), w=cc.width, h=cc.height,
                         tc=s.metadata.get("timecode"))
            streams.append(d)
        by = {d["index"]: d for d in streams}
        vid = c.streams.video[0] if c.streams.video else None
        for p in c.demux():
            if p.stream.index not in by or p.pts is None and p.dts is None:
                continue
            d = by[p.stream.index]
            t = float((p.pts if p.pts is not None else p.dts) * p.time_base)
            e = t + float((p.duration or 0) * p.time_base)
            d["packets"] += 1
            d["t0"] = t if d["t0"] is None else min(d["t0"], t)
            d["t1"] = e if d["t1"] is None else max(d["t1"], e)
        chapters = len(c.chapters()) if hasattr(c, "chapters") else None
        tc = c.metadata.get("timecode") or next((x["tc"] for x in streams if x.get("tc")), None)
    frames = []
    colour = {}
    if vid is not None:
        with av.open(path) as c:
            for f in c.decode(video=0):
                frames.append(float(f.pts * f.time_base) if f.pts is not None else None)
                if not colour:
                    tc = tc or f.metadata.get("timecode")  # a GOP header's or a picture-timing SEI's
                    colour = {"primaries": int(f.color_primaries), "trc": int(f.color_trc),
                              "space": int(f.colorspace), "range": int(f.color_range),
                              "interlaced": bool(f.interlaced_frame)}
    return {"streams": streams, "frames": frames, "colour": colour, "chapters": chapters, "timecode": tc}


# ---------------------------------------------------------------------------------------------- run
@dataclass
class Result:
    id: str
    rc: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)
    err: str = ""


def run_udp(root: Path, seconds: float = 3.0) -> Result:
    """A real live input: tests/support/live.py's sender (H.264 + MP2 MPEG-TS over UDP, paced),
    ``--t`` seconds of output to a TS file; the read-back must have both streams, each as long as
    the output."""
    from support.live import free_udp_port, start_sender

    d = root / "udp"
    d.mkdir(parents=True, exist_ok=True)
    port, out, report = free_udp_port(), d / "out.ts", d / "r.json"
    th, stop, go = start_sender(port, seconds + 20)
    go.set()
    cmd = [PY, "-m", "filmrt", "live", f"udp://127.0.0.1:{port}", str(out), "--fps", str(FPS_OUT), "--model",
           "blend", "--latency", "8f", "--t", str(seconds), "--quiet", "-y", "--json", str(report)]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    finally:
        stop.set()
        th.join(timeout=10)
    err = p.stderr.decode(errors="replace")
    r = Result("udp-h264-mp2->ts", p.returncode, round(time.monotonic() - t0, 1), err=err.strip()[-300:])
    r.notes = [ln.removeprefix("filmrt: note: ") for ln in err.splitlines() if ln.startswith("filmrt: note:")]
    if p.returncode == 0:
        o = describe(str(out))
        frames = [t for t in o["frames"] if t is not None]
        want = round(seconds * FPS_OUT)
        if len(frames) != want or {round(b - a, 4) for a, b in zip(frames, frames[1:], strict=False)} != {0.02}:
            r.findings.append(f"video: {len(frames)} frames (want {want}) or uneven spacing")
        aud = [x for x in o["streams"] if x["type"] == "audio"]
        if len(aud) != 1 or aud[0]["codec"] not in MPEG_AUDIO or abs((aud[0]["t1"] - aud[0]["t0"]) - seconds) > 0.25:
            r.findings.append(f"audio: {aud}")
    return r


def run_case(case: Case, root: Path, recheck: Result | None = None) -> Result:
    """Run ``case`` (or, given its earlier ``recheck`` result, read its output again)."""
    d = root / case.id.replace(">", "").replace(":", "_").replace(" ", "_").replace("[", "_").replace("]", "")
    inp = make_input(case, root / "inputs" / case.id.split("->")[0].replace(":", "_"))
    if recheck is not None:
        out = d / "hls" / "stream.m3u8" if case.out == "hls" else d / ("out.mkv" if case.out == "mkv" else "out.ts")
        r = Result(**{**asdict(recheck), "findings": [], "ok": []})
        if r.rc == 0:
            rep = json.loads((d / "r.json").read_text())
            r.findings += compare(describe(str(inp)), describe(str(out)), rep, r.notes, r.ok)
        return r
    d.mkdir(parents=True, exist_ok=True)
    report = d / "r.json"
    report.unlink(missing_ok=True)
    if case.out == "hls":
        out = d / "hls" / "stream.m3u8"
        out.parent.mkdir(exist_ok=True)
    else:
        out = d / ("out.mkv" if case.out == "mkv" else "out.ts")
    cmd = [PY, "-m", "filmrt", "live", str(inp), "-" if case.out == "pipe" else str(out), "--fps", str(FPS_OUT),
           "--model", "blend", "--realtime", "--latency", "200ms", "--quiet", "-y", "--json", str(report),
           *(["--format", "matroska"] if case.out == "mkv" else []), *case.args]
    t0 = time.monotonic()
    with open(d / "stdout.bin", "wb") as so:
        p = subprocess.run(cmd, stdout=so if case.out == "pipe" else subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=False, timeout=120)
    if case.out == "pipe":
        os.replace(d / "stdout.bin", out)
    err = p.stderr.decode(errors="replace")
    r = Result(case.id, p.returncode, round(time.monotonic() - t0, 1), err=err.strip().splitlines()[-1] if err.strip() else "")
    r.notes = [ln.removeprefix("filmrt: note: ") for ln in err.splitlines() if ln.startswith("filmrt: note:")]
    if p.returncode != 0:
        return r
    try:
        rep = json.loads(report.read_text())
        r.findings += compare(describe(str(inp)), describe(str(out)), rep, r.notes, r.ok)
    except Exception as e:  # noqa: BLE001 - a read-back that fails is a finding
        r.findings.append(f"read-back failed: {type(e).__name__}: {e}")
    return r


def compare(src: dict, out: dict, rep: dict, notes: list[str], ok: list[str]) -> list[str]:
    f = []
    said = " ".join(notes)
    fates = {s["index"]: s for s in rep["output"]["streams"]}
    ov = [s for s in out["streams"] if s["type"] == "video"]
    frames = [t for t in out["frames"] if t is not None]
    if not ov:
        return ["no video in the output"]
    sv = next(s for s in src["streams"] if s["type"] == "video")
    want = round(SECONDS * FPS_OUT)
    if abs(len(frames) - want) > 2:
        what = f"video: {len(frames)} frames (input {SECONDS}s at {FPS_OUT} fps = {want})"
        if rep["input"]["resyncs"] and len(frames) > want:  # input late (a loaded machine): held, re-synced, counted
            ok.append(f"{what}: the input came late, {rep['input']['resyncs']} re-sync(s) (in the report)")
        else:
            f.append(what)
    steps = {round(b - a, 4) for a, b in zip(frames, frames[1:], strict=False)}
    if steps - {0.02}:
        f.append(f"video: frame steps {sorted(steps)[:5]}")
    vdur = (frames[-1] - frames[0] + 1 / FPS_OUT) if frames else 0.0
    if sv.get("sar") and sv["sar"] not in ("", "1", "1/1", "0", "0/1") and ov[0]["sar"] != sv["sar"]:
        f.append(f"video: SAR {sv['sar']} -> {ov[0]['sar'] or 'unset'}")
    for k in ("primaries", "trc", "space", "range"):
        a, b = src["colour"].get(k), out["colour"].get(k)
        if k == "space" and {a, b} == {5, 6}:  # BT.470BG and SMPTE 170M: the same BT.601 matrix
            continue
        if a not in (None, 2, 0) and a != b:
            f.append(f"video: colour {k} {a} -> {b}")
    if src["colour"].get("interlaced") and not out["colour"].get("interlaced") and "interlac" not in said:
        f.append("video: interlaced input (field order tt) made progressive without a note (woven fields blended)")
    # the other streams
    outs = {s["index"]: s for s in out["streams"]}
    for s in src["streams"]:
        if s is sv:
            continue
        fate = fates.get(s["index"], {})
        tag = f"#{s['index']} {s['type']} {s['codec']}"
        if fate.get("fate") == "dropped":
            if f"stream #{s['index']} " in said:
                ok.append(f"{tag} dropped, said")
            else:
                f.append(f"{tag}: dropped without a note ({fate.get('reason')})")
            continue
        o = outs.get(fate.get("output_index"))
        if o is None or o["type"] != s["type"]:
            f.append(f"{tag}: fate {fate.get('fate')} but not in the output")
            continue
        if o["packets"] == 0:
            f.append(f"{tag}: in the output but no packets" + (" (no note)" if str(s["index"]) not in said else ""))
            continue
        if o["codec"] != s["codec"] and {o["codec"], s["codec"]} - MPEG_AUDIO:  # layers: one decoder
            f.append(f"{tag}: codec -> {o['codec']}")
        if s["lang"] and s["lang"] not in ("und",) and o["lang"] != s["lang"]:
            f.append(f"{tag}: language {s['lang']} -> {o['lang']}")
        lost = {x for x in s["disp"] if x in ("visual_impaired", "hearing_impaired", "clean_effects")} - set(o["disp"])
        if lost and "disposition" not in said:
            f.append(f"{tag}: disposition {sorted(lost)} lost")
        if s["type"] == "audio":
            if o.get("channels") != s.get("channels") or o.get("rate") != s.get("rate"):
                f.append(f"{tag}: {s['channels']}ch {s['rate']} Hz -> {o.get('channels')}ch {o.get('rate')} Hz")
            adur = (o["t1"] or 0) - (o["t0"] or 0)
            if abs(adur - vdur) > 0.25:
                f.append(f"{tag}: audio {adur:.2f} s vs video {vdur:.2f} s")
        if s["type"] == "subtitle" and o["packets"] < s["packets"]:
            f.append(f"{tag}: {s['packets']} subtitle packets -> {o['packets']}")
    if src["chapters"] and not out["chapters"] and "chapter" not in said:
        f.append(f"chapters: {src['chapters']} -> none, no note")
    if (src["timecode"] or sv.get("tc")) and not (out["timecode"] or ov[0].get("tc")) and "timecode" not in said:
        f.append("timecode: lost, no note")
    return f


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--only", default="*", help="fnmatch pattern on case ids")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--udp", action="store_true", help="also the UDP input (a sender on loopback)")
    ap.add_argument("--recheck", action="store_true", help="read the outputs of OUTDIR/sweep.json's runs again")
    a = ap.parse_args(argv)
    sel = [c for c in cases() if fnmatch.fnmatch(c.id, a.only)]
    if a.list:
        print("\n".join(c.id for c in sel), f"\n{len(sel)} cases")
        return 0
    root = Path(a.outdir)
    root.mkdir(parents=True, exist_ok=True)
    results = []
    earlier = {r["id"]: Result(**r) for r in json.loads((root / "sweep.json").read_text())} if a.recheck else {}
    if a.recheck:
        sel = [c for c in sel if c.id in earlier]
    for c in sel:
        try:
            r = run_case(c, root, earlier.get(c.id))
        except Exception as e:  # noqa: BLE001 - an input the oracle cannot write: say so, go on
            r = Result(c.id, -1, 0.0, err=f"{type(e).__name__}: {str(e).splitlines()[-1][:200] if str(e) else ''}")
        results.append(r)
        mark = "!" if r.findings else ("x" if r.rc else ".")
        print(f"{mark} {r.id} rc={r.rc} {r.seconds}s" + "".join(f"\n    ! {x}" for x in r.findings)
              + "".join(f"\n    note: {x}" for x in r.notes) + (f"\n    err: {r.err}" if r.rc else ""), flush=True)
    if a.udp:
        r = run_udp(root)
        results.append(r)
        print(f"{'!' if r.findings else 'x' if r.rc else '.'} {r.id} rc={r.rc} {r.seconds}s"
              + "".join(f"\n    ! {x}" for x in r.findings) + "".join(f"\n    note: {x}" for x in r.notes))
    results += [r for k, r in earlier.items() if k not in {c.id for c in sel}]  # --recheck: the others as they were
    (root / "sweep.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    bad = sum(bool(r.findings) for r in results)
    print(f"{len(results)} runs, {sum(r.rc == 0 for r in results)} exit 0, {bad} with findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())

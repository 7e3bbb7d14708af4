"""The live benchmark: ``filmrt live`` on loopback for a while, with its figures over time.

A sender process loops a clip as MPEG-TS over UDP at real time (optionally going silent once:
``--stall``); every second live's stats and memory are kept; the output is read back as a receiver
would. The soak: ``python -m filmrt.bench.live --size 720p --seconds 600 --json FILE``;
:func:`live_bench` is the GPU check's live section.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import socket
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from filmrt.bench.report import figure_parser
from filmrt.bench.settings import default_clip
from filmrt.fileio import write_json
from filmrt.options import RuntimeOptions
from filmrt.pipeline.io import verify_read
from filmrt.pipeline.live.options import LiveOptions
from filmrt.pipeline.live.run import live
from filmrt.pipeline.options import EncodeOptions
from filmrt.sizes import parse_size


def prepare(src: Path, size: str, out: Path, fps: str | None = None) -> Path:
    """``src`` scaled to ``size`` (and re-timed to ``fps``) as an H.264 + AAC MPEG-TS file to loop."""
    s = parse_size(size)
    w, h = s.width, s.height
    with av.open(str(src)) as i, av.open(str(out), "w", format="mpegts") as o:
        vin = i.streams.video[0]
        rate = Fraction(fps) if fps else vin.average_rate
        vs = o.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"preset": "veryfast", "crf": "20", "g": str(round(rate))}
        ain = i.streams.audio[0] if i.streams.audio else None
        aout = o.add_stream_from_template(ain) if ain is not None else None
        n = 0
        for pkt in i.demux(*(s for s in (vin, ain) if s is not None)):
            if pkt.stream is ain and aout is not None and pkt.dts is not None:
                pkt.stream = aout
                o.mux(pkt)
                continue
            for f in pkt.decode() if pkt.stream is vin else ():
                g = f.reformat(width=w, height=h, format="yuv420p")
                g.pts, g.time_base = n, 1 / rate
                n += 1
                for p in vs.encode(g):
                    o.mux(p)
        for p in vs.encode(None):
            o.mux(p)
    return out


def send_loop(path: Path, port: int, stop, stall: tuple[float, float] | None = None) -> None:
    """Loop ``path`` to ``udp://127.0.0.1:port`` in real time, timestamps continuing across loops;
    ``stall`` = (after s, for s): send nothing for a while once (the input stall of a live feed),
    then go on where the clock is (the packets of the gap are skipped, as a live source would)."""
    with av.open(f"udp://127.0.0.1:{port}?pkt_size=1316", "w", format="mpegts") as o:
        with av.open(str(path)) as probe:
            outs = {s.index: o.add_stream_from_template(s) for s in probe.streams if s.type in ("video", "audio")}
            vs = probe.streams.video[0]
            begin = (vs.start_time or 0) * Fraction(vs.time_base)
            end = max(Fraction(p.pts + (p.duration or 0)) * Fraction(p.time_base)
                      for p in probe.demux() if p.pts is not None)
            # the longest stream's end, rounded up to whole video frames: every stream's timestamps
            # keep increasing across loops, and the video stays on its frame grid
            frame = 1 / Fraction(vs.average_rate)
            length = math.ceil((end - begin) / frame) * frame
        t0, loop = time.monotonic(), 0
        while not stop.is_set():
            with av.open(str(path)) as i:
                for pkt in i.demux():
                    if stop.is_set() or pkt.dts is None or pkt.stream.index not in outs:
                        continue
                    tb = Fraction(pkt.time_base)
                    shift = round(loop * length / tb)
                    pkt.pts, pkt.dts = pkt.pts + shift, pkt.dts + shift
                    due = t0 + float(pkt.dts * tb) - 1.4  # TS starts at 1.4 s
                    if stall is not None and due - t0 >= stall[0]:
                        if due - t0 < stall[0] + stall[1]:
                            continue  # the gap: nothing sent
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    pkt.stream = outs[pkt.stream.index]
                    o.mux(pkt)
            loop += 1


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def live_bench(size: str = "720p", *, seconds: float = 60, fps_in: str | None = None, fps_out: str = "50",
               model: str | None = "blend", device: str = "cpu", latency: str = "4f", preset: str = "veryfast",
               clip: Path | None = None, workdir: Path | None = None,
               stall: tuple[float, float] | None = None) -> dict:
    """Run live on loopback for ``seconds``; returns the figures (see the module docstring)."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        src = prepare(clip or default_clip(), size, Path(tmp) / "loop.ts", fps_in)
        port = _free_port()
        # the sender in a process of its own, as a real feed is: it does not share our cores' GIL
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        sender = ctx.Process(target=send_loop, args=(src, port, stop, stall), daemon=True)
        sender.start()
        seconds_log: list[dict] = []

        def second(rec: dict) -> None:
            rec["rss_mib"] = round(_rss_mib(), 1)
            rec["load1"] = os.getloadavg()[0]
            seconds_log.append(rec)

        opts = LiveOptions(fps=fps_out, latency=latency, t=seconds, reconnect="off",
                           runtime=RuntimeOptions(model=model, device=device),
                           encode=EncodeOptions(codec="libx264", preset=preset, crf=28, format="mpegts"))
        try:
            res = live(f"udp://127.0.0.1:{port}", str(Path(tmp) / "out.ts"), opts, on_second=second)
        finally:
            stop.set()
            sender.join(timeout=10)
            if sender.is_alive():
                sender.kill()
        received = read_back(Path(tmp) / "out.ts", res.fps_out)
    rss = [r["rss_mib"] for r in seconds_log]
    return {
        "size": size, "fps_in": res.input["fps"], "fps_out": str(res.fps_out), "seconds": seconds, "stall": stall,
        "model": res.model, "backend": res.backend, "device": device, "latency_ms": round(res.latency_s * 1000, 1),
        "stats": res.stats, "input": res.input, "mux_latency_p99_ms": res.mux_latency_p99_ms, "received": received,
        "memory_mib": {"start": rss[0] if rss else None, "end": rss[-1] if rss else None,
                       "max": max(rss) if rss else None,
                       "after_10s": rss[min(10, len(rss) - 1)] if rss else None},
        "load1": {"min": min((r["load1"] for r in seconds_log), default=None),
                  "max": max((r["load1"] for r in seconds_log), default=None)},
        "cpus": os.cpu_count(), "per_second": seconds_log,
    }


def read_back(path: Path, fps: Fraction) -> dict:
    """What a receiver of the output sees (the product's reader, :func:`filmrt.pipeline.io.verify_read.read_back`):
    video frames and every break of the cadence (a step between frames other than one frame), and the
    audio's span against the video's (the same delay on both: their ends within a frame plus a packet)."""
    got = verify_read.read_back(path)
    v = got.video
    steps = [b - a for a, b in itertools.pairwise(v.times)]
    a = next((s for s in got.others if s.kind == "audio" and s.start is not None), None)
    video, audio = ([float(s.start), float(s.end)] if s else None for s in (v, a))
    return {"frames": v.decoded, "cadence_breaks": sum(1 for d in steps if abs(d * fps - 1) > 0.01),
            "video_s": video, "audio_s": audio,
            "av_start_ms": None if not (video and audio) else round((audio[0] - video[0]) * 1000, 1),
            "av_end_ms": None if not (video and audio) else round((audio[1] - video[1]) * 1000, 1)}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    p = figure_parser("live", __doc__)
    p.add_argument("--size", default="720p")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--fps-in", default=None, help="re-time the looped clip to this rate (e.g. 59.94)")
    p.add_argument("--fps", default="50")
    p.add_argument("--model", default="blend")
    p.add_argument("--device", default="cpu")
    p.add_argument("--latency", default="4f")
    p.add_argument("--preset", default="veryfast")
    p.add_argument("--stall", default=None, metavar="AFTER,FOR",
                   help="the sender sends nothing for FOR seconds once, AFTER seconds into its clip (e.g. 30,3)")
    p.add_argument("--json", required=True)
    a = p.parse_args(argv)
    res = live_bench(a.size, seconds=a.seconds, fps_in=a.fps_in, fps_out=a.fps, model=a.model, device=a.device,
                     latency=a.latency, preset=a.preset,
                     stall=tuple(float(x) for x in a.stall.split(",")) if a.stall else None)
    write_json(Path(a.json), res)
    s = res["stats"]
    print(f"{a.size} {res['fps_in']} -> {res['fps_out']} {res['model']}: late {s['late']}, tiers {s['tier_shares']}, "
          f"latency p50 {s['latency_p50_ms']} p99 {s['latency_p99_ms']} ms, memory {res['memory_mib']}, "
          f"load {res['load1']}, received {res['received']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``filmrt live`` from the command line: a file paced at its own rate, the stats and the report;
SIGINT ends a network stream cleanly (exit 0, the output flushed and readable)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
from support.live import free_udp_port, read_output, start_sender
from support.synth import make_clip

from filmrt.cli.main import main


def test_cli_file_paced_with_stats_and_json(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", width=96, height=64, frames=40, audio=True)
    out, stats, report = tmp_path / "out.ts", tmp_path / "stats.jsonl", tmp_path / "r.json"
    rc = main(["live", src, str(out), "--fps", "50", "--model", "blend", "--latency", "200ms",
               "--stats", str(stats), "--json", str(report)])
    assert rc == 0
    r = json.loads(report.read_text())
    assert r["ended"] == "input-end" and r["stats"]["late"] == 0
    assert r["output"]["container"] == "mpegts" and r["output"]["encoder"] == "libx264"
    lines = [json.loads(x) for x in stats.read_text().splitlines()]
    assert lines and {"input_fps", "tiers", "latency_p99_ms", "late", "dropped_input"} <= set(lines[0])
    err = capsys.readouterr().err
    assert "latency p50" in err and "filmrt: live" in err  # the status line and the summary
    ts = np.array(read_output(out)["video"])
    assert len(ts) == r["stats"]["frames_out"] >= 60 and np.allclose(np.diff(ts), 0.02, atol=1e-6)


def test_audio_ts_cannot_carry_is_said_dropped_not_lost_silently(tmp_path, capsys):
    """PCM audio (a MOV master) cannot go into MPEG-TS as it is and live does not re-encode audio: the
    run says the stream is dropped (stderr and the JSON's stream fates) instead of losing it silently."""
    pcm = str(tmp_path / "pcm.mov")
    with av.open(pcm, "w") as o:
        v, a = o.add_stream("libx264", rate=25), o.add_stream("pcm_s16le", rate=48000)
        v.width, v.height, v.pix_fmt, a.layout = 96, 64, "yuv420p", "stereo"
        tone = (3000 * np.sin(np.arange(1920) * 2 * np.pi * 440 / 48000)).astype(np.int16)
        for i in range(25):
            for p in v.encode(av.VideoFrame.from_ndarray(np.full((64, 96, 3), 8 * i, np.uint8), format="rgb24")):
                o.mux(p)
            f = av.AudioFrame.from_ndarray(np.repeat(tone, 2)[None], format="s16", layout="stereo")
            f.sample_rate, f.pts = 48000, 1920 * i
            for p in a.encode(f):
                o.mux(p)
        for st in (v, a):
            for p in st.encode():
                o.mux(p)
    report = tmp_path / "r.json"
    assert main(["live", pcm, str(tmp_path / "out.ts"), "--fps", "50", "--model", "blend", "--latency", "200ms",
                 "--json", str(report)]) == 0
    fates = {f["kind"]: f for f in json.loads(report.read_text())["output"]["streams"]}
    assert fates["audio"]["fate"] == "dropped" and "without re-encoding" in fates["audio"]["reason"]
    assert "note: stream #1 audio pcm_s16le: dropped" in capsys.readouterr().err


def test_cli_bad_latency_is_exit_2(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=5)
    assert main(["live", src, str(tmp_path / "o.ts"), "--fps", "50", "--latency", "soon"]) == 2
    assert "--latency" in capsys.readouterr().err


def test_sigint_ends_the_stream_cleanly(tmp_path):
    port = free_udp_port()
    th, stop, go = start_sender(port, 30.0)
    go.set()
    out, stats, report = tmp_path / "out.ts", tmp_path / "stats.jsonl", tmp_path / "r.json"
    cmd = [sys.executable, "-m", "filmrt", "live", f"udp://127.0.0.1:{port}", str(out), "--fps", "50",
           "--model", "blend", "--latency", "8f", "--stats", str(stats), "--json", str(report), "--quiet"]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not stats.exists() or len(stats.read_text().splitlines()) < 2):
            time.sleep(0.2)
        assert p.poll() is None, p.stderr.read()
        os.kill(p.pid, signal.SIGINT)
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
        stop.set()
        th.join(timeout=10)
    assert rc == 0, p.stderr.read()
    r = json.loads(report.read_text())
    assert r["ended"] == "signal"
    ts = np.array(read_output(out)["video"])
    assert len(ts) == r["stats"]["frames_out"] > 50 and np.allclose(np.diff(ts), 0.02, atol=1e-6)

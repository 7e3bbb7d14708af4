"""``--report DIR``: the visual report of score / eval-video, opened in a real headless browser.

The page must be self-contained (relative links, no network) and every <img> must load: the page's
own onload script writes the counts into <body data-images data-loaded>, read back from Chromium's
--dump-dom. The worst-frame heap is checked to keep exactly the N lowest scores while building the
pictures only of frames that enter it.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from filmrt.cli.main import main
from filmrt.pipeline.report_html import WorstFrames, heat_map, worst_block, write_pareto_report

pytest.importorskip("matplotlib", reason="--report needs matplotlib (the test and quality extras)")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _dump_dom(page, tmp_path) -> str:
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=5000",
           "--dump-dom", page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def _loaded(dom: str) -> tuple[int, int]:
    m = re.search(r'<body[^>]*data-images="(\d+)"[^>]*data-loaded="(\d+)"', dom)
    assert m, "the page's onload script did not run"
    return int(m.group(1)), int(m.group(2))


def test_worst_frames_keeps_the_n_lowest_and_builds_only_those():
    built = []
    w = WorstFrames(3)
    scores = [30.0, 20.0, 40.0, 10.0, 35.0, 25.0, 5.0]
    for k, s in enumerate(scores):
        w.offer(s, f"f{k}", lambda k=k: built.append(k) or {"k": np.zeros((1, 1, 3), np.uint8)})
    assert [f.score for f in w.frames()] == [5.0, 10.0, 20.0]
    assert len(w) == 3
    assert built == [0, 1, 2, 3, 5, 6]  # 35 came when 3 lower scores were held: never built


def test_heat_map_and_worst_block_find_the_error():
    truth = np.zeros((96, 128, 3), np.uint8)
    ours = truth.copy()
    ours[70:80, 100:110] = 200
    x, y, w, h = worst_block(ours, truth)
    assert x <= 100 and x + w >= 110 and y <= 70 and y + h >= 80
    hm = heat_map(ours, truth)
    assert hm[75, 105].tolist() == [255, 255, 255] and hm[10, 10].tolist() == [0, 0, 0]


def test_score_and_eval_video_reports_load_in_a_browser(tmp_path, capsys):
    from support.synth import make_clip

    clip = make_clip(tmp_path / "ref.mp4", width=128, height=72, frames=10)
    ev, sc = tmp_path / "ev", tmp_path / "sc"
    assert main(["eval-video", clip, "--model", "blend", "--quiet", "--report", str(ev), "--worst", "2"]) == 0
    assert main(["score", clip, clip, "--quiet", "--report", str(sc), "--worst", "3"]) == 0
    for d, worst, panels in ((ev, 2, 4), (sc, 3, 3)):
        page = (d / "index.html").read_text()
        assert "http://" not in page and "https://" not in page  # self-contained
        srcs = re.findall(r'<img src="([^"]+)"', page)
        # 2 plots + per worst frame: its panels, the error map, two zoomed crops
        assert len(srcs) == 2 + worst * (panels + 3)
        assert all((d / s).is_file() and "/" not in s for s in srcs)
        images, loaded = _loaded(_dump_dom(d / "index.html", tmp_path))
        assert images == loaded == len(srcs)


def test_report_refuses_a_folder_with_other_files(tmp_path, capsys):
    from support.synth import make_clip

    clip = make_clip(tmp_path / "ref.mp4", width=64, height=48, frames=4)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert main(["score", clip, clip, "--quiet", "--report", str(busy)]) == 2
    assert "holds other files" in capsys.readouterr().err


def test_report_rewritten_in_place_holds_only_its_own_pictures(tmp_path):
    # an earlier report's worst-frame PNGs must not linger beside a new page that shows fewer
    from support.synth import make_clip

    ref = make_clip(tmp_path / "ref.mp4", width=64, height=48, frames=10)
    cand = make_clip(tmp_path / "cand.mkv", width=64, height=48, frames=10, codec="mpeg4")  # lossy: errors
    rep = tmp_path / "rep"
    assert main(["score", ref, cand, "--every", "0", "--quiet", "--report", str(rep), "--worst", "3"]) == 0
    first = {f.name for f in rep.glob("worst*.png")}
    assert any(n.startswith("worst02_") for n in first)
    (rep / "notes.txt").write_text("mine")  # not the report's: left alone
    assert main(["score", ref, cand, "--every", "0", "--quiet", "--report", str(rep), "--worst", "1"]) == 0
    shown = set(re.findall(r'<img src="([^"]+)"', (rep / "index.html").read_text()))
    assert {f.name for f in rep.glob("*.png")} == shown
    assert not any(n.startswith(("worst01_", "worst02_")) for n in shown)
    assert (rep / "notes.txt").read_text() == "mine"


def test_pareto_report_for_the_bench(tmp_path):
    pts = [{"name": "rife", "fps": 30.0, "psnr": 33.0}, {"name": "film", "fps": 5.0, "psnr": 34.0},
           {"name": "blend", "fps": 200.0, "psnr": 28.0}, {"name": "slow-bad", "fps": 4.0, "psnr": 27.0}]
    page = write_pareto_report(tmp_path / "bench", pts, summary={"machine": "test"})
    assert (tmp_path / "bench" / "pareto.png").stat().st_size > 1000
    assert "slow-bad" in page.read_text()

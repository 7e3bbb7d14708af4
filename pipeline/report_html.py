"""Visual quality reports: one self-contained folder (``index.html`` + PNGs) that opens in a browser.

A number says *how much* a method loses; a picture says *where* and *why*. ``--report DIR`` on
``filmrt score`` and ``filmrt eval-video`` (and the bench, through :func:`write_pareto_report`)
writes:

- **Per-frame plots** (matplotlib, Agg backend, imported only when a report is written): PSNR,
  VMAF and flicker over the clip, so a bad second stands out from a good average.
- **The worst N frames side by side**: the previous source frame, the truth, ours, a blend (or a
  peer) when the caller has one, an error heat map (|ours - truth|, brightest = worst) and zoomed
  crops of truth and ours around the worst 64x64 block. :class:`WorstFrames` keeps only the N
  worst while scoring runs (a bounded heap: memory does not grow with the clip), and builds the
  pictures of a frame only when it enters the heap.
- **The bench's Pareto plot** (speed against quality) when the bench passes its points.

The page has relative links only and no external resource (no fonts, scripts or styles from the
network), so the folder can be copied, zipped or attached. A tiny inline script counts on
``window.onload`` how many ``<img>`` loaded and writes the counts into ``<body data-images=...
data-loaded=...>``: a headless browser's ``--dump-dom`` shows whether the page is whole (tested).
"""

from __future__ import annotations

import heapq
import html
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from filmrt.errors import FilmrtError
from filmrt.fileio import atomic_write

#: a file the report writes into DIR first: a folder holding it (or empty) may be written over
MARKER = "index.html"
#: side of the zoomed crop around the worst block, in source pixels
CROP = 64
#: zoom factor of the crops (nearest neighbour: the pixels themselves are shown)
ZOOM = 3


@dataclass
class WorstFrame:
    score: float
    label: str
    #: panel name -> (H, W, 3) uint8 picture; "truth" and "ours" are required (heat map, crops)
    panels: dict[str, np.ndarray]


class WorstFrames:
    """The ``n`` frames with the lowest score (PSNR), kept while scoring runs.

    ``offer(score, label, make_panels)`` calls ``make_panels()`` only when the frame is among the
    ``n`` worst so far; at most ``n`` frames' pictures are held at any time.
    """

    def __init__(self, n: int = 4):
        if n < 0:
            raise FilmrtError(f"--worst {n}: must be >= 0")
        self.n = n
        # a min-heap of (-score, seq, frame): its top is the best of the worst, the one to evict
        self._heap: list[tuple[float, int, WorstFrame]] = []
        self._seq = itertools.count()

    def wants(self, score: float) -> bool:
        return self.n > 0 and (len(self._heap) < self.n or score < -self._heap[0][0])

    def offer(self, score: float, label: str, make_panels: Callable[[], dict[str, np.ndarray]]) -> None:
        if not self.wants(score):
            return
        item = (-float(score), next(self._seq), WorstFrame(float(score), label, make_panels()))
        if len(self._heap) < self.n:
            heapq.heappush(self._heap, item)
        else:
            heapq.heapreplace(self._heap, item)

    def frames(self) -> list[WorstFrame]:
        """Worst first."""
        return [f for _, _, f in sorted(self._heap, key=lambda x: (-x[0], x[1]))]

    def __len__(self) -> int:
        return len(self._heap)


@dataclass
class Plot:
    """One per-frame plot: ``series`` maps a label to (x, y) lists (y may hold None: gaps)."""

    name: str
    title: str
    ylabel: str
    series: Mapping[str, tuple[Sequence[float], Sequence[float | None]]]
    xlabel: str = "frame"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display; scoped to this process's matplotlib only
    import matplotlib.pyplot as plt

    return plt


def heat_map(ours: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 error picture: mean absolute RGB error, scaled so 64 code values = white,
    black -> red -> yellow -> white (a plain colour ramp: no colormap dependency)."""
    err = np.abs(ours.astype(np.float32) - truth.astype(np.float32)).mean(-1) / 64.0
    e = np.clip(err, 0, 1)
    r, g, b = np.clip(3 * e, 0, 1), np.clip(3 * e - 1, 0, 1), np.clip(3 * e - 2, 0, 1)
    return (np.stack([r, g, b], -1) * 255).round().astype(np.uint8)


def worst_block(ours: np.ndarray, truth: np.ndarray, side: int = CROP) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the ``side`` x ``side`` block (stride side/2) with the largest error."""
    h, w = truth.shape[:2]
    sw, sh = min(side, w), min(side, h)
    err = np.abs(ours.astype(np.float32) - truth.astype(np.float32)).mean(-1)
    best, at = -1.0, (0, 0)
    for y in range(0, max(1, h - sh + 1), max(1, sh // 2)):
        for x in range(0, max(1, w - sw + 1), max(1, sw // 2)):
            v = float(err[y : y + sh, x : x + sw].mean())
            if v > best:
                best, at = v, (x, y)
    return at[0], at[1], sw, sh


def _zoom(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return img[y : y + h, x : x + w].repeat(ZOOM, 0).repeat(ZOOM, 1)


def _save_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(img)).save(path, optimize=True)


def _save_plot(path: Path, plot: Plot) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    for label, (xs, ys) in plot.series.items():
        y = np.array([np.nan if v is None else v for v in ys], dtype=np.float64)
        ax.plot(list(xs), y, marker=".", linewidth=1, label=label)
    ax.set_title(plot.title)
    ax.set_xlabel(plot.xlabel)
    ax.set_ylabel(plot.ylabel)
    ax.grid(True, alpha=0.3)
    if len(plot.series) > 1:
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def pareto_front(points: Sequence[Mapping], *, x: str = "fps", y: str = "psnr") -> set[str]:
    """Names of the ``points`` no other point beats on both axes (higher is better on both; equal
    points are all on the front)."""
    pts = [(float(p[x]), float(p[y]), str(p["name"])) for p in points if p.get(x) is not None and p.get(y) is not None]
    return {p[2] for p in pts if not any(q[0] >= p[0] and q[1] >= p[1] and q[:2] != p[:2] for q in pts)}


def save_pareto_plot(path: Path, points: Sequence[Mapping], *, x: str = "fps", y: str = "psnr",
                     xlabel: str = "frames per second", ylabel: str = "PSNR (dB)",
                     title: str = "speed against quality", logx: bool = False) -> Path:
    """Scatter of ``points`` (dicts with ``name``, ``x``, ``y``), the :func:`pareto_front` in red and
    joined; ``logx`` for speeds that span decades. Returns ``path``."""
    plt = _pyplot()
    pts = sorted((float(p[x]), float(p[y]), str(p["name"])) for p in points
                 if p.get(x) is not None and p.get(y) is not None)
    front = pareto_front(points, x=x, y=y)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=["tab:red" if p[2] in front else "tab:blue" for p in pts],
               zorder=3)
    for px, py, name in pts:
        ax.annotate(name, (px, py), textcoords="offset points", xytext=(4, 4), fontsize="small")
    on = [p for p in pts if p[2] in front]
    if on:
        ax.plot([p[0] for p in on], [p[1] for p in on], color="tab:red", linestyle="--", label="Pareto front")
        ax.legend(loc="best", fontsize="small")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def prepare_dir(path) -> Path:
    """Make report folder ``path``; refuse a file, or a folder holding anything but an earlier report."""
    d = Path(path)
    if d.exists() and not d.is_dir():
        raise FilmrtError(f"--report {path}: exists and is not a folder")
    if d.is_dir() and any(d.iterdir()) and not (d / MARKER).is_file():
        raise FilmrtError(f"--report {path}: the folder holds other files (give an empty or new folder)")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FilmrtError(f"--report {path}: cannot make the folder ({e.strerror})") from None
    return d


_ONLOAD = """<script>
window.onload = function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute("data-images", String(imgs.length));
  document.body.setAttribute("data-loaded", String(ok));
};
</script>"""

_STYLE = """<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
figure { display: inline-block; margin: 0.3em; vertical-align: top; } figcaption { font-size: small; }
img { image-rendering: pixelated; border: 1px solid #ddd; }
</style>"""


def _img(src: str, caption: str, width: int | None = None) -> str:
    c = html.escape(caption)
    w = f' width="{width}"' if width else ""
    return f'<figure><img src="{html.escape(src)}" alt="{c}"{w}><figcaption>{c}</figcaption></figure>'


def _worst_html(d: Path, worst: Sequence[WorstFrame], metric: str) -> list[str]:
    out = [f"<h2>The {len(worst)} worst frames (lowest {html.escape(metric)})</h2>"]
    for k, wf in enumerate(worst):
        ours, truth = wf.panels["ours"], wf.panels["truth"]
        box = worst_block(ours, truth)
        pics = dict(wf.panels)
        pics["error"] = heat_map(ours, truth)
        pics["truth (zoom)"] = _zoom(truth, box)
        pics["ours (zoom)"] = _zoom(ours, box)
        out.append(f"<h3>{html.escape(wf.label)}: {metric} {wf.score:.2f}</h3><div>")
        for j, (name, img) in enumerate(pics.items()):
            fn = f"worst{k:02d}_{j}.png"
            _save_png(d / fn, img)
            cap = name if "zoom" not in name else f"{name} x{ZOOM} at ({box[0]}, {box[1]})"
            # small frames are shown at an integer zoom (pixelated), so a 128-pixel clip stays readable
            out.append(_img(fn, cap, img.shape[1] * max(1, 256 // img.shape[1])))
        out.append("</div>")
    return out


def write_report(path, *, title: str, summary: Mapping[str, object], plots: Sequence[Plot] = (),
                 worst: WorstFrames | None = None, metric: str = "PSNR (dB)",
                 pareto: Sequence[Mapping] | None = None, notes: Sequence[str] = ()) -> Path:
    """Write ``index.html`` and its PNGs into folder ``path``; returns the page's path."""
    d = prepare_dir(path)
    body = [f"<h1>{html.escape(title)}</h1>", "<table>"]
    body += [f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()]
    body.append("</table>")
    body += [f"<p>{html.escape(n)}</p>" for n in notes]
    if plots:
        body.append("<h2>Per frame</h2>")
        for p in plots:
            fn = f"plot_{p.name}.png"
            _save_plot(d / fn, p)
            body.append(_img(fn, p.title))
    if pareto:
        save_pareto_plot(d / "pareto.png", pareto)
        body += ["<h2>Speed and quality</h2>", _img("pareto.png", "Pareto plot: speed against PSNR")]
    if worst is not None and len(worst):
        body += _worst_html(d, worst.frames(), metric)
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>{_STYLE}</head>\n<body>\n" + "\n".join(body)
            + f"\n{_ONLOAD}\n</body></html>\n")
    out = atomic_write(d / MARKER, page)
    _drop_stale(d, page)
    return out


_OURS = re.compile(r"(plot_\w+|worst\d{2}_\d+|pareto)\.png")


def _drop_stale(d: Path, page: str) -> None:
    """Remove the PNGs an earlier report in ``d`` wrote that this page does not show (its 4 worst
    frames after a run with --worst 2, its VMAF plot after a run without --vmaf): the folder is then
    this report and nothing else. Files of other names are left alone."""
    shown = set(re.findall(r'<img src="([^"]+)"', page))
    for f in d.glob("*.png"):
        if _OURS.fullmatch(f.name) and html.escape(f.name) not in shown:
            f.unlink(missing_ok=True)


def write_pareto_report(path, points: Sequence[Mapping], *, title: str = "filmrt bench",
                        summary: Mapping[str, object] | None = None) -> Path:
    """The bench's report: ``points`` are dicts with ``name``, ``fps`` (higher = faster) and ``psnr``
    (dB); a table of the points and the Pareto plot. Returns the page's path."""
    rows = {str(p["name"]): f"{float(p['fps']):.2f} fps, PSNR {float(p['psnr']):.2f} dB" for p in points}
    return write_report(path, title=title, summary={**(summary or {}), **rows}, pareto=points)


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def write_score_report(path, rep: Mapping, worst: WorstFrames | None) -> Path:
    """``filmrt score --report DIR``: the report of :func:`filmrt.pipeline.score.score_output`."""
    rows = rep["frames"]
    summary: dict[str, object] = {"REF": rep["ref"], "CAND": rep["cand"],
                                  "size": f"{rep['width']}x{rep['height']}", "every": rep["every"] or "-",
                                  "frames matched": rep["matched"]}
    for name in ("generated", "kept"):
        g = rep.get(name)
        if g:
            summary[name] = (f"{g['frames']} frames, PSNR {_fmt(g['psnr'], '.2f')} dB, SSIM {_fmt(g['ssim'], '.4f')}, "
                             f"VMAF {_fmt(g['vmaf'], '.2f')}, flicker {_fmt(g['flicker'], '.2f')}")
    summary["judder (CAND / REF)"] = (f"{_fmt(rep['judder']['cand']['judder'], '.3f')} / "
                                      f"{_fmt(rep['judder']['ref']['judder'], '.3f')}")

    def series(key: str) -> dict:
        out = {}
        for group in ("generated", "kept"):
            pts = [(r["ref_index"], r.get(key)) for r in rows if r["group"] == group and r.get(key) is not None]
            if pts:
                out[group] = ([p[0] for p in pts], [p[1] for p in pts])
        return out

    plots = [Plot(k, t, u, series(k), xlabel="REF frame") for k, t, u in (
        ("psnr", "PSNR per frame", "dB"), ("vmaf", "VMAF per frame", "VMAF"),
        ("flicker", "flicker per generated frame", "8-bit code values")) if series(k)]
    return write_report(path, title=f"filmrt score: {rep['cand']}", summary=summary, plots=plots, worst=worst)


def write_eval_report(path, rep: Mapping, worst: WorstFrames | None) -> Path:
    """``filmrt eval-video --report DIR``: the report of :func:`filmrt.pipeline.eval_video.eval_video`."""
    pf = rep["per_frame"]
    x = pf["position"]
    def method(pre: str) -> str:
        j = rep.get(f"{pre}judder") or {"cand": {"judder": None}, "motion_error": None}
        return (f"PSNR {rep[pre + 'psnr']:.2f} dB, SSIM {rep[pre + 'ssim']:.4f}, VMAF {_fmt(rep.get(pre + 'vmaf'), '.2f')}, "
                f"flicker {rep[pre + 'flicker']:.2f}, judder {_fmt(j['cand']['judder'], '.3f')}, "
                f"motion error {_fmt(j['motion_error'], '.3f')}")

    summary = {"clip": rep["clip"], "model": f"{rep['model']} ({rep['backend']}, {rep['device']})",
               "size": f"{rep['width']}x{rep['height']}", "frames scored": rep["frames_scored"],
               rep["model"]: method(""), "blend": method("blend_"), "protocol": rep["protocol"]}
    plots = [Plot("psnr", "PSNR per rebuilt frame", "dB",
                  {rep["model"]: (x, pf["psnr"]), "blend": (x, pf["blend_psnr"])})]
    if "vmaf" in pf:
        plots.append(Plot("vmaf", "VMAF per rebuilt frame", "VMAF",
                          {rep["model"]: (x, pf["vmaf"]), "blend": (x, pf["blend_vmaf"])}))
    plots.append(Plot("flicker", "flicker per rebuilt frame", "8-bit code values",
                      {rep["model"]: (x, pf["flicker"]), "blend": (x, pf["blend_flicker"])}))
    return write_report(path, title=f"filmrt eval-video: {rep['clip']}", summary=summary, plots=plots, worst=worst)


def add_report_options(p) -> None:
    """``--report DIR`` and ``--worst N`` on a scoring command's parser."""
    p.add_argument("--report", default=None, metavar="DIR",
                   help="write a visual report into DIR (index.html + PNGs: per-frame plots, the worst frames "
                        "side by side with error maps; needs matplotlib: pip install 'filmrt[quality]')")
    p.add_argument("--worst", type=int, default=4, metavar="N", help="--report: show the N worst frames (default 4)")


def report_collector(args) -> WorstFrames | None:
    """Check ``--report DIR`` before any work (and that matplotlib is there); the worst-frame heap or None."""
    if not getattr(args, "report", None):
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise FilmrtError("--report needs matplotlib: pip install 'filmrt[quality]'") from None
    prepare_dir(args.report)
    return WorstFrames(args.worst)

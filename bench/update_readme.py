"""Put the latest recorded CPU (and GPU) bench results into the docs' benchmarks page.

Usage: ``.venv/bin/python bench/update_readme.py`` (or ``python -m filmrt.bench.update_readme``)
in a checkout: it edits the checkout's ``docs/benchmarks.md``, found from this file's place (the
README stays a short front door; generated tables live in the docs). Reads every
``bench/results/*.json`` written by ``filmrt bench``, takes the newest CPU run (a full run is
preferred to a ``--quick`` one of the same day) and the newest GPU run, and rewrites the text
between ``<!-- bench:cpu:start -->`` / ``<!-- bench:cpu:end -->`` (and ``bench:gpu``) markers, and
the ``bench:peers`` block from the newest ``bench/results/peers-*.json`` of ``filmrt bench --peers``
(its table, :func:`filmrt.bench.peers_report.peers_markdown`, with the Pareto PNG named).
A GPU table without a result says so plainly. Result files are named as code, not linked: they
sit outside ``docs/``, and ``mkdocs build --strict`` refuses links that leave the site.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from filmrt.fileio import atomic_write

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "benchmarks.md"


def _load_all() -> list[tuple[Path, dict]]:
    out = []
    for p in sorted((ROOT / "bench" / "results").glob("*.json")):
        try:
            doc = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if doc.get("schema", "").startswith("filmrt-bench/"):
            out.append((p, doc))
    return out


def _f(x, fmt=".2f"):
    return "—" if x is None else format(x, fmt)


def table(path: Path, doc: dict) -> str:
    m = doc["machine"]
    q = ((doc.get("peers") or {}).get("quality") or {}).get("methods", {})
    mi = (doc.get("peers") or {}).get("minterpolate_speed")
    lines = [f"Run of {doc['created_utc'][:10]}, from `bench/results/{path.name}` "
             f"(summary: `bench/results/{path.with_suffix('.md').name}`): {m['cpu_model']}, "
             f"{m['cpu_affinity']} cores, {'GPU ' + m['gpu']['name'] if m.get('gpu') else 'no GPU'}; "
             f"torch {doc['versions']['torch']}; commit `{(doc['git'].get('commit') or '?')[:10]}`; "
             f"`{doc['command']}`; load average {doc['load_average_start']} at start "
             f"(the machine is shared with other jobs).", ""]
    lines += ["| model | backend | precision | size | batch | ms per call | interpolations/s | achieved TFLOP/s |",
              "|---|---|---|---|---|---|---|---|"]
    for r in doc.get("model_only", []):
        lines.append(f"| {r['model']}{' (random weights)' if r['weights'].startswith('random') else ''} | "
                     f"{r['backend']} | {r['precision']} | {r['size']} | {r['batch']} | {r['ms_per_call']:.1f} | "
                     f"{r['interp_per_s']:.2f} | {_f(r.get('achieved_tflops'), '.3f')} |")
    for r in doc.get("film_stages", []):
        lines.append("")
        lines.append(f"FILM stages ({r['size']}, {r['precision']}): features {r['features_ms']:.0f} ms, flow "
                     f"{r['flow_ms']:.0f} ms, fusion {r['fusion_ms']:.0f} ms; stage reuse saves "
                     f"{r['reuse']['x2']['saving']:.0%} at x2 and {r['reuse']['x4']['saving']:.0%} at x4.")
    if doc.get("end_to_end") or mi:
        clip = doc.get("clip", {})
        st = doc["settings"]
        lines += ["", f"End to end on {clip.get('name')} ({clip.get('width')}x{clip.get('height')} {clip.get('rate')} fps, "
                  f"{st['t']} s from {st['ss']} s, x{st['rate_factor']}), peers in the same run:", "",
                  "| method | wall s | out frames/s | speed vs minterpolate (wall / CPU time) | PSNR dB | SSIM |",
                  "|---|---|---|---|---|---|"]
        if mi:
            qq = q.get("minterpolate", {})
            lines.append(f"| ffmpeg minterpolate (mci, aobmc, bidir, vsbmc) | {mi['wall_s']:.1f} | {mi['out_fps']:.2f} | "
                         f"1x / 1x | {_f(qq.get('psnr'))} | {_f(qq.get('ssim'), '.4f')} |")
        for r in doc.get("end_to_end", []):
            qq = q.get(r["model"], {})
            w = mi["wall_s"] / r["wall_s"] if mi else None
            c = mi["cpu_s"] / r["cpu_s"] if mi and mi.get("cpu_s") and r.get("cpu_s") else None
            backend = f" ({r['backend']})" if r.get("backend") else ""
            lines.append(f"| filmrt convert, {r['model']}{backend} | {r['wall_s']:.1f} | {_f(r.get('out_fps'))} | "
                         f"{_f(w)}x / {_f(c)}x | {_f(qq.get('psnr'))} | {_f(qq.get('ssim'), '.4f')} |")
    for t in doc.get("targets", []):
        lines.append("")
        lines.append(f"Target {'met' if t['met'] else '**not met**'}: {t['target']}.")
    return "\n".join(lines)


def replace_between(text: str, key: str, body: str) -> str:
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    pat = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pat.search(text):
        raise SystemExit(f"{PAGE.relative_to(ROOT)} has no {start} ... {end} markers")
    return pat.sub(lambda _: f"{start}\n{body}\n{end}", text)


def newest(items: list[tuple[Path, dict]]) -> tuple[Path, dict]:
    # newest day first; on the same day a full run beats a --quick one
    return max(items, key=lambda pd: (pd[1]["created_utc"][:10], not pd[1]["settings"]["quick"],
                                      pd[1]["created_utc"]))


def render(text: str, results: list[tuple[Path, dict]]) -> str:
    """``text`` (the page) with its ``bench:cpu`` and ``bench:gpu`` blocks rewritten from ``results``."""
    cpu = [(p, d) for p, d in results if not d["machine"].get("gpu")]
    gpu = [(p, d) for p, d in results if d["machine"].get("gpu")]
    text = replace_between(text, "cpu", table(*newest(cpu)) if cpu else "Not measured yet.")
    return replace_between(text, "gpu", table(*newest(gpu)) if gpu else
                           "Not measured yet: bench/results/ holds no GPU run.")


def render_peers(text: str) -> tuple[str, str | None]:
    """``text`` with its ``bench:peers`` block from the newest peers result (and that file's name);
    a page without the markers is returned as it is."""
    from filmrt.bench.peers_report import peers_markdown

    if "<!-- bench:peers:start -->" not in text:
        return text, None
    docs = []
    for p in sorted((ROOT / "bench" / "results").glob("peers-*.json")):
        try:
            doc = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if doc.get("kind") == "filmrt-bench-peers":
            # newest day first; on the same day the run with more rounds (the full one), then the latest
            docs.append(((doc["created_utc"][:10], doc["peers_vs"].get("rounds", 1), doc["created_utc"]), p, doc))
    if not docs:
        return replace_between(text, "peers", "Not measured yet: run `make bench-peers`."), None
    _, p, doc = max(docs, key=lambda d: d[0])
    body = peers_markdown(doc).replace("### ", "#### ", 1)
    files = f"`bench/results/{p.name}`, `{p.with_suffix('.md').name}`"
    body += f"\nFrom {files}" + (f" and the Pareto plot `{doc['pareto_png']}`." if doc.get("pareto_png") else ".")
    return replace_between(text, "peers", body), p.name


def main() -> int:
    results = _load_all()
    text, peers = render_peers(render(PAGE.read_text(), results))
    atomic_write(PAGE, text)
    if peers:
        print(f"{PAGE.relative_to(ROOT)}: peers from {peers}")
    names = [newest([r for r in results if bool(r[1]["machine"].get("gpu")) == g])[0].name
             for g in (False, True) if any(bool(r[1]["machine"].get("gpu")) == g for r in results)]
    print(f"{PAGE.relative_to(ROOT)} updated from {' and '.join(names) or 'no result'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

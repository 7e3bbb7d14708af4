"""Rewrite the generated blocks of docs/benchmarks.md (``<!-- bench:cpu|gpu|peers:start -->`` ...
``end``) from the newest results in bench/results: ``python bench/update_readme.py``. A full run
beats a ``--quick`` one of the same day; result files are named as code, not linked (``mkdocs
build --strict`` refuses links that leave the site).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from filmrt.bench import report
from filmrt.fileio import atomic_write

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "benchmarks.md"


def _load(pattern: str, ok) -> list[tuple[Path, dict]]:
    """The results in bench/results matching ``pattern`` that ``ok(doc)`` accepts (unreadable ones left out)."""
    out = []
    for p in sorted((ROOT / "bench" / "results").glob(pattern)):
        try:
            doc = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if ok(doc):
            out.append((p, doc))
    return out


def _load_all() -> list[tuple[Path, dict]]:
    return _load("*.json", lambda d: d.get("schema", "").startswith("filmrt-bench/"))


def table(path: Path, doc: dict) -> str:
    """One run's block: where it ran, then the tables of its summary (:mod:`filmrt.bench.report`),
    their headings one level down."""
    m = doc["machine"]
    lines = [f"Run of {doc['created_utc'][:10]}, from `bench/results/{path.name}` "
             f"(summary: `bench/results/{path.with_suffix('.md').name}`): {m['cpu_model']}, "
             f"{m['cpu_affinity']} cores, {'GPU ' + m['gpu']['name'] if m.get('gpu') else 'no GPU'}; "
             f"torch {doc['versions']['torch']}; commit `{(doc['git'].get('commit') or '?')[:10]}`; "
             f"`{doc['command']}`; load average {doc['load_average_start']} at start "
             f"(the machine is shared with other jobs).", ""]
    for part in (report.model_only_md, report.stages_md, report.end_to_end_md, report.targets_md):
        lines += [ln.replace("## ", "#### ", 1) if ln.startswith("## ") else ln for ln in part(doc)]
    return "\n".join(lines).rstrip()


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
    from filmrt.bench.peers_vs import peers_markdown

    if "<!-- bench:peers:start -->" not in text:
        return text, None
    # newest day first; on the same day the run with more rounds (the full one), then the latest
    docs = [((d["created_utc"][:10], d["peers_vs"].get("rounds", 1), d["created_utc"]), p, d)
            for p, d in _load("peers-*.json", lambda d: d.get("kind") == "filmrt-bench-peers")]
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

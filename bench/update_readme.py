"""Put the latest recorded CPU (and GPU) bench results into README.md's "Benchmarks" tables.

Usage: ``.venv/bin/python -m filmrt.bench.update_readme``
in a checkout: it edits the checkout's README.md, found from this file's place. Reads every
``bench/results/*.json`` written by ``filmrt bench``, takes the newest CPU run (a full run is
preferred to a ``--quick`` one of the same day) and the newest GPU run, and rewrites the text
between ``<!-- bench:cpu:start -->`` / ``<!-- bench:cpu:end -->`` (and ``bench:gpu``) markers.
A GPU table without a result says so plainly.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from filmrt.bench import report
from filmrt.fileio import atomic_write

ROOT = Path(__file__).resolve().parent.parent


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


def table(path: Path, doc: dict) -> str:
    """The result's own markdown summary (:func:`filmrt.bench.report.markdown`'s tables, headings
    made bold so they nest under the README's), under a line naming the file and the machine."""
    m = doc["machine"]
    lines = [f"From [`bench/results/{path.name}`](bench/results/{path.name}) "
             f"([summary](bench/results/{path.with_suffix('.md').name})): {m['cpu_model']}, "
             f"{m['cpu_affinity']} cores, {'GPU ' + m['gpu']['name'] if m.get('gpu') else 'no GPU'}; "
             f"torch {doc['versions']['torch']}; commit `{(doc['git'].get('commit') or '?')[:10]}`; "
             f"`{doc['command']}`; load average {doc['load_average_start']} at start "
             f"(the machine is shared with other jobs).", ""]
    for part in (report.model_only_md, report.stages_md, report.end_to_end_md, report.targets_md):
        lines += [f"**{x[3:]}**" if x.startswith("## ") else x for x in part(doc)]
    return "\n".join(lines).rstrip()


def replace_between(text: str, key: str, body: str) -> str:
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    pat = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pat.search(text):
        raise SystemExit(f"README.md has no {start} ... {end} markers")
    return pat.sub(lambda _: f"{start}\n{body}\n{end}", text)


def main() -> int:
    docs = _load_all()
    cpu = [(p, d) for p, d in docs if not d["machine"].get("gpu")]
    gpu = [(p, d) for p, d in docs if d["machine"].get("gpu")]

    def newest(items):
        # newest day first; on the same day a full run beats a --quick one
        return max(items, key=lambda pd: (pd[1]["created_utc"][:10], not pd[1]["settings"]["quick"],
                                          pd[1]["created_utc"]))

    readme = ROOT / "README.md"
    text = readme.read_text()
    text = replace_between(text, "cpu", table(*newest(cpu)) if cpu else "Not measured yet.")
    text = replace_between(text, "gpu", table(*newest(gpu)) if gpu else
                           "Not measured yet: no GPU was lent to the session that ran the benchmark.")
    atomic_write(readme, text)
    print(f"README.md updated from {newest(cpu)[0].name if cpu else 'no CPU result'}"
          f"{' and ' + newest(gpu)[0].name if gpu else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

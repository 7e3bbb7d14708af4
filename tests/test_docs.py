"""The documentation: the MkDocs site builds with ``--strict`` and the README stays a front door.

``mkdocs build --strict`` fails on a link to a missing page or anchor and on a page missing from
``mkdocs.yml``'s nav, so a page renamed or a heading reworded without its links fails here. The
README is read on GitHub-like viewers, where relative links resolve against the repository: each
must point to a file that exists. The generated benchmark tables are checked through
``bench/update_readme.py``'s own ``render``, on the page as committed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# [text](target) and [text]: target, not images' data URIs nor absolute URLs
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)|^\[[^\]]+\]:\s*(\S+)", re.M)


def _relative_links(text: str) -> list[str]:
    links = [a or b for a, b in _LINK.findall(text)]
    return [u for u in links if not re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", u)]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (it comes with the [test] extra)")
    # not -q: with --quiet, mkdocs 1.6 does not count warnings and --strict passes anyway
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING" not in r.stderr, r.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "benchmarks" / "index.html").is_file()


def test_readme_is_a_front_door():
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines (at most 250: the manual lives in docs/)"
    hits = [ln for ln in lines if re.search(r"\bissues?\s*#?\d+", ln, re.I)]
    assert not hits, f"issue numbers in README.md: {hits}"
    for cmd in ("make setup", "make demo", "make test"):
        assert cmd in text


def test_readme_relative_links_exist():
    links = _relative_links(README.read_text())
    assert any(u.startswith("docs/") for u in links), "README.md links into docs/"
    missing = [u for u in links if not (ROOT / u.split("#", 1)[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_relative_link_finder():
    text = "[a](docs/x.md) [b](docs/y.md#z) [c](https://e.org) [d](#top) ![i](img.png)\n[r]: docs/r.md\n"
    assert _relative_links(text) == ["docs/x.md", "docs/y.md#z", "img.png", "docs/r.md"]


def test_docs_have_no_issue_numbers():
    hits = [f"{p.name}: {ln.strip()}" for p in sorted((ROOT / "docs").glob("*.md"))
            for ln in p.read_text().splitlines() if re.search(r"\bissues?\s*#?\d+", ln, re.I)]
    assert not hits, hits


def test_bench_tables_render_into_the_benchmarks_page():
    from filmrt.bench import update_readme as ur

    page = (ROOT / "docs" / "benchmarks.md").read_text()
    results = ur._load_all()
    out = ur.render(page, results)
    for key in ("cpu", "gpu"):
        assert out.count(f"<!-- bench:{key}:start -->") == 1 and out.count(f"<!-- bench:{key}:end -->") == 1
    # only the marked blocks change: the hand-written text around them is kept
    strip = re.compile(r"<!-- bench:(\w+):start -->.*?<!-- bench:\1:end -->", re.S)
    assert strip.sub("", out) == strip.sub("", page)
    cpu = [p for p, d in results if not d["machine"].get("gpu")]
    if cpu:
        assert f"`bench/results/{ur.newest([r for r in results if r[0] in cpu])[0].name}`" in out
    with pytest.raises(SystemExit, match="no <!-- bench:cpu:start -->"):
        ur.render("# a page without markers\n", results)

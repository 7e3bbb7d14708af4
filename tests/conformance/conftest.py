"""The conformance matrix's two sizes and its table of results.

``conformance_full`` runs are skipped unless ``FILMRT_CONFORMANCE=full`` (``make conformance``), so
``make test`` runs the CI subset. With ``FILMRT_CONFORMANCE_TABLE=FILE`` the session ends by
writing a markdown table (case x output:options -> result) to FILE, for the docs to include.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

FULL = os.environ.get("FILMRT_CONFORMANCE", "") == "full"
_results: dict[str, tuple[str, str]] = {}


def pytest_collection_modifyitems(config, items):
    if FULL:
        return
    skip = pytest.mark.skip(reason="conformance_full: run by `make conformance` (FILMRT_CONFORMANCE=full)")
    for item in items:
        if "conformance_full" in item.keywords:
            item.add_marker(skip)


def pytest_runtest_logreport(report):
    if "test_conversion[" not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        run_id = report.nodeid.split("[", 1)[1].rstrip("]")
        props = dict(report.user_properties)
        if isinstance(report.longrepr, str) and report.longrepr.startswith("[XPASS"):
            res = "FIXED (XPASS): " + report.longrepr.split("]", 1)[1].strip()
        elif hasattr(report, "wasxfail"):
            res = "known: " + report.wasxfail if report.outcome == "skipped" else "FIXED (XPASS): " + report.wasxfail
        elif report.outcome == "passed":
            res = "refused (exit 2)" if props.get("exit") == 2 else "ok"
        elif report.outcome == "skipped":
            return
        else:
            res = "FAIL: " + (report.longrepr.reprcrash.message.splitlines()[0][:120]
                              if hasattr(report.longrepr, "reprcrash") else "error")  # fmt: skip
        _results[run_id] = (res, str(props.get("message", ""))[:120])


def pytest_sessionfinish(session):
    path = os.environ.get("FILMRT_CONFORMANCE_TABLE")
    if not path or not _results:
        return
    by_case: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for run_id, res in _results.items():
        case, out = run_id.split("->", 1)
        by_case[case][out] = res
    counts = defaultdict(int)
    for res, _ in _results.values():
        counts[res.split(":")[0].split(" (")[0]] += 1
    lines = ["# Conformance matrix results", "",
             f"{len(_results)} conversions of {len(by_case)} inputs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
             "", "| input | output:options | result | last message |", "|---|---|---|---|"]  # fmt: skip
    for case in sorted(by_case):
        for out in sorted(by_case[case]):
            res, msg = by_case[case][out]
            lines.append(f"| {case} | {out} | {res} | {msg.replace('|', '/')} |")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n")

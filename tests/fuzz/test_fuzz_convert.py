"""Fuzzing ``filmrt convert`` with broken, unusual and hostile inputs (issue 12).

Each case (tests/support/fuzzgen.py) runs the real CLI in a subprocess (so a crash, a hang or a
traceback is seen as a user would see it) and must end in one of the documented ways:

- exit 0 (converted), 2 (refused: one line, nothing written) or 3 (converted from a damaged
  input); never 1 (an unexpected error), never a traceback, never a hang (timeout);
- after a failure nothing is at OUT and no temp file is left beside it;
- every output that exists is valid: all its frames decode, its video runs at the asked rate,
  and (Matroska, which holds anything) it has as many audio streams as the input.

CI runs the fixed corpus, the mutations that once found a bug (``fuzzgen.FOUND``) and a few seeded mutations (``FILMRT_FUZZ_CASES``, default 6, seed
``FILMRT_FUZZ_SEED``, default 0); ``make fuzz`` runs a longer campaign (see the Makefile).
A failing mutation is reproduced with its seed: the case name is ``mut-<seed>-<i>-<ext>``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from fractions import Fraction

import av
import pytest
from support.fuzzgen import Case, corpus, mutations, regressions

SEED = int(os.environ.get("FILMRT_FUZZ_SEED", "0"))
N_MUTATIONS = int(os.environ.get("FILMRT_FUZZ_CASES", "6"))
TIMEOUT = float(os.environ.get("FILMRT_FUZZ_TIMEOUT", "120"))
COMMON = ["--model", "blend", "--quiet", "--threads", "1", "--preset", "ultrafast"]
CASES = corpus() + regressions() + mutations(SEED, N_MUTATIONS)

pytestmark = pytest.mark.fuzz


def _feed_fifo(path, data: bytes) -> threading.Thread:
    def write():
        try:
            with open(path, "wb") as f:
                f.write(data)
        except BrokenPipeError:  # the reader gave up early: fine
            pass

    th = threading.Thread(target=write, daemon=True)
    th.start()
    return th


def _audio_streams(path) -> int | None:
    try:
        with av.open(str(path)) as c:
            return len(c.streams.audio)
    except Exception:  # noqa: BLE001 - an unreadable input has no count to compare
        return None


def _asked_rate(args: list[str]) -> Fraction | None:
    fps = args[args.index("--fps") + 1]
    return None if "x" in fps else Fraction(fps)


def check_output(case: Case, src, out) -> None:
    with av.open(str(out)) as c:
        assert c.streams.video, "the output has no video stream"
        vs = c.streams.video[0]
        frames = sum(1 for _ in c.decode(vs))
        rate = vs.guessed_rate or vs.average_rate
    assert frames >= 1
    asked = _asked_rate(case.args)
    if asked is not None and frames >= 2:
        assert rate is not None and abs(float(rate) / float(asked) - 1) < 2e-3, (rate, asked)
    if out.suffix == ".mkv" and not case.fifo:
        n_in = _audio_streams(src)
        if n_in is not None:
            assert _audio_streams(out) == n_in


def _log(case: Case, rc: int, err: str) -> None:
    """With ``FILMRT_FUZZ_LOG=FILE``: one line per case (name, exit code, filmrt's last line)."""
    log = os.environ.get("FILMRT_FUZZ_LOG")
    if log:
        last = [ln for ln in err.splitlines() if ln.startswith("filmrt:")][-1:] or [""]
        with open(log, "a") as f:
            f.write(f"{case.name}\t{rc}\t{last[0]}\n")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_convert_survives(case: Case, tmp_path):
    ind, outd = tmp_path / "in", tmp_path / "out"
    ind.mkdir()
    outd.mkdir()
    src = case.make(ind)
    feeder = None
    if case.fifo:
        data = src.read_bytes()
        src = ind / "pipe.mkv"
        os.mkfifo(src)
        feeder = _feed_fifo(src, data)
    out = outd / case.out
    cmd = [sys.executable, "-m", "filmrt", "convert", str(src), str(out), *case.args, *COMMON]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case.name}: no answer in {TIMEOUT:.0f} s (hang)")
    finally:
        if feeder is not None:
            feeder.join(5)
    err = r.stderr
    _log(case, r.returncode, err)
    assert r.returncode in (0, 2, 3), f"{case.name}: exit {r.returncode}\n{err}"
    assert "Traceback" not in err, err
    if r.returncode == 2:
        assert [ln for ln in err.splitlines() if ln.startswith("filmrt: error: ")], err
        assert os.listdir(outd) == [], f"left after a failure: {os.listdir(outd)}"
        return
    assert sorted(os.listdir(outd)) == [out.name], f"temp files left: {os.listdir(outd)}"
    check_output(case, src, out)

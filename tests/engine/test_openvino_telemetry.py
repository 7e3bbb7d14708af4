"""``import openvino`` through the backend sends no usage telemetry (and so cannot hang at exit).

OpenVINO's model converter, loaded by ``import openvino``, sends a usage event to Google Analytics
from a forked process unless a consent file says no or ``CI=true``; the program waits for that
process at exit, and where DNS does not answer a finished conversion hung (seen: 15 minutes).
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("openvino")
pytest.importorskip("openvino_telemetry")

PROBE = """
import json, sys
from openvino_telemetry.utils import sender
sent = []
sender.TelemetrySender.send = lambda self, backend, message: sent.append(str(message)[:80])
if sys.argv[1] == "backend":
    from filmrt.engine.openvino_backend import import_openvino
    import_openvino()
else:
    import openvino  # noqa: F401
from openvino_telemetry import Telemetry
print(json.dumps({"consent": bool(Telemetry().consent), "sent": sent}))
"""


def _probe(how: str, home) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env["HOME"] = str(home)  # no consent file: what a new user's machine has
    r = subprocess.run([sys.executable, "-c", PROBE, how], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "TID" not in r.stderr and "elemetry" not in r.stderr, r.stderr  # and nothing printed about it
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_plain_import_openvino_would_send_an_event(tmp_path):
    """The premise: without filmrt's guard, a new user's ``import openvino`` sends."""
    got = _probe("plain", tmp_path)
    assert got["consent"] and got["sent"], got


def test_the_backend_imports_openvino_without_telemetry(tmp_path):
    got = _probe("backend", tmp_path)
    assert not got["consent"] and got["sent"] == [], got

"""`filmrt batch --ray`: the same library converted as Ray tasks on a local Ray instance.

The driver keeps the manifest; Ray runs the conversions (CPU tasks here). The results must match
a local run of the same library: same files done and failed, same frame counts and durations,
the same pictures.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from support.batch import BROKEN, build_library, convert_options, count_video_frames

from filmrt.pipeline.batch import run_batch
from filmrt.pipeline.batch.manifest import MANIFEST_NAME, Manifest


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'filmrt[ray]')")
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=80 * 1024 * 1024,
            log_to_driver=False,
            logging_level="ERROR",
        )
    except Exception as e:  # noqa: BLE001 - any start-up problem of Ray on this machine
        pytest.skip(f"Ray cannot start on this machine: {type(e).__name__}: {e}")
    yield ray
    ray.shutdown()


def _frames(path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


@pytest.mark.slow
def test_ray_converts_like_local_workers(shared, tmp_path, ray_local):
    src = tmp_path / "lib"
    good = build_library(shared / "data" / "clips", src)
    shutil.rmtree(src / "a")  # keep it short: 4 good files + 2 broken ones
    good = {k: v for k, v in good.items() if not k.startswith("a/")}
    opts = convert_options(fps="x2", model="blend", preset="ultrafast")

    local = run_batch(src, tmp_path / "local", opts, workers=0, retries=0, quiet=True)
    remote = run_batch(src, tmp_path / "ray", opts, ray=True, retries=0, quiet=True, json_report=tmp_path / "r.json")

    assert remote.runner.startswith("Ray cluster")
    assert {f.rel: f.status for f in remote.files} == {f.rel: f.status for f in local.files}
    assert remote.counts() == {"done": len(good), "failed": len(BROKEN)}
    lf = {f.rel: f for f in local.files}
    for f in remote.files:
        if f.status != "done":
            assert f.error and f.error.replace(str(tmp_path / "ray"), "") == lf[f.rel].error.replace(
                str(tmp_path / "local"), ""
            )
            continue
        # converted by a Ray worker process, not by the driver
        assert f.worker and f.worker != lf[f.rel].worker
        a, b = count_video_frames(f.dst), count_video_frames(lf[f.rel].dst)
        assert a["frames"] == b["frames"] == f.frames_out
        assert abs(a["frames"] - 2 * good[f.rel]) <= 1
        assert abs(a["duration"] - b["duration"]) < 1e-6
        fa, fb = _frames(f.dst), _frames(lf[f.rel].dst)
        assert fa.shape == fb.shape
        assert np.abs(fa.astype(np.int16) - fb.astype(np.int16)).mean() < 1.0

    # the driver's manifest recorded every result; a second run has nothing to do
    with Manifest(tmp_path / "ray" / MANIFEST_NAME) as m:
        assert m.done_counts() == {rel: 1 for rel in good}
    again = run_batch(src, tmp_path / "ray", opts, ray=True, retries=0, quiet=True)
    assert again.counts() == {"skipped": len(good), "failed": len(BROKEN)}

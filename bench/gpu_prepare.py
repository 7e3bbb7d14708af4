"""What travels with the GPU profile to a lent device: ``filmrt bench --profile gpu --prepare``.

The device tool copies the working tree (tracked and untracked-not-ignored files) plus the
git-ignored paths named in ``carry``, 64 MiB in all, onto a machine with no network whose python
has torch but neither filmrt nor PyAV. :func:`prepare` (here, before the call) fills
``.device-carry/``: the golden fixtures the gpu-marked tests read (``../shared`` does not travel),
PyAV's wheel and a slim wheel of PyNvVideoCodec (its 26 MiB wheel also holds FFmpeg's sources,
samples and notebooks: what runs is ~4 MiB zipped), dropped if the total would not fit. On the
device one ``pip install --no-deps`` installs the checkout (editable) and the carried wheels
(:data:`filmrt.bench.gpu.DEVICE_RUN`).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from filmrt.bench.gpu import CARRY, DEVICE_RUN, REPO

#: fixtures from ../shared the gpu-marked tests read
CARRIED_FIXTURES = ("fixtures/warp", "fixtures/film/film_net_small_config.json")
CARRY_LIMIT_MIB = 64.0
#: pip download options for the device's python (3.12, x86-64, manylinux)
PIP_TARGET = ["--no-deps", "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
              *[a for n in (17, 27, 28, 31, 34, 35) for a in ("--platform", f"manylinux_2_{n}_x86_64")],
              "--platform", "manylinux2014_x86_64"]
#: what PyNvVideoCodec needs at run time, and its wheel metadata
NVC_KEEP = re.compile(r"^(PyNvVideoCodec/(__init__\.py|decoders/|transcoder/|VersionCheck\.|PyNvVideoCodec_1\d\d\.|"
                      r"lib\w+\.so\.\d+$)|pynvvideocodec\.[^/]*/|pynvvideocodec-[^/]*\.dist-info/(?!RECORD$))")


def travelling_mib(repo: Path, carry: Path) -> float:
    """MiB that travel to the device: tracked + untracked-not-ignored files, and the carry folder."""
    r = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "-co", "--exclude-standard"],
                       capture_output=True, text=True)
    files = [repo / f for f in r.stdout.split("\0") if f] if r.returncode == 0 else []
    total = sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink())
    return (total + sum(f.stat().st_size for f in carry.rglob("*") if f.is_file())) / 2**20


def slim_nvc(wheel: Path, dest: Path) -> Path:
    """The run-time part of the PyNvVideoCodec wheel, as a wheel (its RECORD rewritten) pip installs."""
    record, dist = [], None
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in src.infolist():
            if info.filename.endswith("dist-info/RECORD"):
                dist = info.filename
            if NVC_KEEP.match(info.filename) and not info.is_dir():
                data = src.read(info.filename)
                kept = zipfile.ZipInfo(info.filename, info.date_time)
                kept.external_attr, kept.compress_type = info.external_attr, zipfile.ZIP_DEFLATED  # same mode
                out.writestr(kept, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                record.append(f"{info.filename},sha256={digest},{len(data)}")
        if dist:
            out.writestr(dist, "\n".join([*record, f"{dist},,"]) + "\n")
    return dest


def prepare(carry: Path = CARRY, wheels: bool = True, shared: Path | None = None) -> int:
    """Fill ``carry`` for the device call: fixtures, PyAV's wheel, a slim PyNvVideoCodec wheel."""
    carry.mkdir(parents=True, exist_ok=True)
    src = shared or REPO.parent / "shared"
    if not (src / "fixtures").is_dir():
        print(f"prepare: {src}/fixtures not found (set FILMRT_SHARED): the warp fixture will not travel")
    for rel in CARRIED_FIXTURES if (src / "fixtures").is_dir() else ():
        a, b = src / rel, carry / "shared" / rel
        b.parent.mkdir(parents=True, exist_ok=True)
        if a.is_dir():
            shutil.copytree(a, b, dirs_exist_ok=True)
        elif a.exists():
            shutil.copy2(a, b)
    whl = carry / "wheels"
    whl.mkdir(exist_ok=True)
    if wheels:
        pip = [sys.executable, "-m", "pip", "download", "-q", *PIP_TARGET]
        subprocess.run([*pip, "-d", str(whl), f"av=={importlib.metadata.version('av')}"], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([*pip, "-d", tmp, "pynvvideocodec"])
            got = sorted(Path(tmp).glob("pynvvideocodec-*.whl"))
            if r.returncode == 0 and got:
                slim_nvc(got[-1], whl / got[-1].name)
            else:
                print("prepare: PyNvVideoCodec could not be downloaded: the nvdec section will say so")
    mib = travelling_mib(REPO, carry)
    for nvc in whl.glob("pynvvideocodec-*.whl"):
        if mib > CARRY_LIMIT_MIB - 1:
            nvc.unlink()
            print("prepare: dropped PyNvVideoCodec: the working tree and PyAV fill the 64 MiB a call carries")
            mib = travelling_mib(REPO, carry)
    print(f"prepare: {mib:.1f} MiB will travel (limit {CARRY_LIMIT_MIB:.0f} MiB); contents of {carry}:")
    for f in sorted(carry.rglob("*")):
        if f.is_file():
            print(f"  {f.relative_to(carry)}  {f.stat().st_size / 2**20:.1f} MiB")
    print(f"device call: {DEVICE_RUN}")
    return 0 if mib <= CARRY_LIMIT_MIB else 1

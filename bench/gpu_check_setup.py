"""How bench/gpu_check.py gets onto the lent GPU machine and runs there (standard library only).

The device tool copies the working tree (tracked and untracked-not-ignored files) plus the
git-ignored paths named in ``carry``, 64 MiB in all, onto a machine with no network whose python
has torch but neither filmrt nor PyAV. So:

- :func:`prepare` (here, before the call) fills ``.device-carry/``: the golden fixtures the
  gpu-marked tests read (``../shared`` does not travel), PyAV's wheel (34 MiB) and the run-time
  part of PyNvVideoCodec's wheel (its 26 MiB wheel also holds FFmpeg's sources, samples and
  notebooks: what runs is ~4 MiB zipped), dropping PyNvVideoCodec if the total would not fit;
- :func:`activate_carried` (there) unpacks a carried wheel or zip into /tmp only when its package
  is missing, for the children's PYTHONPATH (a wheel's root is what site-packages would hold);
- :func:`installed_filmrt` / :func:`build_overlay`: the editable install maps the stage folders
  (``engine/`` -> ``filmrt.engine``, from pyproject's package-dir); without it (no network for
  build requirements, an old setuptools) a folder of symlinks gives the children the same layout.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CARRY = REPO / ".device-carry"
SITE_ROOT = Path(tempfile.gettempdir()) / "filmrt-gpu-check-site"
#: the device command, as the device tool's ``run`` takes it
DEVICE_RUN = ('run(command="python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1; '
              'PYTHONUNBUFFERED=1 python3 bench/gpu_check.py --out $OUT", carry=[".device-carry"], timeout_s=480)')


def one_line(e: BaseException, n: int = 400) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:n]}"


# ------------------------------------------------------------------------------------ environment
def archive_top_level(archive: Path) -> list[str]:
    """Importable top-level packages in a wheel or zip (folders holding an __init__.py)."""
    with zipfile.ZipFile(archive) as z:
        return sorted({n.split("/")[0] for n in z.namelist() if n.count("/") == 1 and n.endswith("/__init__.py")})


def activate_carried(carry: Path, site_root: Path = SITE_ROOT) -> tuple[list[str], dict]:
    """Unpack carried wheels/zips whose packages are missing here; returns (paths for sys.path,
    what was done per archive). A wheel is a zip whose root is what site-packages would hold."""
    paths, info = [], {}
    archives = sorted((carry / "wheels").glob("*.whl")) + sorted(carry.glob("*.zip")) if carry.is_dir() else []
    for archive in archives:
        try:
            tops = archive_top_level(archive)
            if tops and all(importlib.util.find_spec(t) is not None for t in tops):
                info[archive.name] = "not used: already installed here"
                continue
            dest = site_root / archive.stem
            if not (dest / ".unpacked").exists():
                with zipfile.ZipFile(archive) as z:
                    z.extractall(dest)
                (dest / ".unpacked").write_text(archive.name)
            paths.append(str(dest))
            info[archive.name] = f"unpacked to {dest} ({', '.join(tops)})"
        except (OSError, zipfile.BadZipFile) as e:
            info[archive.name] = f"unusable: {one_line(e)}"
    return paths, info


def package_dirs(repo: Path = REPO) -> dict[str, str]:
    """pyproject's [tool.setuptools.package-dir]: package -> folder (the stage mapping)."""
    text = (repo / "pyproject.toml").read_text()
    m = re.search(r"^\[tool\.setuptools\.package-dir\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    pairs = re.findall(r'^\s*"([\w.]+)"\s*=\s*"([^"]+)"', m.group(1), re.M) if m else []
    return dict(pairs) or {"filmrt": "filmrt"}


def installed_filmrt(repo: Path = REPO) -> str | None:
    """Why the installed filmrt is this checkout (an editable install of it), or None."""
    try:
        dist = importlib.metadata.distribution("filmrt")
    except importlib.metadata.PackageNotFoundError:
        return None
    url = json.loads(dist.read_text("direct_url.json") or "{}")
    editable = url.get("dir_info", {}).get("editable")
    where = url.get("url", "").removeprefix("file://")
    if editable and where and Path(where).resolve() == repo.resolve():
        return f"editable install of {where}"
    return None


def build_overlay(dest: Path, repo: Path = REPO) -> Path:
    """A folder ``dest/filmrt`` of symlinks giving the installed layout (filmrt.engine -> engine/
    ...), for when the editable install is not there. Returns ``dest`` (for PYTHONPATH)."""
    mapping = package_dirs(repo)
    root = dest / "filmrt"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for entry in (repo / mapping.get("filmrt", "filmrt")).iterdir():
        if entry.name != "__pycache__":
            (root / entry.name).symlink_to(entry)
    for pkg, folder in mapping.items():
        parts = pkg.split(".")
        if len(parts) == 2 and parts[0] == "filmrt" and not (root / parts[1]).exists():
            (root / parts[1]).symlink_to(repo / folder)
    return dest


def child_env(work: Path, extra_paths: list[str], shared: str | None) -> dict:
    env = dict(os.environ)
    old = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*extra_paths, *old])
    env["PYTHONUNBUFFERED"] = "1"
    env["TORCHINDUCTOR_CACHE_DIR"] = str(work / "inductor")
    env["FILMRT_WEIGHTS_DIR"] = str(work / "user-weights")  # never a developer's own FILM weights
    if shared:
        env["FILMRT_SHARED"] = shared
    return env


def shared_dir(carry: Path = CARRY) -> Path | None:
    """Golden fixtures: $FILMRT_SHARED, else the carried copy, else ../shared beside the checkout."""
    for cand in (os.environ.get("FILMRT_SHARED"), carry / "shared", REPO.parent / "shared"):
        if cand and (Path(cand) / "fixtures").is_dir():
            return Path(cand).resolve()
    return None


def git_info() -> dict:
    def git(*a):
        r = subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    if not shutil.which("git"):
        return {}
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


# ------------------------------------------------------------------------------------ prepare
#: fixtures from ../shared the gpu-marked tests read (carried: ../shared does not travel)
CARRIED_FIXTURES = ("fixtures/warp", "fixtures/film/film_net_small_config.json")
CARRY_LIMIT_MIB = 64.0
#: pip download options for the device's python (3.12, x86-64, manylinux)
PIP_TARGET = ["--no-deps", "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
              *[a for n in (17, 27, 28, 31, 34, 35) for a in ("--platform", f"manylinux_2_{n}_x86_64")],
              "--platform", "manylinux2014_x86_64"]
#: what PyNvVideoCodec needs at run time (its wheel also holds FFmpeg's sources, samples, docs)
NVC_KEEP = re.compile(r"^(PyNvVideoCodec/(__init__\.py|decoders/|transcoder/|VersionCheck\.|PyNvVideoCodec_1\d\d\.|"
                      r"lib\w+\.so\.\d+$)|pynvvideocodec\.[^/]*/)")


def travelling_mib(repo: Path, carry: Path) -> float:
    """MiB that travel to the device: tracked + untracked-not-ignored files, and the carry folder."""
    r = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "-co", "--exclude-standard"],
                       capture_output=True, text=True)
    files = [repo / f for f in r.stdout.split("\0") if f] if r.returncode == 0 else []
    total = sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink())
    if carry.is_dir():
        total += sum(f.stat().st_size for f in carry.rglob("*") if f.is_file())
    return total / 2**20


def slim_nvc(wheel: Path, dest: Path) -> Path:
    """The run-time part of the PyNvVideoCodec wheel as a zip (a quarter of its size)."""
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in src.infolist():
            if NVC_KEEP.match(info.filename) and not info.is_dir():
                kept = zipfile.ZipInfo(info.filename, info.date_time)
                kept.external_attr, kept.compress_type = info.external_attr, zipfile.ZIP_DEFLATED  # same mode
                out.writestr(kept, src.read(info.filename))
    return dest


def prepare(carry: Path, wheels: bool) -> int:
    """Fill ``carry`` for the device call: fixtures, PyAV's wheel, a slim PyNvVideoCodec."""
    carry.mkdir(parents=True, exist_ok=True)
    src = shared_dir(carry=Path("/nonexistent"))
    if src is None:
        print("prepare: ../shared not found (set FILMRT_SHARED): the warp fixture will not travel")
    else:
        for rel in CARRIED_FIXTURES:
            a, b = src / rel, carry / "shared" / rel
            b.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree(a, b, dirs_exist_ok=True) if a.is_dir() else shutil.copy2(a, b)) if a.exists() else None
        print(f"prepare: fixtures from {src} -> {carry / 'shared'}")
    if wheels:
        whl = carry / "wheels"
        whl.mkdir(exist_ok=True)
        try:
            av_spec = f"av=={importlib.metadata.version('av')}"
        except importlib.metadata.PackageNotFoundError:
            av_spec = "av"
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", *PIP_TARGET, "-d", str(whl), av_spec], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", *PIP_TARGET, "-d", tmp, "pynvvideocodec"])
            got = sorted(Path(tmp).glob("pynvvideocodec-*.whl"))
            if r.returncode == 0 and got:
                slim_nvc(got[-1], carry / f"{got[-1].stem}-runtime.zip")
            else:
                print("prepare: PyNvVideoCodec could not be downloaded: the nvdec section will say so")
    mib = travelling_mib(REPO, carry)
    while mib > CARRY_LIMIT_MIB - 1 and list(carry.glob("pynvvideocodec-*.zip")):
        for z in carry.glob("pynvvideocodec-*.zip"):
            z.unlink()
        print("prepare: dropped PyNvVideoCodec: the working tree and PyAV fill the 64 MiB a call carries")
        mib = travelling_mib(REPO, carry)
    print(f"prepare: {mib:.1f} MiB will travel (limit {CARRY_LIMIT_MIB:.0f} MiB); contents of {carry}:")
    for f in sorted(carry.rglob("*")):
        if f.is_file():
            print(f"  {f.relative_to(carry)}  {f.stat().st_size / 2**20:.1f} MiB")
    print(f"device call: {DEVICE_RUN}")
    return 0 if mib <= CARRY_LIMIT_MIB else 1



#!/usr/bin/env python3
"""Bundle the durable-harden server into the VS Code extension: editors/vscode/bundled/.

    python3 scripts/bundle_server.py [--platform linux-x64]

Builds the project's wheel from a clean copy of the repository (no stale build/ folder leaks
into it) and installs it with its dependencies into `bundled/libs/` with pip's --target, for
one VS Code platform target (`vsce package --target <target>`). Most dependencies are pure
Python or abi3 wheels (the tree-sitter grammars) that work on every CPython >= 3.11 of that
platform; a dependency with a wheel per CPython version (tree-sitter's own core, tag
cp311-cp311) is moved to `bundled/libs-cp3XX/` and fetched for each supported version, and
`bundled/tool/launch.py` puts the right one on sys.path. The wheels come from the package index
pip is configured with (PyPI), as binary wheels only.

Platform targets (VS Code target -> pip --platform), one .vsix per target:
    linux-x64     manylinux2014_x86_64        linux-arm64  manylinux2014_aarch64
    darwin-x64    macosx_10_9_x86_64          darwin-arm64 macosx_11_0_arm64
    win32-x64     win_amd64
CI builds linux-x64 (tests/editors/test_vscode_extension.py); the others are built the same way
on any machine, e.g. `python3 scripts/bundle_server.py --platform darwin-arm64` then
`npx vsce package --target darwin-arm64`.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXT = Path(__file__).resolve().parents[1]
ROOT = EXT.parents[1]
BUNDLED = EXT / "bundled"
PLATFORMS = {
    "linux-x64": "manylinux2014_x86_64",
    "linux-arm64": "manylinux2014_aarch64",
    "darwin-x64": "macosx_10_9_x86_64",
    "darwin-arm64": "macosx_11_0_arm64",
    "win32-x64": "win_amd64",
}
# CPython versions the bundle serves (the project needs >= 3.11)
PYTHONS = ["3.11", "3.12", "3.13", "3.14"]
# what the wheel is built from: the project's own files, nothing else of the checkout
SOURCES = ["pyproject.toml", "README.md", "durable_harden", "analyzers", "codeactions", "server"]


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def build_wheel(out: Path) -> Path:
    """The project's wheel, built from a copy of its sources (symlinks kept, caches left out)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "build")
        for name in SOURCES:
            path = ROOT / name
            if path.is_dir() and not path.is_symlink():
                shutil.copytree(path, src / name, symlinks=True, ignore=ignore)
            else:
                shutil.copy2(path, src / name)
        shutil.copytree(ROOT / "docs", src / "docs", ignore=ignore)
        pip("wheel", "--quiet", "--no-deps", str(src), "-w", str(out))
    wheels = sorted(out.glob("durable_harden-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def per_version(libs: Path) -> list[tuple[str, str]]:
    """(distribution, version) of installed wheels tagged for one CPython version only."""
    found = []
    for info in libs.glob("*.dist-info"):
        wheel = (info / "WHEEL").read_text(encoding="utf-8")
        tags = [
            line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")
        ]
        if tags and all(t.split("-")[1].startswith("cp3") for t in tags):
            meta = (info / "METADATA").read_text(encoding="utf-8")
            fields = dict(line.split(": ", 1) for line in meta.splitlines()[:5] if ": " in line)
            found.append((fields["Name"], fields["Version"]))
    return found


def top_level(libs: Path, dist: str, version: str) -> list[Path]:
    """The files and folders a distribution installed into libs (from its RECORD)."""
    info = next(
        p
        for p in libs.glob("*.dist-info")
        if p.name.lower().startswith(f"{dist.replace('-', '_').lower()}-{version}")
    )
    heads = {info.name}
    for line in (info / "RECORD").read_text(encoding="utf-8").splitlines():
        head = line.split(",", 1)[0].split("/", 1)[0]
        if head and not head.startswith(".."):
            heads.add(head)
    return [libs / h for h in sorted(heads) if (libs / h).exists()]


def digest(platform: str) -> str:
    """What the bundle is made of: the project's files, docs/rules, this script, the target."""
    h = hashlib.sha256(f"{platform} {PYTHONS}".encode())
    files = [ROOT / "pyproject.toml", Path(__file__).resolve()]
    for name in ["analyzers", "codeactions", "server", "durable_harden", "docs/rules"]:
        files += sorted(
            p for p in (ROOT / name).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    for path in files:
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def bundle(platform: str, force: bool = False) -> bool:
    """Fills bundled/ for a platform; False when it was already current (nothing done)."""
    stamp = BUNDLED / "platform.txt"
    wanted = f"{platform} {digest(platform)}\n"
    if not force and stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return False
    plat = PLATFORMS[platform]
    if BUNDLED.exists():
        for old in BUNDLED.glob("libs*"):
            shutil.rmtree(old)
    libs = BUNDLED / "libs"
    binary = ["--only-binary=:all:", "--platform", plat, "--implementation", "cp"]
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp))
        pip(
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            str(libs),
            *binary,
            "--python-version",
            PYTHONS[0],
            str(wheel),
        )
    for dist, version in per_version(libs):
        for path in top_level(libs, dist, version):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        for python in PYTHONS:
            tag = "cp" + python.replace(".", "")
            pip(
                "install",
                "--quiet",
                "--no-compile",
                "--no-deps",
                "--target",
                str(BUNDLED / f"libs-{tag}"),
                *binary,
                "--python-version",
                python,
                f"{dist}=={version}",
            )
    for bin_dir in BUNDLED.glob("libs*/bin"):
        shutil.rmtree(bin_dir)  # console scripts with this machine's interpreter path
    stamp.write_text(wanted, encoding="utf-8")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", choices=sorted(PLATFORMS), default="linux-x64")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args()
    if bundle(args.platform, args.force):
        print(f"bundled the server for {args.platform} into {BUNDLED}")
    else:
        print(f"the bundled server for {args.platform} in {BUNDLED} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

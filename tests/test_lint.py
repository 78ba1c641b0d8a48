"""pyflakes-level checks on the project's own code (undefined names, unused imports)."""
from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import REPO


def test_ruff_finds_no_errors():
    ruff = shutil.which("ruff") or [sys.executable, "-m", "ruff"]
    cmd = ([ruff] if isinstance(ruff, str) else ruff) + [
        "check", "--select", "F,E9", "--output-format", "concise", "qlint", "tests", "benchmarks"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

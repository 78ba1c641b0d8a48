"""Shared helpers: run qlint's CLI in-process and read its JSON."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "fixtures")
# The official SARIF 2.1.0 schema, carried as test data (tests/data/README.md: source, licence).
SARIF_SCHEMA = os.path.join(REPO, "tests", "data", "sarif-schema-2.1.0.json")


class Run:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    @property
    def json(self):
        return json.loads(self.out)


def qlint(*args, cwd: str = REPO, env: dict | None = None) -> Run:
    """Run `python -m qlint ARGS` in a subprocess (the real console entry: exit codes, streams)."""
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("QLINT_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "qlint", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=900)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def findings(run: Run) -> list[tuple]:
    """(rule, path, line, function) of each finding, in report order."""
    return [(f["rule"], f["path"], f["line"], f["function"]) for f in run.json["findings"]]


def trace(finding: dict) -> list[tuple]:
    return [(s["function"], s["line"]) for s in finding["trace"]]


@pytest.fixture
def run_qlint():
    return qlint

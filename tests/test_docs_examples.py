"""The GitHub Actions workflow example and the pre-commit hook definition use qlint's real
options, and fit together."""
from __future__ import annotations

import os
import shlex

import yaml

from conftest import REPO
from qlint.cli import check


def parse_check(command: str) -> dict:
    """The options of a `qlint check ...` command line, parsed by qlint's own CLI."""
    words = shlex.split(command)
    assert words[:2] == ["qlint", "check"]
    return check.make_context("check", words[2:], resilient_parsing=False).params


def load(path: str):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_code_scanning_workflow_uploads_what_qlint_writes():
    workflow = load("docs/examples/qlint-code-scanning.yml")
    job = workflow["jobs"]["qlint"]
    assert job["permissions"]["security-events"] == "write"
    steps = {step.get("name", step.get("uses")): step for step in job["steps"]}
    params = parse_check(steps["Run qlint"]["run"])
    assert params["fmt"] == "sarif" and params["exit_zero"] is True
    upload = steps["Upload to code scanning"]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"]["sarif_file"] == params["output"]
    assert "category" not in upload["with"]        # the log carries its own (docs/sarif.md)
    assert "compile_commands" not in steps["Configure QEMU"]["run"]   # configure writes it
    assert "../configure" in steps["Configure QEMU"]["run"]


def test_pre_commit_hook_definition():
    [hook] = load(".pre-commit-hooks.yaml")
    assert (hook["id"], hook["language"], hook["types_or"], hook["require_serial"]) == \
        ("qlint", "python", ["c", "inc"], True)
    params = parse_check(hook["entry"] + " block/linux-aio.c")
    assert params["force_exclude"] is True and params["degraded"] is False
    params = parse_check(hook["entry"] + " --degraded block/linux-aio.c")
    assert params["degraded"] is True

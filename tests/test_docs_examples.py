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


def test_sharded_workflow_parses_every_share_and_analyses_the_merged_facts():
    workflow = load("docs/examples/qlint-sharded.yml")
    parse, analyse = workflow["jobs"]["parse"], workflow["jobs"]["analyse"]
    assert analyse["needs"] == "parse"
    shards = parse["strategy"]["matrix"]["shard"]
    parse_steps = {step.get("name", step.get("uses")): step for step in parse["steps"]}
    run = parse_steps["Parse a share of the program"]["run"]
    params = parse_check(run.replace("${{ matrix.shard }}", str(shards[-1])))
    assert params["shard"] == f"{len(shards)}/{len(shards)}" and shards == list(range(1, 5))
    upload = parse_steps["actions/upload-artifact@v4"]["with"]
    assert upload["path"].split() == [params["cache_dir"], f"!{params['cache_dir']}/**/*.pch"]
    steps = {step.get("name", step.get("uses")): step for step in analyse["steps"]}
    download = steps["actions/download-artifact@v4"]["with"]
    assert (download["pattern"], download["merge-multiple"]) == ("qlint-facts-*", True)
    assert upload["name"].replace("${{ matrix.shard }}", "*") == download["pattern"]
    final = parse_check(steps["Run qlint"]["run"])
    assert download["path"] == final["cache_dir"] == params["cache_dir"]
    assert final["fmt"] == "sarif" and final["shard"] is None
    assert steps["Upload to code scanning"]["with"]["sarif_file"] == final["output"]
    assert steps["Configure QEMU"] == parse_steps["Configure QEMU"]

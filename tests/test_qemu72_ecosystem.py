"""SARIF and fingerprints on real QEMU 7.2 (Debian bookworm source package, configured)."""
from __future__ import annotations

import json

import jsonschema
import pytest

from conftest import SARIF_SCHEMA, qlint
from qemu_trees import BLOCK_LAYER, patch_file, qemu_tree, remove_copy, scratch_copy

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def tree():
    return qemu_tree("7.2")


def test_block_sarif_is_valid_and_holds_what_the_json_report_holds(tree, tmp_path):
    out = tmp_path / "block.sarif"
    run = qlint("check", "block/", "--format", "sarif", "-o", str(out), cwd=tree)
    assert run.code == 1
    log = json.loads(out.read_text())
    with open(SARIF_SCHEMA, encoding="utf-8") as f:
        errors = list(jsonschema.Draft4Validator(json.load(f)).iter_errors(log))
    assert [e.message for e in errors] == []
    [sarif_run] = log["runs"]
    assert sarif_run["automationDetails"] == {"id": "qlint/block/"}
    assert "originalUriBaseIds" not in sarif_run
    findings = qlint("check", "block/", "--format", "json", cwd=tree).json["findings"]
    results = sarif_run["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"],
             r["partialFingerprints"]["qlintFingerprint/v1"]) for r in results] == \
        [(f["rule"], f["path"], f["line"], f["fingerprint"]) for f in findings]
    assert ("QL101", "block/linux-aio.c", 329) in [(f["rule"], f["path"], f["line"]) for f in findings]
    flows = {len(r["codeFlows"][0]["threadFlows"][0]["locations"]) for r in results}
    assert flows == {len(f["trace"]) for f in findings}
    # The paths of the whole program (related locations, contracts) are the tree's, relative.
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"]
            for r in results for loc in r["locations"] + r.get("relatedLocations", [])]
    assert all(u.startswith("block/") for r in results
               for u in [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]])
    assert "migration/savevm.c" in uris and not [u for u in uris if u.startswith(("/", ".."))]


def test_fingerprints_survive_lines_inserted_at_the_top_of_a_real_file(tree, tmp_path):
    files = ("block/qapi-sysemu.c", "block/block-backend.c")
    before = qlint("check", *files, "--format", "json", cwd=tree).json["findings"]
    assert ("QL101", "block/block-backend.c", 906, "blk_insert_bs") in \
        [(f["rule"], f["path"], f["line"], f["function"]) for f in before]
    copy = scratch_copy(tree, str(tmp_path), context=BLOCK_LAYER)
    try:
        patch_file(f"{copy}/block/block-backend.c", "/*\n * QEMU Block backends\n",
                   "/* five lines\n * inserted\n * above\n * everything\n */\n"
                   "/*\n * QEMU Block backends\n")
        after = qlint("check", *files, "--format", "json", cwd=copy).json["findings"]
    finally:
        remove_copy(copy)
    shift = {"block/block-backend.c": 5}
    assert [(f["fingerprint"], f["line"] + shift.get(f["path"], 0)) for f in before] == \
        [(f["fingerprint"], f["line"]) for f in after]

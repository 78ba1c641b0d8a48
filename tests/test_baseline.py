"""Baselines and fingerprints: recorded findings stay hidden when code moves; new ones show."""
from __future__ import annotations

import json

import pytest

from conftest import qlint
from fixture_trees import bh_source, make_tree, write

CALL = "    qemu_laio_process_completions(s);\n"
SHIFT = "/* Lines inserted above the finding. */\n\nstatic int unrelated(void)\n{\n    return 0;\n}\n\n"


def check(root, *extra):
    return qlint("check", "a.c", "--format", "json", "--jobs", "1", *extra, cwd=root)


def test_fingerprints_survive_lines_inserted_above(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source(CALL + CALL)})
    before = check(root).json["findings"]
    sarif_before = qlint("check", "a.c", "--format", "sarif", cwd=root)
    write(root, "a.c", bh_source(CALL + CALL, before=SHIFT))
    after = check(root).json["findings"]
    sarif_after = qlint("check", "a.c", "--format", "sarif", cwd=root)
    assert [f["line"] for f in before] == [6, 7] and [f["line"] for f in after] == [13, 14]
    assert [f["fingerprint"] for f in before] == [f["fingerprint"] for f in after]
    assert len({f["fingerprint"] for f in after}) == 2
    prints = [[r["partialFingerprints"] for r in json.loads(run.out)["runs"][0]["results"]]
              for run in (sarif_before, sarif_after)]
    assert prints[0] == prints[1] == [{"qlintFingerprint/v1": f["fingerprint"]} for f in before]


def test_write_baseline_then_only_new_findings_are_reported(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source(CALL)})
    run = qlint("check", "a.c", "--write-baseline", "qlint-baseline.json", cwd=root)
    assert (run.code, run.out) == (0, "")
    assert run.err == "qlint: 1 finding(s) recorded in qlint-baseline.json\n"
    data = json.loads((tmp_path / "qlint-baseline.json").read_text())
    fingerprint = check(root).json["findings"][0]["fingerprint"]
    assert data == {"qlint-baseline": 1, "findings": [{
        "fingerprint": fingerprint, "rule": "QL101", "path": "a.c", "function": "bh",
        "message": "qemu_laio_process_completions() requires AioContext, which is not held on "
                   "this path from bh bh()"}]}

    run = check(root, "--baseline", "qlint-baseline.json")
    assert (run.code, run.json["findings"], run.json["stats"]["baselined"]) == (0, [], 1)

    # Moving the code does not resurrect it; a new finding in another function shows.
    other = "static void bh2(void *o)\n{\n    qemu_laio_process_completions(o);\n}\n\n"
    write(root, "a.c", bh_source(CALL, before=SHIFT + other).replace(
        "aio_bh_new(s->ctx, bh, s);", "aio_bh_new(s->ctx, bh, s);\n    aio_bh_new(s->ctx, bh2, s);"))
    run = check(root, "--baseline", "qlint-baseline.json")
    assert run.code == 1
    assert [(f["function"], f["line"]) for f in run.json["findings"]] == [("bh2", 11)]
    assert run.json["stats"]["baselined"] == 1
    text = qlint("check", "a.c", "--baseline", "qlint-baseline.json", cwd=root)
    assert text.out.startswith("a.c:11:5: QL101 [lock-required] ")


def test_baseline_from_the_configuration_relative_to_it(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source(CALL)})
    (tmp_path / "ci").mkdir()
    assert qlint("check", "a.c", "--write-baseline", "ci/base.json", "-q", cwd=root).err == ""
    write(root, "pyproject.toml", '[project]\nname = "x"\n\n[tool.qlint]\nbaseline = "ci/base.json"\n')
    (tmp_path / "sub").mkdir()
    # Fingerprints hold paths relative to the project root (the configuration's directory),
    # not to the working directory: the baseline holds from anywhere in the tree.
    run = qlint("check", "../a.c", "--format", "json", cwd=str(tmp_path / "sub"))
    assert (run.code, run.json["stats"]["baselined"]) == (0, 1)
    assert check(root).code == 0
    assert check(root, "--baseline", "ci/nothing.json").code == 2


@pytest.mark.parametrize("content, message", [
    (None, "cannot read baseline: No such file or directory"),
    ('{"qlint-baseline": 1,\n "findings": [}', "2: not valid JSON: Expecting value"),
    ('{"findings": []}', 'not a qlint baseline (written by --write-baseline: '
                         '{"qlint-baseline": 1, "findings": [...]})'),
    ('{"qlint-baseline": 1, "findings": [{"rule": "QL101"}]}', "findings[0]: missing 'fingerprint'"),
    ('{"qlint-baseline": 1, "findings": [{"fingerprint": 42}]}',
     "findings[0]: 'fingerprint' must be a string"),
    ('{"qlint-baseline": 1, "findings": [], "colour": 1}', "unknown key 'colour'"),
])
def test_bad_baseline_files(tmp_path, content, message):
    root = make_tree(tmp_path, {"a.c": bh_source(CALL)})
    if content is not None:
        write(root, "b.json", content)
    run = qlint("check", "a.c", "--baseline", "b.json", cwd=root)
    assert run.code == 2
    sep = ":" if message[0].isdigit() else ": "
    assert run.err == f"qlint: error: b.json{sep}{message}\n"
    assert run.out == ""


def test_a_baseline_entry_of_an_unknown_rule_matches_nothing(tmp_path):
    """Entries of a rule qlint no longer has are not an error (an old baseline stays usable);
    they hide nothing, and the next --write-baseline drops them."""
    root = make_tree(tmp_path, {"a.c": bh_source(CALL)})
    write(root, "b.json", '{"qlint-baseline": 1, "findings": [{"fingerprint": "0ld", "rule": "QL999"}]}')
    run = check(root, "--baseline", "b.json")
    assert (run.code, run.err, run.json["stats"]["baselined"]) == (1, "", 0)
    assert [(f["rule"], f["line"]) for f in run.json["findings"]] == [("QL101", 6)]

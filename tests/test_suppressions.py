"""Inline suppressions: /* qlint: ignore[QLxxx] reason */ on a finding's line or the line before."""
from __future__ import annotations

import pytest

from conftest import qlint
from fixture_trees import bh_source, make_tree
from qlint import suppressions
from qlint.rules.registry import all_rules

CALL = "    qemu_laio_process_completions(s);\n"


def check(root, *extra, name="a.c"):
    return qlint("check", name, "--format", "json", "--jobs", "1", *extra, cwd=root)


def found(run) -> list[tuple]:
    return [(f["rule"], f["line"], f["message"]) for f in run.json["findings"]]


@pytest.mark.parametrize("body, suppressed", [
    ("    qemu_laio_process_completions(s); /* qlint: ignore[QL101] drained under the BQL */\n",
     True),
    ("    /* qlint: ignore[QL101] drained under the BQL */\n" + CALL, True),
    ("    /*\n     * qlint: ignore[QL101]\n     * drained under the BQL\n     */\n" + CALL, True),
    ("    // qlint: ignore[QL101] drained under the BQL\n" + CALL, True),
    ("    /* qlint:ignore[QL103,QL101] */\n" + CALL, True),
    (CALL, False),
    ("    /* qlint: ignore[QL101] */\n\n" + CALL, False),              # two lines above
    ("    /* qlint: ignore[QL103] */\n" + CALL, False),                # another rule
    ('    const char *t = "/* qlint: ignore[QL101] */"; (void)t;\n' + CALL, False),  # a string
])
def test_suppression_on_the_line_or_the_line_before(tmp_path, body, suppressed):
    root = make_tree(tmp_path, {"a.c": bh_source(body)})
    run = check(root)
    assert run.code == (0 if suppressed else 1)
    assert [r for r, _l, _m in found(run)] == ([] if suppressed else ["QL101"])
    assert run.json["stats"]["suppressed"] == int(suppressed)


def test_a_suppression_on_a_step_of_the_path_does_not_count(tmp_path):
    body = "    /* qlint: ignore[QL101] */\n    helper(s);\n"
    before = "static void helper(State *s)\n{\n" + CALL + "}\n\n"
    root = make_tree(tmp_path, {"a.c": bh_source(body, before)})
    run = check(root)
    assert [(r, line) for r, line, _m in found(run)] == [("QL101", 4)]


def test_suppression_without_a_code_suppresses_nothing_and_is_reported(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source("    /* qlint: ignore the lock is fine */\n" + CALL)})
    run = check(root)
    assert run.code == 1
    assert found(run) == [
        ("QL001", 6, "suppression without a rule code suppresses nothing: name the rule, as in "
                     "/* qlint: ignore[QL101] reason */"),
        ("QL101", 7, "qemu_laio_process_completions() requires AioContext, which is not held on "
                     "this path from bh bh()"),
    ]
    assert run.json["findings"][0]["column"] == 8


def test_unknown_code_is_reported_and_the_known_one_still_applies(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source("    /* qlint: ignore[QL101, QL9] */\n" + CALL)})
    run = check(root)
    assert found(run) == [("QL001", 6, "suppression names unknown rule code 'QL9' "
                                       "(see `qlint rules`)")]


def test_unused_suppressions_are_reported_on_request(tmp_path):
    body = "    /* qlint: ignore[QL101] */\n" + CALL + "    /* qlint: ignore[QL101, QL103] */\n"
    root = make_tree(tmp_path, {"a.c": bh_source(body)})
    assert check(root).code == 0
    run = check(root, "--report-unused-suppressions")
    assert run.code == 1
    assert found(run) == [("QL002", 8, "unused suppression: no QL101, QL103 finding on this "
                                       "line or the next")]
    # Not reported when the rule did not run.
    run = check(root, "--report-unused-suppressions", "--select", "QL002,QL103")
    assert found(run) == [("QL002", 8, "unused suppression: no QL103 finding on this line or "
                                       "the next")]
    # The configuration can ask for it; the command line's --select still rules.
    (tmp_path / ".qlint.toml").write_text("report-unused-suppressions = true\n")
    assert [r for r, _l, _m in found(check(root))] == ["QL002"]
    assert found(check(root, "--select", "QL1")) == []


def test_suppression_findings_in_every_report_format(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source("    /* qlint: ignore */\n")})
    run = qlint("check", "a.c", "--jobs", "1", cwd=root)
    assert run.out == ("a.c:6:8: QL001 [invalid-suppression] warning: suppression without a rule code "
                       "suppresses nothing: name the rule, as in /* qlint: ignore[QL101] reason */\n")


def test_scan_finds_directives_in_comments_only():
    text = ('int a; /* qlint: ignore[QL101] x */\n'
            'char *s = "// qlint: ignore[QL101]";\n'
            "char c = '\"'; // qlint: ignore[QL101,QL103]\n"
            "/* a\n   qlint: ignore[QL1] */\n")
    found_ = [(s.line, s.column, s.last, s.codes, s.unknown)
              for s in suppressions.scan("x.c", text, all_rules())]
    assert found_ == [(1, 11, 2, ("QL101",), ()), (3, 18, 4, ("QL101", "QL103"), ()),
                      (5, 4, 6, (), ("QL1",))]

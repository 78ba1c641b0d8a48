"""QL000 parse-error: a translation unit that could not be analysed, or only in part, is a
finding at its first error in every format (exit 1); a run in which no translation unit could
be analysed is an error (exit 2); known-broken translation units are accepted by per-file-ignores
of QL000. The warnings on stderr are not repeated when QL000 reports the problem."""
from __future__ import annotations

import json

import pytest

from conftest import qlint
from fixture_trees import HEADER, bh_source, make_tree, write

CALL = "    qemu_laio_process_completions(s);\n"
BROKEN = HEADER + "int broken(void)\n{\n    return ;\n}\nint after(void) { return 1 +; }\n"
MISSING = '#include "qemu/not-generated.h"\n' + bh_source(CALL)
IN_PART = ("broken.c:4:5: QL000 [parse-error] non-void function 'broken' should return a value "
           "(2 parse error(s): the translation unit is analysed only in part)\n")
FATAL = ("missing.c:1:10: QL000 [parse-error] 'qemu/not-generated.h' file not found (a fatal "
         "error, after which clang reports nothing: the translation unit is analysed only in part)\n")
MISSING_FINDING = ("missing.c:7:5: QL101 [lock-required] qemu_laio_process_completions() requires "
                   "AioContext, which is not held on this path from bh bh()\n")
A_FINDING = ("a.c:6:5: QL101 [lock-required] qemu_laio_process_completions() requires AioContext, "
             "which is not held on this path from bh bh()\n")


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path, {"a.c": bh_source(CALL), "broken.c": BROKEN, "missing.c": MISSING})


def test_text_reports_each_tu_at_its_first_error_and_exits_1(tree):
    run = qlint("check", ".", "--jobs", "1", cwd=tree)
    assert (run.code, run.err) == (1, "")
    assert run.out == A_FINDING + IN_PART + FATAL + MISSING_FINDING


def test_json_github_and_sarif_report_it_too(tree):
    run = qlint("check", "broken.c", "missing.c", "--format", "json", cwd=tree)
    assert run.code == 1
    assert [(f["rule"], f["name"], f["path"], f["line"], f["column"], f["function"])
            for f in run.json["findings"]] == [
        ("QL000", "parse-error", "broken.c", 4, 5, ""), ("QL000", "parse-error", "missing.c", 1, 10, ""),
        ("QL101", "lock-required", "missing.c", 7, 5, "bh")]
    assert [p["path"] for p in run.json["problems"]] == ["broken.c", "missing.c"]

    run = qlint("check", "missing.c", "broken.c", "--format", "github", "--select", "QL0", cwd=tree)
    assert run.code == 1
    assert run.out.splitlines() == [
        "::error file=broken.c,line=4,col=5,title=QL000 [parse-error]::non-void function 'broken' "
        "should return a value (2 parse error(s): the translation unit is analysed only in part)",
        "::error file=missing.c,line=1,col=10,title=QL000 [parse-error]::'qemu/not-generated.h' "
        "file not found (a fatal error, after which clang reports nothing: the translation unit "
        "is analysed only in part)"]

    run = qlint("check", "missing.c", "broken.c", "--format", "sarif", "--select", "QL0", cwd=tree)
    assert run.code == 1
    [sarif_run] = json.loads(run.out)["runs"]
    rules = [r["id"] for r in sarif_run["tool"]["driver"]["rules"]]
    assert [(r["ruleId"], rules[r["ruleIndex"]], r["level"],
             r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]) for r in sarif_run["results"]] == [
        ("QL000", "QL000", "error", "broken.c", {"startLine": 4, "startColumn": 5}),
        ("QL000", "QL000", "error", "missing.c", {"startLine": 1, "startColumn": 10})]
    notes = sarif_run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == [
        "broken.c: broken.c:4:5: non-void function 'broken' should return a value",
        "missing.c: missing.c:1:10: 'qemu/not-generated.h' file not found"]


def test_an_error_in_a_header_is_reported_there_and_names_the_tu(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source(CALL), "user.c": '#include "bad.h"\nint u;\n',
                                "bad.h": "int bad(void) { return 1 + ; }\n"})
    run = qlint("check", "user.c", "--format", "json", cwd=root)
    [f] = run.json["findings"]
    assert (f["path"], f["line"], f["column"], f["message"]) == (
        "bad.h", 1, 28, "expected expression (1 parse error(s): translation unit user.c is "
                        "analysed only in part)")
    assert f["related"] == [{"path": "user.c", "line": 1, "message": "the translation unit"}]


def test_no_tu_analysed_at_all_is_an_error(tmp_path):
    import os
    root = make_tree(tmp_path, {"one.c": bh_source(CALL), "two.c": bh_source(CALL)})
    os.unlink(os.path.join(root, "one.c"))
    os.symlink("nowhere.c", os.path.join(root, "two.c.tmp"))
    os.replace(os.path.join(root, "two.c.tmp"), os.path.join(root, "two.c"))
    run = qlint("check", ".", cwd=root)
    assert (run.code, run.out) == (2, "")
    assert run.err == ("qlint: error: no translation unit could be analysed: all 2 failed, the "
                       "first: one.c: no such file (in the compile database, but not generated "
                       "yet or deleted)\n")


def test_a_tu_that_failed_is_reported_at_its_first_line(tree):
    import os
    os.unlink(os.path.join(tree, "missing.c"))
    run = qlint("check", ".", "--jobs", "1", cwd=tree)
    assert run.code == 1
    assert run.out.splitlines()[-1] == (
        "missing.c:1:1: QL000 [parse-error] the translation unit is not analysed: no such file "
        "(in the compile database, but not generated yet or deleted)")


@pytest.mark.parametrize("config, args", [
    ('[per-file-ignores]\n"broken.c" = ["QL000"]\n"missing.c" = ["QL0"]\n', []),
    ('[tool.qlint.per-file-ignores]\n"*.c" = ["QL000"]\n', []),
    ("", ["--per-file-ignores", "broken.c:QL000,missing.c:QL000"]),
    ('[per-file-ignores]\n"broken.c" = ["QL000"]\n', ["--extend-per-file-ignores", "missing.c:QL000"]),
])
def test_known_broken_tus_are_accepted_by_per_file_ignores(tree, config, args):
    name = "pyproject.toml" if "tool.qlint" in config else ".qlint.toml"
    if config:
        write(tree, name, config)
    run = qlint("check", ".", "--jobs", "1", *args, cwd=tree)
    assert (run.code, run.out, run.err) == (1, A_FINDING + MISSING_FINDING, "")


def test_per_file_ignores_of_a_tu_cover_its_error_in_a_header(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source(CALL), "user.c": '#include "bad.h"\nint u;\n',
                                "bad.h": "int bad(void) { return 1 + ; }\n"})
    write(root, ".qlint.toml", '[per-file-ignores]\n"user.c" = ["QL000"]\n')
    run = qlint("check", ".", cwd=root)
    assert (run.code, run.out, run.err) == (1, A_FINDING, "")


def test_without_ql000_the_problems_are_warnings_as_before(tree):
    run = qlint("check", ".", "--jobs", "1", "--ignore", "QL000", cwd=tree)
    assert (run.code, run.out) == (1, A_FINDING + MISSING_FINDING)
    assert run.err == (
        "qlint: warning: broken.c: 2 parse error(s), first: broken.c:4:5: non-void function "
        "'broken' should return a value\n"
        "qlint: warning: missing.c: 1 parse error(s), first: missing.c:1:10: "
        "'qemu/not-generated.h' file not found\n"
        "qlint: warning: 2 of 3 translation unit(s) had parse errors or failed (QL000, not "
        "selected, would report them)\n")


def test_a_bad_per_file_ignores_is_a_one_line_error(tree):
    write(tree, ".qlint.toml", '[per-file-ignores]\n"broken.c" = ["QL9"]\n')
    run = qlint("check", ".", cwd=tree)
    assert (run.code, run.out) == (2, "")
    assert run.err.endswith("/.qlint.toml:1: 'per-file-ignores': 'broken.c': unknown rule code "
                            "'QL9' (see `qlint rules`)\n")
    run = qlint("check", ".", "--per-file-ignores", "broken.c", cwd=tree)
    assert (run.code, run.err) == (2, "qlint: error: --per-file-ignores: 'broken.c' is not GLOB:CODE\n")
    run = qlint("check", ".", "--per-file-ignores", "broken.c:QL9", cwd=tree)
    assert (run.code, run.err) == (2, "qlint: error: --per-file-ignores: unknown rule code 'QL9' "
                                      "(see `qlint rules`)\n")

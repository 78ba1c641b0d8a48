"""Two scopes: the whole program is the context, the paths named are what is reported
(qlint/scope.py). A finding is reported in the file of its location, however far away the
entry point that reaches it is registered."""
from __future__ import annotations

import os

import pytest

from conftest import FIXTURES, findings, qlint, trace
from fixture_trees import bh_source, make_tree, write

HERE = os.path.join(FIXTURES, "core", "handler-elsewhere")
CALL = "    qemu_laio_process_completions(s);\n"
FLUSH = ("QL101", "completion.c", 10, "completion_flush")


def check(*args, cwd: str = HERE):
    return qlint("check", *args, "--format", "json", "--jobs", "1", cwd=cwd)


def test_a_bug_reached_from_a_handler_of_another_file_is_reported_in_its_own_file():
    run = check("completion.c")
    assert (run.code, findings(run)) == (1, [FLUSH])
    assert trace(run.json["findings"][0]) == [("handler_read", 9), ("handler_read", 13),
                                              ("completion_flush", 10)]
    assert run.json["findings"][0]["trace"][0]["path"] == "handler.c"
    assert run.json["stats"]["tus"] == 2          # the program, not only the file named


def test_the_file_of_the_path_reports_it_only_when_asked_to():
    run = check("handler.c")
    assert (run.code, findings(run)) == (0, [])
    run = check("handler.c", "--report-paths-through")
    assert (run.code, findings(run)) == (1, [FLUSH])


@pytest.mark.parametrize("paths", [("completion.c", "handler.c"), ("handler.c", "completion.c"),
                                   (".",), ()])
def test_both_files_or_the_whole_tree_report_it_once(paths):
    run = check(*paths)
    assert (run.code, findings(run)) == (1, [FLUSH])
    assert findings(check(*paths, "--report-paths-through")) == [FLUSH]


def test_the_same_finding_has_the_same_fingerprint_whatever_is_checked():
    prints = {check(*paths).json["findings"][0]["fingerprint"]
              for paths in (("completion.c",), (".",), ("handler.c", "--report-paths-through"))}
    assert len(prints) == 1


def test_a_cold_run_says_how_many_translation_units_it_parses_for_the_program(tmp_path):
    cache = str(tmp_path / "cache")
    run = check("completion.c", "--cache-dir", cache)
    assert run.err == ("qlint: parsing 2 translation unit(s), 1 of them for the program around "
                       "the checked paths (once: the cache keeps their facts)\n")
    run = check("handler.c", "--cache-dir", cache)
    assert (run.code, run.err) == (0, "")
    run = check("completion.c", "--cache-dir", cache, "--no-cache")
    assert run.err == ("qlint: parsing 2 translation unit(s), 1 of them for the program around "
                       "the checked paths\n")


@pytest.fixture
def tree(tmp_path):
    """a.c and skip/b.c with a QL101 finding each; util/c.c registers a handler that calls an
    exported helper of a.c without the lock."""
    helper = "void helper(State *s)\n{\n    qemu_laio_process_completions(s);\n}\n"
    caller = ('#include "qemu/fixture-state.h"\nvoid helper(State *s);\n'
              "static void cb(void *o)\n{\n    helper(o);\n}\n\n"
              "void setup(State *s)\n{\n    aio_bh_new(s->ctx, cb, s);\n}\n")
    return make_tree(tmp_path, {"a.c": bh_source(CALL, before=helper), "skip/b.c": bh_source(CALL),
                                "util/c.c": caller})


def located(run) -> list[tuple]:
    return [(f["path"], f["line"], f["function"]) for f in run.json["findings"]]


def test_exclude_narrows_what_is_reported_and_context_exclude_what_is_analysed(tree):
    assert located(check(".", cwd=tree)) == [("a.c", 4, "helper"), ("a.c", 10, "bh"),
                                             ("skip/b.c", 6, "bh")]
    write(tree, ".qlint.toml", 'exclude = ["skip/*", "util"]\n')
    run = check(".", cwd=tree)
    assert (located(run), run.json["stats"]["tus"]) == ([("a.c", 4, "helper"), ("a.c", 10, "bh")], 3)
    # util/c.c is no longer part of the program: nothing calls helper() without the lock.
    write(tree, ".qlint.toml", 'exclude = ["skip/*"]\ncontext-exclude = ["util/*"]\n')
    run = check(".", cwd=tree)
    assert (located(run), run.json["stats"]["tus"]) == ([("a.c", 10, "bh")], 2)
    write(tree, ".qlint.toml", 'context-include = ["a.c", "skip"]\n')
    run = check("a.c", cwd=tree)
    assert (located(run), run.json["stats"]["tus"]) == ([("a.c", 10, "bh")], 2)
    # What the command line names is analysed, whatever the context globs leave out.
    write(tree, ".qlint.toml", 'context-exclude = ["*.c"]\n')
    run = check("util/c.c", "--report-paths-through", cwd=tree)
    assert (located(run), run.json["stats"]["tus"]) == ([], 1)


def test_degraded_mode_takes_the_projects_c_files_as_the_program(tree):
    os.unlink(os.path.join(tree, "build", "compile_commands.json"))
    run = check("a.c", cwd=tree)
    assert located(run) == [("a.c", 10, "bh")]      # no project: the program is a.c alone
    assert run.err.endswith("the program is the checked files alone (no configuration file or "
                            "git work tree marks a project)\n")
    write(tree, ".qlint.toml", 'context-exclude = ["skip"]\n')
    run = check("a.c", cwd=tree)
    assert located(run) == [("a.c", 4, "helper"), ("a.c", 10, "bh")]
    assert run.json["stats"]["tus"] == 2
    assert ("qlint: warning: no compile_commands.json found: degraded mode, include paths "
            "guessed (-p BUILD_DIR points at a configured build); the program is the 2 C file(s) "
            "under . (`context-include` and `context-exclude` in the configuration choose them)\n") in run.err


def test_a_git_work_tree_marks_the_project_in_degraded_mode(tree):
    os.unlink(os.path.join(tree, "build", "compile_commands.json"))
    os.mkdir(os.path.join(tree, ".git"))
    run = check(".", cwd=os.path.join(tree, "util"))
    assert (run.code, located(run), run.json["stats"]["tus"]) == (0, [], 3)
    assert "the program is the 3 C file(s) under .. (" in run.err
    run = check("../a.c", cwd=os.path.join(tree, "util"))
    assert located(run) == [("../a.c", 4, "helper"), ("../a.c", 10, "bh")]


def test_problems_of_translation_units_outside_the_checked_paths_are_one_warning(tree):
    write(tree, "util/broken.c", '#include "qemu/fixture-state.h"\nint g(void) { return }\n')
    entries = [{"directory": tree, "file": name, "arguments": ["cc", "-Iinclude", "-c", name]}
               for name in ("a.c", "skip/b.c", "util/c.c", "util/broken.c")]
    write(tree, "build/compile_commands.json", __import__("json").dumps(entries))
    run = check("a.c", cwd=tree)
    assert [f["rule"] for f in run.json["findings"]] == ["QL101", "QL101"]     # no QL000
    assert run.json["problems"] == []
    assert ("qlint: warning: 1 translation unit(s) of the program outside the checked paths had "
            "parse errors or failed: the analysis around them is partial (`qlint check .` "
            "reports them)\n") in run.err
    run = check(".", cwd=tree)
    assert [f["rule"] for f in run.json["findings"]] == ["QL101", "QL101", "QL101", "QL000"]
    assert "outside the checked paths" not in run.err


def test_the_pre_commit_hook_judges_the_files_it_passes_against_the_whole_program(tmp_path):
    # The hook's own command line (.pre-commit-hooks.yaml) with the one changed file pre-commit
    # passes: the handler that reaches the bug is in a file the commit did not touch.
    import shlex

    import yaml
    with open(os.path.join(FIXTURES, "..", ".pre-commit-hooks.yaml"), encoding="utf-8") as f:
        [hook] = yaml.safe_load(f)
    words = shlex.split(hook["entry"])
    assert words[:2] == ["qlint", "check"]
    hook = [*words[1:], "--format", "json", "--cache-dir", str(tmp_path)]
    run = qlint(*hook, "completion.c", cwd=HERE)
    assert (run.code, findings(run), run.err) == (1, [FLUSH], (
        "qlint: parsing 2 translation unit(s), 1 of them for the program around the checked "
        "paths (once: the cache keeps their facts)\n"))
    run = qlint(*hook, "handler.c", cwd=HERE)
    assert (run.code, findings(run), run.err) == (0, [], "")

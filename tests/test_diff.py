"""qlint check --diff REV: the findings on lines changed since REV, and those the change
introduced anywhere (qlint/diff.py)."""
from __future__ import annotations

import os
import subprocess
import weakref

import pytest

from conftest import FIXTURES, findings, qlint, trace
from fixture_trees import HEADER, bh_source, make_tree, write

HERE = os.path.join(FIXTURES, "core", "handler-elsewhere")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
LOCKED = ("    aio_context_acquire(s->ctx);\n    completion_flush(s);\n"
          "    aio_context_release(s->ctx);\n")
UNLOCKED = "    completion_flush(s);\n"
FLUSH = ("QL101", "completion.c", 10, "completion_flush")
OTHER = ("QL101", "other.c", 6, "bh")


def git(cwd: str, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env=dict(os.environ, **GIT_ENV)).stdout


def read(name: str) -> str:
    with open(os.path.join(HERE, name)) as f:
        return f.read()


@pytest.fixture
def repo(tmp_path):
    """A git repository whose first commit has handler.c take the lock around the call of
    completion_flush(); other.c has a finding of its own from the start."""
    root = make_tree(tmp_path / "repo", {
        "completion.c": read("completion.c"),
        "handler.c": read("handler.c").replace(UNLOCKED, LOCKED),
        "other.c": bh_source("    qemu_laio_process_completions(s);\n")})
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def change(root: str, name: str, old: str, new: str, commit: bool = True) -> None:
    with open(os.path.join(root, name)) as f:
        text = f.read()
    assert text.count(old) == 1
    write(root, name, text.replace(old, new))
    if commit:
        git(root, "commit", "-q", "-am", f"change {name}")


def check(root: str, *args: str):
    return qlint("check", *args, "--format", "json", "--jobs", "1", cwd=root)


def test_dropping_the_lock_a_function_of_another_file_relied_on_is_reported(repo):
    assert findings(check(repo)) == [OTHER]
    change(repo, "handler.c", LOCKED, UNLOCKED)
    run = check(repo, "--diff", "HEAD~1")
    assert (run.code, findings(run)) == (1, [FLUSH])
    assert trace(run.json["findings"][0]) == [("handler_read", 9), ("handler_read", 13),
                                              ("completion_flush", 10)]
    assert run.err == "qlint: parsing 1 translation unit(s) as they were at HEAD~1\n"
    # The change is handler.c's: it is reported when handler.c is checked, not other.c.
    assert findings(check(repo, "--diff", "HEAD~1", "handler.c")) == [FLUSH]
    run = check(repo, "--diff", "HEAD~1", "other.c", "completion.c")
    assert (run.code, findings(run)) == (0, [])
    # Both programs' findings are cached: the second run parses nothing.
    run = check(repo, "--diff", "HEAD~1")
    assert (findings(run), run.err) == ([FLUSH], "")


def test_an_unrelated_commit_reports_nothing_new(repo):
    change(repo, "other.c", "void init", "/* unrelated */\nvoid init")
    run = check(repo, "--diff", "HEAD~1")
    assert (run.code, findings(run)) == (0, [])
    assert findings(check(repo)) == [OTHER]


def test_a_finding_on_a_changed_line_is_reported_though_it_was_there_before(repo):
    change(repo, "other.c", "    qemu_laio_process_completions(s);\n",
           "    qemu_laio_process_completions(s);   /* still unlocked */\n")
    assert findings(check(repo, "--diff", "HEAD~1")) == [OTHER]


def test_a_step_of_the_path_on_a_changed_line_counts(repo):
    change(repo, "handler.c", LOCKED, UNLOCKED)
    change(repo, "handler.c", UNLOCKED, "    completion_flush(s);    /* later */\n")
    # Not new since HEAD~1, but its path goes through the changed line 13 of handler.c.
    assert findings(check(repo, "--diff", "HEAD~1")) == [FLUSH]
    assert findings(check(repo, "--diff", "HEAD~1", "completion.c")) == []


def test_changes_not_committed_count_and_a_file_added_since_is_all_new(repo):
    change(repo, "handler.c", LOCKED, UNLOCKED, commit=False)
    assert findings(check(repo, "--diff", "HEAD")) == [FLUSH]
    write(repo, "new.c", bh_source("    qemu_laio_process_completions(s);\n").replace(
        "void init", "void init_new"))
    entries = [{"directory": repo, "file": n, "arguments": ["cc", "-Iinclude", "-c", n]}
               for n in ("completion.c", "handler.c", "new.c", "other.c")]
    write(repo, "build/compile_commands.json", __import__("json").dumps(entries))
    git(repo, "add", "new.c")
    assert findings(check(repo, "--diff", "HEAD")) == [FLUSH, ("QL101", "new.c", 6, "bh")]


def test_a_changed_header_of_the_precompiled_prefix_is_read_as_it_was(repo):
    # Every TU includes fixture-state.h first: it is the precompiled prefix. handler.c takes
    # the lock through the header's macro; a commit drops it from the macro. The program at
    # HEAD~1 reads the header as it was, also when the current program's findings come from
    # the cache (the prefix's files are among the TU's cached inputs).
    header = "include/qemu/fixture-state.h"
    macro = ("#define FLUSH_LOCKED(s) do { aio_context_acquire((s)->ctx); "
             "completion_flush(s); aio_context_release((s)->ctx); } while (0)\n")
    change(repo, header, "\n#endif", "\nvoid completion_flush(State *s);\n" + macro + "\n#endif")
    change(repo, "handler.c", LOCKED, "    FLUSH_LOCKED(s);\n")
    assert findings(check(repo)) == [OTHER]
    change(repo, header, macro, "#define FLUSH_LOCKED(s) completion_flush(s)\n")
    assert findings(check(repo)) == [FLUSH, OTHER]          # the current program, cached
    run = check(repo, "--diff", "HEAD~1")
    assert (run.code, findings(run)) == (1, [FLUSH])
    assert run.err == "qlint: parsing 3 translation unit(s) as they were at HEAD~1\n"


def test_what_is_not_a_revision_or_a_repository_is_an_error(repo, tmp_path):
    run = check(repo, "--diff", "nosuchrev")
    assert (run.code, run.out) == (2, "")
    assert run.err == f"qlint: error: --diff nosuchrev: not a revision of the git repository at {repo}\n"
    tree = make_tree(tmp_path / "plain", {"a.c": bh_source("")})
    run = check(tree, "--diff", "HEAD")
    assert run.code == 2
    assert run.err == f"qlint: error: --diff HEAD: {tree} is not in a git work tree\n"


FLUSH_ALL = ("static void flush_all(State *s)\n{\n    completion_flush(s);\n}\n\n"
             "static void flush_bh(void *opaque)\n{\n    State *s = opaque;\n\n")
FLUSH_LOCKED = ("    aio_context_acquire(s->ctx);\n    flush_all(s);\n"
                "    aio_context_release(s->ctx);\n")


def test_a_new_way_into_a_violation_already_reported_is_reported(tmp_path):
    """handler.c reaches completion_flush() unlocked from the start; the commit drops the lock
    of timer.c's bottom half, a second, longer way to the same call. The finding is not new
    and its trace (the shortest way) touches no changed line: the new way is what --diff
    reports, listed first among its related locations."""
    root = make_tree(tmp_path / "repo", {
        "completion.c": read("completion.c"), "handler.c": read("handler.c"),
        "timer.c": (HEADER + "\nvoid completion_flush(State *s);\n\n" + FLUSH_ALL +
                    FLUSH_LOCKED + "}\n\nvoid timer_init(State *s)\n{\n"
                    "    aio_bh_new(s->ctx, flush_bh, s);\n}\n")})
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    assert findings(check(root)) == [FLUSH]
    change(root, "timer.c", FLUSH_LOCKED, "    flush_all(s);\n")
    run = check(root, "--diff", "HEAD~1")
    assert (run.code, findings(run)) == (1, [FLUSH])
    assert trace(run.json["findings"][0]) == [("handler_read", 9), ("handler_read", 13),
                                              ("completion_flush", 10)]
    assert run.json["findings"][0]["related"][0] == {
        "path": "timer.c", "line": 19,
        "message": "since HEAD~1, also reached from flush_bh() registered as bh by aio_bh_new()"}
    # The change is timer.c's: checking timer.c reports it, the files it did not change not.
    assert findings(check(root, "--diff", "HEAD~1", "timer.c")) == [FLUSH]
    assert findings(check(root, "--diff", "HEAD~1", "completion.c", "handler.c")) == []
    # Taking the lock again leaves the way out: nothing is new since the base.
    change(root, "timer.c", "    flush_all(s);\n", FLUSH_LOCKED)
    assert findings(check(root, "--diff", "HEAD~2")) == []


def test_a_new_way_that_reaches_the_violation_through_another_is_that_ones(tmp_path):
    """With completion_flush() declared to need the lock, the new way from timer.c's bottom
    half meets that need first, in flush_all(): a new finding there. Its way on into
    completion_flush()'s own violating call is behind it: that finding is not reported."""
    root = make_tree(tmp_path / "repo", {
        "completion.c": read("completion.c"), "handler.c": read("handler.c"),
        "timer.c": (HEADER + "\nvoid completion_flush(State *s);\n\n" + FLUSH_ALL +
                    FLUSH_LOCKED + "}\n\nvoid timer_init(State *s)\n{\n"
                    "    aio_bh_new(s->ctx, flush_bh, s);\n}\n"),
        ".qlint.toml": '[[requires]]\nfunction = "completion_flush"\nlock = "AioContext"\n'})
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    handler = ("QL101", "handler.c", 13, "handler_read")
    assert findings(check(root)) == [FLUSH, handler]
    change(root, "timer.c", FLUSH_LOCKED, "    flush_all(s);\n")
    run = check(root, "--diff", "HEAD~1")
    assert (run.code, findings(run)) == (1, [("QL101", "timer.c", 7, "flush_all")])
    assert findings(check(root)) == [FLUSH, handler, ("QL101", "timer.c", 7, "flush_all")]


def _programs_alive_at_each_analysis(monkeypatch, root: str, reuse: bool) -> tuple:
    """Analyse with --diff HEAD~1 in `root`; (for each program analysed, whether the programs
    analysed before it were still in memory when its analysis began; the result)."""
    from qlint import pipeline
    analysed, alive = [], []
    program = pipeline.Run.program

    def recording(self, plan, *args, **kwargs):
        alive.append([ref() is not None for ref in analysed])
        result = program(self, plan, *args, **kwargs)
        analysed.append(weakref.ref(result.program))
        return result
    monkeypatch.setattr(pipeline.Run, "program", recording)
    monkeypatch.chdir(root)
    options = pipeline.Options(paths=["."], jobs=1, diff="HEAD~1")
    return alive, pipeline.analyse(options, reuse=reuse)


def test_diff_holds_one_program_at_a_time_unless_the_caller_needs_it(repo, monkeypatch):
    # The program as it is now is released before the program at the revision is analysed:
    # a whole build's two programs do not fit in memory together. --confirm (no reuse) replays
    # the findings on the program as it is now: it keeps it.
    change(repo, "handler.c", LOCKED, UNLOCKED)
    alive, result = _programs_alive_at_each_analysis(monkeypatch, repo, reuse=True)
    assert (alive, result.program, findings_of(result)) == ([[], [False]], None, [FLUSH])
    alive, result = _programs_alive_at_each_analysis(monkeypatch, repo, reuse=False)
    assert (alive, findings_of(result)) == ([[], [True]], [FLUSH])
    assert result.program.functions


def findings_of(result) -> list:
    return [(f.rule, f.path, f.line, f.function) for f in result.findings]

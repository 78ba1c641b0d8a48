"""Hostile input, as a pre-commit hook meets it: unreadable, looping, special, half-written,
huge or deeply nested sources and broken compile commands. A problem that stops the run is one
line and exit 2; a problem of one translation unit is a QL000 finding at its first error (a
warning line when QL000 is not selected), and the other TUs' findings are still reported (a.c's
QL101 below)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import Run, findings, qlint
from fixture_trees import HEADER, bh_source, make_tree, write

CALL = "    qemu_laio_process_completions(s);\n"
A_FINDING = ("QL101", "a.c", 6, "bh")
HOSTILE = "fixtures/hostile"


def bh(name: str) -> str:
    """A bottom half `name` calling qemu_laio_process_completions() without the lock (line 4
    of the text), registered by init_`name`()."""
    return (f"static void {name}(void *o)\n{{\n    State *s = o;\n{CALL}}}\n\n"
            f"void init_{name}(State *s)\n{{\n    aio_bh_new(s->ctx, {name}, s);\n}}\n")


def check(root, *args, env=None) -> Run:
    return qlint("check", *args, "--format", "json", "--jobs", "1", "--no-cache", cwd=str(root),
                 env=env)


def tree_with(tmp_path, files: dict[str, str]) -> str:
    """a.c (one QL101 finding) and `files`, all in build/compile_commands.json."""
    return make_tree(tmp_path, {"a.c": bh_source(CALL), **files})


def problem_lines(*problems: tuple[str, str], tus: int) -> str:
    """The warnings of per-TU problems, as `qlint check` prints them when QL000 is not selected."""
    lines = [f"qlint: warning: {path}: {what}\n" for path, what in problems]
    return "".join(lines) + (f"qlint: warning: {len(problems)} of {tus} translation unit(s) "
                             f"had parse errors or failed (QL000, not selected, would report "
                             f"them)\n")


def parse_errors(run: Run) -> list[tuple]:
    """(path, line, column, message) of the QL000 findings of a JSON report."""
    return [(f["path"], f["line"], f["column"], f["message"])
            for f in run.json["findings"] if f["rule"] == "QL000"]


def not_analysed(path: str, why: str) -> tuple:
    """The QL000 finding of a TU that failed: at its first line."""
    return (path, 1, 1, f"the translation unit is not analysed: {why}")


def in_part(path: str, line: int, column: int, message: str, errors: int) -> tuple:
    return (path, line, column, f"{message} ({errors} parse error(s): the translation unit is "
                                f"analysed only in part)")


def others(run: Run) -> list[tuple]:
    """The findings of a JSON report other than QL000."""
    return [f for f in findings(run) if f[0] != "QL000"]


def failed(path: str, message: str) -> dict:
    return {"path": path, "kind": "failed", "errors": 1, "message": message}


# ---- paths ------------------------------------------------------------------------------------

def _unprivileged() -> list[str]:
    """A command prefix that drops root (chmod does not stop root from reading)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv(1) is missing: cannot make a file unreadable")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def world_readable_dir():
    """A directory an unprivileged user can enter (pytest's tmp_path is private to root)."""
    path = tempfile.mkdtemp(prefix="qlint-unreadable-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _readable_qlint(prefix: list[str], into: str) -> dict[str, str]:
    """The environment that makes an unprivileged user import qlint from a copy in `into`: the
    checkout the package is installed from may sit in a directory only root can enter."""
    import qlint
    package = os.path.dirname(os.path.abspath(qlint.__file__))
    copy = os.path.join(into, "qlint-copy")
    shutil.copytree(package, os.path.join(copy, "qlint"))
    shutil.copytree(os.path.join(os.path.dirname(package), "rules"), os.path.join(copy, "rules"))
    env = {**os.environ, "PYTHONPATH": copy}
    probe = subprocess.run([*prefix, sys.executable, "-c", "import qlint.cli, clang.cindex"],
                           env=env, capture_output=True, text=True)
    if probe.returncode != 0:      # the interpreter or its site-packages are root's alone
        pytest.skip("uid 65534 cannot import qlint's dependencies here: "
                    + (probe.stderr.strip().splitlines() or ["?"])[-1])
    return env


def test_unreadable_source_named_is_fatal_found_is_one_failed_tu(world_readable_dir):
    prefix = _unprivileged()
    env = _readable_qlint(prefix, world_readable_dir) if prefix else None
    root = tree_with(os.path.join(world_readable_dir, "tree"), {"secret.c": HEADER + bh("bh_secret")})
    os.chmod(os.path.join(root, "secret.c"), 0)

    def run(*args):
        proc = subprocess.run([*prefix, sys.executable, "-m", "qlint", "check", *args, "--jobs",
                               "1", "--no-cache"], cwd=root, capture_output=True, text=True,
                              timeout=600, env=env)
        return Run(proc.returncode, proc.stdout, proc.stderr)
    named = run("secret.c")
    assert (named.code, named.out, named.err) == (2, "", "qlint: error: secret.c: permission denied\n")
    found = run(".", "--format", "json")
    assert (found.code, found.err) == (1, "")
    assert parse_errors(found) == [not_analysed("secret.c", "permission denied")]
    assert others(found) == [A_FINDING]
    assert found.json["problems"] == [failed("secret.c", "permission denied")]
    assert found.json["stats"]["tus_failed"] == 1


def test_symlink_loops(tmp_path):
    root = tree_with(tmp_path, {})
    os.makedirs(os.path.join(root, "loop", "sub"))
    os.symlink("..", os.path.join(root, "loop", "sub", "up"))        # a directory cycle
    os.symlink("self.c", os.path.join(root, "self.c"))               # a link to itself
    run = qlint("check", "self.c", cwd=root)
    assert (run.code, run.err) == (2, "qlint: error: self.c: too many levels of symbolic links\n")
    # Directories are walked without following links: the cycle is not entered.
    run = check(root, ".")
    assert (run.code, findings(run)) == (1, [A_FINDING])
    assert run.err == "qlint: warning: 1 C file(s) not in the compile database were skipped " \
                      "(not built in this configuration; -v names them)\n"
    shutil.rmtree(os.path.join(root, "build"))                        # degraded: every .c file
    run = check(root, ".")
    assert (run.code, others(run)) == (1, [A_FINDING])
    assert run.json["problems"] == [failed("self.c", "too many levels of symbolic links")]
    assert parse_errors(run) == [not_analysed("self.c", "too many levels of symbolic links")]
    assert "self.c" not in run.err                  # the finding reports it, not a warning


def test_fifo_and_device_files_are_never_read(tmp_path):
    root = tree_with(tmp_path, {"fifo.c": ""})
    os.unlink(os.path.join(root, "fifo.c"))
    os.mkfifo(os.path.join(root, "fifo.c"))          # reading it would wait for a writer
    for named in ("fifo.c", "/dev/null"):
        run = qlint("check", named, cwd=root)
        assert (run.code, run.err) == (2, f"qlint: error: {named}: not a regular file or directory\n")
    run = check(root, ".")                           # in the compile database, and cached
    assert (run.code, others(run), run.err) == (1, [A_FINDING], "")
    assert parse_errors(run) == [not_analysed("fifo.c", "not a regular file")]
    run = qlint("check", ".", "--format", "json", "--jobs", "1", cwd=root)
    assert run.json["problems"] == [failed("fifo.c", "not a regular file")]


@pytest.mark.parametrize("name, content, problem, found", [
    ("python.c", b"import os\n\ndef main():\n    print('hi')\n",
     ("parse-errors", 2, "python.c:1:1: unknown type name 'import'"), []),
    ("random.c", bytes(range(256)) * 4, ("parse-errors", 1, "random.c:1:2: expected identifier or '('"), []),
    ("latin1.c", HEADER.encode() + "/* caf\xe9 */\nint f\xe9(void);\n".encode("latin-1") +
     bh("bh_latin1").encode(), ("parse-errors", 1, "latin1.c:3:6: source file is not valid UTF-8"),
     [("QL101", "latin1.c", 7, "bh_latin1")]),
    ("nul.c", HEADER.encode() + b"/* a \0 in a comment */\n\0\0\n" + bh("bh_nul").encode() + b"\0",
     None, [("QL101", "nul.c", 7, "bh_nul")]),
])
def test_sources_that_are_not_c_or_not_text(tmp_path, name, content, problem, found):
    root = tree_with(tmp_path, {name: ""})
    with open(os.path.join(root, name), "wb") as f:
        f.write(content)
    run = check(root, ".")
    assert (run.code, run.err) == (1, "")
    assert sorted(others(run)) == sorted([A_FINDING] + found)
    if problem is None:                              # NUL bytes: clang ignores them, warning
        assert (parse_errors(run), run.json["problems"]) == ([], [])
        return
    kind, errors, message = problem
    assert run.json["problems"] == [{"path": name, "kind": kind, "errors": errors, "message": message}]
    path, line, column, text = message.split(":", 3)
    assert parse_errors(run) == [in_part(path, int(line), int(column), text.strip(), errors)]


def test_a_50_mb_generated_source(tmp_path):
    """Generated code of this size is tables: 50 tables of 1 MB, each with lookup functions,
    and a bottom half at the end."""
    root = tree_with(tmp_path, {"big.c": ""})
    row = "    " + ", ".join(f"0x{i:02x}" for i in range(16)) + ",\n"
    with open(os.path.join(root, "big.c"), "w") as f:
        f.write(HEADER)
        for t in range(50):
            f.write(f"static const unsigned char table_{t}[] = {{\n{row * 10_500}}};\n\n")
            for i in range(20):
                f.write(f"int lookup_{t}_{i}(int k)\n{{\n    return table_{t}[k & 0xff] + {i};\n}}\n\n")
        f.write(bh("bh_big"))
    assert os.path.getsize(os.path.join(root, "big.c")) >= 50 * 2**20
    lines = 1 + 50 * (1 + 10_500 + 2 + 20 * 5)          # the header, then per table its lines
    run = check(root, ".")
    assert (run.code, run.err) == (1, "")
    assert findings(run) == [A_FINDING, ("QL101", "big.c", lines + 4, "bh_big")]
    assert run.json["stats"]["functions"] == 2 + 50 * 20 + 2


def test_file_in_the_database_but_missing(tmp_path):
    root = tree_with(tmp_path, {"gone.c": HEADER + bh("bh_gone")})
    os.unlink(os.path.join(root, "gone.c"))
    run = check(root, ".")
    message = "no such file (in the compile database, but not generated yet or deleted)"
    assert (run.code, others(run), run.err) == (1, [A_FINDING], "")
    assert parse_errors(run) == [not_analysed("gone.c", message)]
    assert run.json["problems"] == [failed("gone.c", message)]


def test_file_deleted_between_discovery_and_parse(tmp_path, monkeypatch, capsys):
    """In-process, with the file removed right after discovery planned to parse it."""
    from qlint import cli
    from qlint.frontend import discover
    root = tree_with(tmp_path, {"gone.c": HEADER + bh("bh_gone")})
    shutil.rmtree(os.path.join(root, "build"))        # degraded: found by walking the tree
    plan = discover.plan

    def plan_then_delete(*args, **kwargs):
        result = plan(*args, **kwargs)
        os.unlink(os.path.join(root, "gone.c"))
        return result
    monkeypatch.setattr(discover, "plan", plan_then_delete)
    monkeypatch.chdir(root)
    code = cli._run(["check", ".", "--format", "json", "--jobs", "1", "--no-cache"])
    out, err = capsys.readouterr()
    message = "no such file (deleted while qlint ran, or a dangling symbolic link)"
    assert code == 1
    report = Run(code, out, err)
    assert others(report) == [A_FINDING]
    assert parse_errors(report) == [not_analysed("gone.c", message)]
    assert err == ("qlint: warning: no compile_commands.json found: degraded mode, include paths "
                   "guessed (-p BUILD_DIR points at a configured build)\n")
    assert json.loads(out)["problems"] == [failed("gone.c", message)]


# ---- compile_commands.json -------------------------------------------------------------------

def _database(root) -> list:
    with open(os.path.join(root, "build", "compile_commands.json")) as f:
        return json.load(f)


def _write_database(root, entries) -> None:
    write(root, "build/compile_commands.json", json.dumps(entries))


def test_relative_directory_is_taken_relative_to_the_database(tmp_path):
    root = tree_with(tmp_path, {})
    _write_database(root, [dict(e, directory="..") for e in _database(root)])
    run = check(root, ".")
    assert (run.code, run.err, findings(run)) == (1, "", [A_FINDING])


def test_duplicate_entries_the_first_one_wins(tmp_path):
    """The same file twice: analysed once, with the first entry's flags (the second entry's
    flags would hide the call)."""
    source = HEADER + bh("bh_dup").replace(CALL, "#ifndef HIDE\n" + CALL + "#endif\n")
    root = tree_with(tmp_path, {"dup.c": source})
    entries = _database(root)
    hidden = dict(entries[1], arguments=entries[1]["arguments"] + ["-DHIDE"])
    _write_database(root, entries + [hidden])
    run = check(root, ".")
    assert (run.code, run.err) == (1, "")
    assert findings(run) == [A_FINDING, ("QL101", "dup.c", 6, "bh_dup")]
    assert run.json["stats"]["tus"] == 2
    _write_database(root, [entries[0], hidden, entries[1]])
    assert findings(check(root, ".")) == [A_FINDING]


@pytest.mark.parametrize("flags, problem", [
    (["-fno-such-flag"], ("parse-errors", "unknown argument: '-fno-such-flag'")),
    (["--target=no-such-triple"],
     ("failed", "libclang rejects the flag '--target=no-such-triple' of its compile command")),
    (["-Xclang", "-no-such-cc1-flag"],
     ("failed", "libclang rejects the flag '-Xclang -no-such-cc1-flag' of its compile command")),
    (["-x", "fortran"], ("failed", "libclang rejects the flag '-x fortran' of its compile command")),
])
def test_flags_libclang_rejects_cost_their_tu_only(tmp_path, flags, problem):
    root = tree_with(tmp_path, {"flags.c": HEADER + bh("bh_flags")})
    entries = _database(root)
    entries[1]["arguments"][1:1] = flags
    _write_database(root, entries)
    run = check(root, ".")
    kind, message = problem
    assert (run.code, run.err) == (1, "")
    assert run.json["problems"] == [{"path": "flags.c", "kind": kind, "errors": 1, "message": message}]
    expected = [A_FINDING] + ([("QL101", "flags.c", 5, "bh_flags")] if kind == "parse-errors" else [])
    assert others(run) == expected
    # An error of the command line has no place in the source: the TU's first line.
    assert parse_errors(run) == [in_part("flags.c", 1, 1, message, 1) if kind == "parse-errors"
                                 else not_analysed("flags.c", message)]
    # Without QL000, the problem is a warning: the run does not pass without a word.
    run = check(root, ".", "--ignore", "QL000")
    what = f"1 parse error(s), first: {message}" if kind == "parse-errors" else message
    assert run.err == problem_lines(("flags.c", what), tus=2)
    assert findings(run) == expected


def test_a_command_that_cannot_be_split_is_fatal(tmp_path):
    root = tree_with(tmp_path, {})
    _write_database(root, [{"directory": root, "file": "a.c", "command": "cc -DX='open a.c"}])
    run = check(root, "a.c")
    db = os.path.join(root, "build", "compile_commands.json")
    assert (run.code, run.out) == (2, "")
    assert run.err == f"qlint: error: {db}: entry 0: cannot split 'command': No closing quotation\n"


# ---- C that libclang only half-parses ---------------------------------------------------------

def hostile(name: str) -> Run:
    """A fixture of fixtures/hostile, with its own compile database (the whole fixture tree
    stays free of parse errors)."""
    return qlint("check", f"{HOSTILE}/{name}", "--format", "json", "--jobs", "1", "--no-cache")


@pytest.mark.parametrize("name, expected, problem", [
    ("unbalanced-braces.c", [("QL101", 12, "done_bh")],
     (3, "14:1: extraneous closing brace ('}')")),
    ("truncated.c", [("QL101", 10, "trunc_bh")],
     (2, "20:5: unterminated function-like macro invocation")),
    ("empty-macros.c", [("QL101", 20, "empty_bh")], None),
    ("knr.c", [("QL101", 13, "knr_process"), ("QL101", 19, "after_knr")], None),
    ("asm-goto.c", [("QL101", 14, "asm_bh")], None),
    ("stmt-expr.c", [("QL101", 15, "stmt_bh"), ("QL101", 23, "stmt_bh"),
                     ("QL101", 28, "after_stmt")], None),
    ("computed-goto.c", [("QL101", 19, "dispatch_bh")], None),
    # The guard's scope ends at the block's end and at `goto out`; a return from the loop
    # body releases it on the way out (early_return: nothing), as the spelled-out
    # attribute does (spelled_out: line 51 only).
    ("cleanup.c", [("QL101", 16, "block_scope"), ("QL101", 30, "goto_out"),
                   ("QL101", 51, "spelled_out")], None),
])
def test_half_parsed_c_keeps_what_is_whole(name, expected, problem):
    run = hostile(name)
    path = f"{HOSTILE}/{name}"
    assert (run.code, run.err) == (1, "")
    assert others(run) == [(rule, path, line, fn) for rule, line, fn in expected]
    if problem is None:
        assert (parse_errors(run), run.json["problems"]) == ([], [])
        return
    errors, message = problem
    assert run.json["problems"] == [{"path": path, "kind": "parse-errors", "errors": errors,
                                     "message": f"{path}:{message}"}]
    line, column, text = message.split(":", 2)
    assert parse_errors(run) == [in_part(path, int(line), int(column), text.strip(), errors)]


def test_deep_nesting_and_a_huge_switch(tmp_path):
    """2000 nested ifs and 2000 nested blocks (clang needs -fbracket-depth beyond 256), an
    else-if chain of 5000 branches (no flag needed), a switch of 20,000 cases."""
    depth, chain, cases = 2000, 5000, 20_000
    nested = ("".join(f"if (s->pending > {i}) {{\n" for i in range(depth)) + CALL + "}\n" * depth +
              "{\n" * depth + CALL + "}\n" * depth)
    elifs = ("    if (s->pending == 0) {\n        s->ready = 0;\n" +
             "".join(f"    }} else if (s->pending == {i}) {{\n        s->ready = {i};\n"
                     for i in range(1, chain)) + "    } else {\n    " + CALL + "    }\n")
    switch = ("    switch (s->pending) {\n" +
              "".join(f"    case {i}:\n        s->ready = {i % 7};\n        break;\n"
                      for i in range(cases)) + f"    case {cases}:\n    " + CALL + "    }\n")

    def body(name, code):
        return (HEADER + f"static void {name}(void *o)\n{{\n    State *s = o;\n" + code + "}\n\n" +
                f"void init_{name}(State *s)\n{{\n    aio_bh_new(s->ctx, {name}, s);\n}}\n")
    root = tree_with(tmp_path, {"nested.c": body("nested_bh", nested),
                                "elif.c": body("elif_bh", elifs),
                                "switch.c": body("switch_bh", switch)})
    entries = _database(root)
    for entry in entries:
        if entry["file"] == "nested.c":
            entry["arguments"].insert(1, "-fbracket-depth=4100")
    _write_database(root, entries)
    run = check(root, ".")
    assert (run.code, run.err) == (1, "")
    assert findings(run) == [
        A_FINDING, ("QL101", "elif.c", 4 + 2 * chain + 2, "elif_bh"),
        ("QL101", "nested.c", 5 + depth, "nested_bh"), ("QL101", "nested.c", 6 + 3 * depth, "nested_bh"),
        ("QL101", "switch.c", 5 + 3 * cases + 2, "switch_bh")]


def test_a_call_cycle_through_50_translation_units(tmp_path):
    """step_i() calls step_{i+1}() in tu_i.c, step_49() calls step_0() and the function that
    needs the lock: the cycle terminates, and the finding is at the end of the path."""
    n = 50
    files = {}
    for i in range(n):
        calls = f"    step_{(i + 1) % n}(s);\n" + (CALL if i == n - 1 else "")
        decl = f"void step_{(i + 1) % n}(State *s);\n"
        files[f"tu_{i:02d}.c"] = HEADER + decl + f"void step_{i}(State *s)\n{{\n{calls}}}\n"
    files["entry.c"] = (HEADER + "void step_0(State *s);\n\nstatic void cycle_bh(void *o)\n{\n"
                        "    step_0(o);\n}\n\nvoid cycle_init(State *s)\n{\n"
                        "    aio_bh_new(s->ctx, cycle_bh, s);\n}\n")
    root = make_tree(tmp_path, files)
    run = check(root, ".")
    assert (run.code, run.err) == (1, "")
    assert findings(run) == [("QL101", f"tu_{n - 1}.c", 6, f"step_{n - 1}")]
    f = run.json["findings"][0]
    steps = [(s["function"], s["path"], s["line"]) for s in f["trace"]]
    assert steps == [("cycle_bh", "entry.c", 4), ("cycle_bh", "entry.c", 6)] + \
        [(f"step_{i}", f"tu_{i:02d}.c", 5) for i in range(n - 1)] + [(f"step_{n - 1}", f"tu_{n - 1}.c", 6)]
    assert run.json["stats"]["tus"] == n + 1

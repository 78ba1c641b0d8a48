"""What ruff and flake8 users expect of the command line: --output-format, --color, a closing
summary on a terminal only, --show-source frames, the reason of [not-modelled], explain by name,
help texts that are not cut, -v naming skipped files, warnings about selected rules that cannot
report, and the progress bar's words."""
from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import time

import pytest
from rich.console import Console

from conftest import REPO, qlint
from fixture_trees import bh_source, make_tree, write
from qlint.cli import cli
from qlint.progress import ParseProgress
from qlint.rules.registry import all_rules

CALL = "    qemu_laio_process_completions(s);\n"
A_FINDING = ("a.c:6:5: QL101 [lock-required] qemu_laio_process_completions() requires AioContext, "
             "which is not held on this path from bh bh()\n")


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path, {"a.c": bh_source(CALL)})


def on_a_terminal(*args, cwd: str, env: dict | None = None) -> tuple[int, str, str]:
    """qlint with stdout on a pseudo-terminal (stderr piped): exit code, stdout, stderr."""
    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "QLINT_DEBUG")}
    full_env.update(env or {})
    proc = subprocess.Popen([sys.executable, "-m", "qlint", *args], cwd=cwd, env=full_env,
                            stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:              # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = proc.stderr.read().decode()
    proc.wait(timeout=600)
    return proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), err


# ---- formats, colors, summary ---------------------------------------------------------------

def test_output_format_is_an_alias_of_format(tree):
    assert qlint("check", "a.c", "--output-format", "json", cwd=tree).out == \
        qlint("check", "a.c", "--format", "json", cwd=tree).out
    run = qlint("check", "a.c", "--output-format", "yaml", cwd=tree)
    assert run.code == 2 and "'yaml' is not one of 'text', 'json', 'sarif', 'github'" in run.err


def test_color_always_never_and_auto(tree):
    colored = A_FINDING.replace("QL101", "\033[1;31mQL101\033[0m")
    assert qlint("check", "a.c", "--color", "always", cwd=tree).out == colored
    assert qlint("check", "a.c", "--color", "never", cwd=tree).out == A_FINDING
    assert qlint("check", "a.c", cwd=tree).out == A_FINDING            # auto, piped
    assert on_a_terminal("check", "a.c", cwd=tree)[1].startswith(colored)
    assert on_a_terminal("check", "a.c", cwd=tree, env={"NO_COLOR": "1"})[1].startswith(A_FINDING)
    assert on_a_terminal("check", "a.c", "--color", "never", cwd=tree)[1].startswith(A_FINDING)


def test_a_closing_summary_on_a_terminal_and_nothing_extra_when_piped(tree):
    assert on_a_terminal("check", "a.c", "--color", "never", cwd=tree) == \
        (1, A_FINDING + "Found 1 finding.\n", "")
    assert qlint("check", "a.c", cwd=tree).out == A_FINDING
    assert qlint("check", "a.c", "--write-baseline", "b.json", "-q", cwd=tree).code == 0
    assert on_a_terminal("check", "a.c", "--baseline", "b.json", cwd=tree) == \
        (0, "All checks passed (1 hidden by the baseline).\n", "")
    write(tree, "a.c", bh_source(CALL + CALL))
    assert on_a_terminal("check", "a.c", "--baseline", "b.json", "--color", "never", cwd=tree)[1] \
        == A_FINDING.replace(":6:5:", ":7:5:") + "Found 1 finding (1 hidden by the baseline).\n"
    assert on_a_terminal("check", "a.c", "--select", "QL103", cwd=tree)[1] == "All checks passed.\n"
    # Not with --quiet, another format or a report file.
    assert on_a_terminal("check", "a.c", "-q", "--color", "never", cwd=tree)[1] == \
        A_FINDING + A_FINDING.replace(":6:5:", ":7:5:")
    assert not on_a_terminal("check", "a.c", "--format", "json", cwd=tree)[1].endswith(".\n")
    assert on_a_terminal("check", "a.c", "-o", "r.txt", cwd=tree)[1] == ""


def test_show_source_frames_the_finding_and_each_path_step(tree):
    run = qlint("check", "a.c", "--show-source", cwd=tree)
    assert run.out == A_FINDING + ("    6 |     qemu_laio_process_completions(s);\n"
                                   "      |     ^\n")
    run = qlint("check", "a.c", "--show-source", "--show-path", cwd=tree)
    assert run.out == A_FINDING + (
        "    6 |     qemu_laio_process_completions(s);\n"
        "      |     ^\n"
        "    1. a.c:2: bh: entry point: bh registered by aio_bh_new() in init(), line 11 (holds no lock)\n"
        "       2 | static void bh(void *o)\n"
        "    2. a.c:6: bh: calls qemu_laio_process_completions() without AioContext\n"
        "       6 |     qemu_laio_process_completions(s);\n"
        "         |     ^\n"
        "    see a.c:11: bh() registered as bh by aio_bh_new()\n")


def test_show_source_expands_tabs_under_the_caret(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source("\tqemu_laio_process_completions(s);\n")})
    run = qlint("check", "a.c", "--show-source", cwd=root)
    assert run.out.splitlines()[1:] == ["    6 |         qemu_laio_process_completions(s);",
                                        "      |         ^"]


def test_confirm_says_why_a_finding_is_not_modelled():
    run = qlint("check", "fixtures/core/two-entries", "--confirm", "--jobs", "1")
    assert run.out == (
        "fixtures/core/two-entries/entries.c:7:5: QL101 [lock-required] "
        "qemu_laio_process_completions() requires AioContext, which is not held on this path "
        "from fd-handler unlocked_read() [not-modelled: qemu_laio_process_completions() has no "
        "definition in the analysed code]\n")


def test_dot_dir_writes_one_file_per_finding_beside_the_report(tmp_path):
    root = make_tree(tmp_path / "tree", {"a.c": bh_source(CALL + CALL)})
    out = tmp_path / "pictures"
    run = qlint("check", "a.c", "--dot-dir", str(out), cwd=root)
    assert run.code == 1 and run.out.count("QL101") == 2                # the report as usual
    assert sorted(os.listdir(out)) == ["001-QL101-bh.dot", "002-QL101-bh.dot"]
    text = (out / "001-QL101-bh.dot").read_text()
    assert text.startswith("digraph qlint {") and text.count("subgraph cluster_") == 1
    assert "a.c:6" in text and "a.c:7" not in text
    run = qlint("check", "a.c", "--dot-dir", str(out / "001-QL101-bh.dot"), cwd=root)
    assert (run.code, run.out) == (2, "")
    assert run.err == (f"qlint: error: {out / '001-QL101-bh.dot'}: cannot write the pictures: "
                       f"File exists\n")


# ---- selection warnings, -v, progress -------------------------------------------------------

def test_a_selected_rule_that_cannot_report_on_this_tree_is_named_with_the_reason(tree):
    run = qlint("check", "a.c", "--select", "QL303", cwd=tree)
    assert (run.code, run.out) == (0, "")
    assert run.err == ("qlint: warning: QL303 [graph-lock-required] is selected but inactive on "
                       "this tree, so it reports nothing: no active [[lock]] entry: "
                       "bdrv_graph_co_rdlock is not declared\n")
    # A selector with some rule that can report is what the user meant: no warning.
    assert qlint("check", "a.c", "--select", "QL1,QL3", "-q", cwd=tree).err == ""
    run = qlint("check", "a.c", "--select", "QL1", "--extend-select", "QL3", cwd=tree)
    assert [line.split()[2] for line in run.err.splitlines()] == ["QL301", "QL302", "QL303", "QL304"]
    assert qlint("check", "a.c", "--select", "QL1", cwd=tree).err == ""
    write(tree, ".qlint.toml", 'select = ["QL303"]\n')
    assert "QL303 [graph-lock-required] is selected but inactive" in qlint("check", "a.c", cwd=tree).err


def test_an_entry_about_a_lock_of_an_inactive_pack_says_which_pack(tmp_path):
    # The user's entry is active, but the lock it names is declared by a pack this tree
    # does not activate: the reason names the lock and the pack (an internal error before).
    root = make_tree(tmp_path, {"a.c": "void wait_all(void);\nvoid f(void) { wait_all(); }\n"})
    write(root, ".qlint.toml", '[[excludes]]\nfunction = "wait_all"\nlock = "BQL"\n')
    run = qlint("check", "a.c", "--select", "QL103", cwd=root)
    assert (run.code, run.out) == (0, "")
    assert run.err == ("qlint: warning: QL103 [lock-excluded] is selected but inactive on this "
                       "tree, so it reports nothing: no active [[lock]] BQL: pack qemu-core is "
                       "inactive (qemu_bh_schedule is not declared)\n")
    assert "QL103 lock-excluded" in qlint("rules", cwd=root).out

def test_verbose_names_the_c_files_the_build_does_not_compile(tree):
    write(tree, "other/unbuilt.c", "int unbuilt;\n")
    write(tree, "z.c", "int z;\n")
    run = qlint("check", ".", cwd=tree)
    assert run.err == ("qlint: warning: 2 C file(s) not in the compile database were skipped (not "
                       "built in this configuration; -v names them)\n")
    run = qlint("check", ".", "-v", cwd=tree)
    lines = run.err.splitlines()
    assert ("qlint: warning: 2 C file(s) not in the compile database were skipped (not built in "
            "this configuration)") in lines
    assert [line for line in lines if line.startswith("qlint: skipped")] == [
        "qlint: skipped other/unbuilt.c: not in the compile database (not built in this configuration)",
        "qlint: skipped z.c: not in the compile database (not built in this configuration)"]


def progress_output(to_parse: int, parsed: int) -> str:
    out = io.StringIO()
    progress = ParseProgress(0.0, Console(file=out, force_terminal=True, width=80))
    progress.start(to_parse)
    time.sleep(0.3)
    for _ in range(parsed):
        progress.advance("a.c")
    time.sleep(0.2)
    progress.analysing()
    time.sleep(0.2)
    progress.stop()
    return out.getvalue()


def test_the_progress_bar_says_analysing_when_nothing_is_parsed():
    cached = progress_output(0, 0)
    assert "analysing" in cached and "parsing" not in cached and "0/" not in cached
    parsed = progress_output(2, 2)
    assert "parsing" in parsed and "2/2" in parsed and "analysing" in parsed


def test_analyse_reports_only_the_tus_it_parses(tmp_path, monkeypatch):
    from qlint.pipeline import Options, analyse
    calls = []

    class Recorder:
        def start(self, n):
            calls.append(("start", n))

        def advance(self, _file=""):
            calls.append(("advance",))

        def analysing(self):
            calls.append(("analysing",))

        def stop(self):
            calls.append(("stop",))
    root = make_tree(tmp_path, {"a.c": bh_source(CALL), "b.c": bh_source(CALL)})
    for name in ("a.c", "b.c"):     # written well before the parse: not racy (see the cache)
        os.utime(os.path.join(root, name), (time.time() - 10, time.time() - 10))
    monkeypatch.chdir(root)
    analyse(Options(paths=["."], jobs=1), progress=Recorder(), reuse=False)
    assert calls == [("start", 2), ("advance",), ("advance",), ("analysing",), ("stop",)]
    calls.clear()
    analyse(Options(paths=["."], jobs=1), progress=Recorder(), reuse=False)
    assert calls == [("start", 0), ("analysing",), ("stop",)]


# ---- explain and help -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lock-required", "ql101", "QL101", "LOCK-REQUIRED"])
def test_explain_takes_a_code_or_a_name(name):
    run = qlint("explain", name)
    assert (run.code, run.out) == (0, all_rules()["QL101"].doc().rstrip("\n") + "\n")


def test_explain_renders_markdown_on_a_terminal():
    code, out, err = on_a_terminal("explain", "QL000", cwd=REPO, env={"COLUMNS": "100"})
    assert (code, err) == (0, "")
    assert "## What it does" not in out and "```" not in out          # rendered, not raw
    plain = " ".join(out.split())
    for words in ("QL000 parse-error", "What it does", "Why is this bad?",
                  "'qemu/osdep.h' file not found"):
        assert words in plain


def test_explain_an_unknown_name():
    run = qlint("explain", "lock-requird")
    assert (run.code, run.err) == (2, "qlint: error: unknown rule name 'lock-requird' (see `qlint rules`)\n")


def commands(group, prefix=()):
    for name, command in sorted(group.commands.items()):
        yield prefix + (name,), command
        if hasattr(command, "commands"):
            yield from commands(command, prefix + (name,))


@pytest.mark.parametrize("columns", ["40", "80"])
def test_help_one_liners_are_not_cut(columns):
    for args in ([], ["graph"]):
        run = qlint(*args, "--help", env={"COLUMNS": columns})
        listing = run.out.split("Commands:\n", 1)[1]
        assert "..." not in listing and "…" not in listing, listing


def test_every_option_of_every_command_has_help():
    missing = [" ".join(path) + " " + param.opts[0]
               for path, command in commands(cli) for param in command.params
               if param.param_type_name == "option" and not param.help]
    assert missing == []

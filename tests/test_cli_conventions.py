"""flake8/ruff conventions: configuration found upward and overridden by the command line, exit
codes in every format, excludes, the compile-database requirement, progress, rules, explain."""
from __future__ import annotations

import io
import os
import shutil
import time

import pytest
from rich.console import Console

from conftest import FIXTURES, qlint
from fixture_trees import bh_source, make_tree, write
from qlint.progress import ParseProgress
from qlint.rules.registry import all_rules

CALL = "    qemu_laio_process_completions(s);\n"


@pytest.fixture
def tree(tmp_path):
    """a.c with a QL101 finding, skip/b.c with another."""
    return make_tree(tmp_path, {"a.c": bh_source(CALL), "skip/b.c": bh_source(CALL)})


def rules_found(run) -> list[tuple]:
    return [(f["rule"], f["path"]) for f in run.json["findings"]]


def json_check(root, *args):
    return qlint("check", *args, "--format", "json", "--jobs", "1", cwd=root)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_exit_codes_in_every_format(tree, fmt):
    assert qlint("check", "a.c", "--format", fmt, cwd=tree).code == 1
    assert qlint("check", "a.c", "--format", fmt, "--exit-zero", cwd=tree).code == 0
    assert qlint("check", "a.c", "--format", fmt, "--select", "QL103", cwd=tree).code == 0
    assert qlint("check", "nothing.c", "--format", fmt, cwd=tree).code == 2


def test_configuration_is_found_upward_in_pyproject_and_the_command_line_overrides_it(tree):
    write(tree, "pyproject.toml", '[tool.ruff]\nselect = ["E"]\n\n[tool.qlint]\nselect = ["QL103"]\n')
    assert rules_found(json_check(tree, "skip/b.c")) == []
    assert rules_found(json_check(tree, "skip/b.c", "--select", "QL101")) == [("QL101", "skip/b.c")]
    # A .qlint.toml nearer to the checked path wins over the pyproject.toml above it.
    write(tree, "skip/.qlint.toml", 'select = ["QL1"]\n')
    assert rules_found(json_check(tree, "skip/b.c")) == [("QL101", "skip/b.c")]


@pytest.mark.parametrize("config, message", [
    ("force-exclude = 'yes'\n", "5: 'force-exclude' must be true or false"),
    ("report-unused-suppressions = 1\n", "5: 'report-unused-suppressions' must be true or false"),
    ("baseline = ''\n", "5: 'baseline' must be a non-empty string"),
    ("select = ['QL101', 'QL9']\n", "5: 'select': unknown rule code 'QL9' (see `qlint rules`)"),
    ("jobs = 2\ncolor = true\n", "6: unknown key 'color'"),
])
def test_configuration_errors_name_the_file_the_line_and_the_key(tree, config, message):
    path = write(tree, "pyproject.toml", '[tool.ruff]\nselect = ["E"]\n\n[tool.qlint]\n' + config)
    run = qlint("check", "a.c", cwd=tree)
    assert (run.code, run.out) == (2, "")
    assert run.err == f"qlint: error: {path}:{message}\n"


def test_excludes_hold_for_named_files_only_with_force_exclude(tree):
    write(tree, ".qlint.toml", 'exclude = ["skip/*"]\n')
    assert rules_found(json_check(tree, ".")) == [("QL101", "a.c")]
    assert rules_found(json_check(tree, "a.c", "skip/b.c")) == [("QL101", "a.c"), ("QL101", "skip/b.c")]
    run = json_check(tree, "--force-exclude", "a.c", "skip/b.c")
    assert rules_found(run) == [("QL101", "a.c")]
    run = json_check(tree, "--force-exclude", "skip/b.c")
    assert (run.code, run.json["findings"], run.json["stats"]["tus"]) == (0, [], 0)
    write(tree, ".qlint.toml", 'exclude = ["skip/*"]\nforce-exclude = true\n')
    assert rules_found(json_check(tree, "a.c", "skip/b.c")) == [("QL101", "a.c")]


def test_no_degraded_fails_without_a_compile_database(tmp_path):
    write(str(tmp_path), "a.c", bh_source(CALL))
    run = qlint("check", "a.c", "--no-degraded", cwd=str(tmp_path))
    assert (run.code, run.out) == (2, "")
    assert run.err == ("qlint: error: no compile_commands.json in a.c or a directory above it, nor "
                       "in their build/ (configure QEMU, pass -p BUILD_DIR, or --degraded to "
                       "guess include paths)\n")
    # The last of --no-degraded / --degraded wins (a pre-commit hook's args come after its entry).
    shutil.copytree(os.path.join(FIXTURES, "include"), tmp_path / "include")
    run = qlint("check", "a.c", "--no-degraded", "--degraded", "-I", "include", cwd=str(tmp_path))
    assert run.code == 1 and "degraded mode" in run.err


def test_progress_bar_appears_only_after_a_moment():
    def run(delay: float) -> str:
        out = io.StringIO()
        progress = ParseProgress(delay, Console(file=out, force_terminal=True, width=80))
        progress.start(2)
        time.sleep(0.3)
        progress.advance("a.c")
        progress.advance("b.c")
        progress.stop()
        return out.getvalue()
    assert "parsing" in run(0.0)
    assert run(30.0) == ""


def test_no_progress_bar_when_stderr_is_not_a_terminal(tree):
    run = qlint("check", "a.c", cwd=tree)
    assert run.err == ""


def test_rules_lists_every_registered_rule_and_whether_it_is_active(tree):
    run = qlint("rules")
    assert [line.split()[0] for line in run.out.splitlines()] == list(all_rules())
    run = qlint("rules", "a.c", cwd=tree)
    status = {line.split()[0]: line for line in run.out.splitlines() if line.startswith("QL")}
    assert status["QL101"].endswith("  active")
    assert status["QL001"].endswith("  active")


@pytest.mark.parametrize("code", list(all_rules()))
def test_explain_prints_the_rule_documentation(code):
    run = qlint("explain", code)
    assert run.code == 0
    doc = all_rules()[code].doc()
    assert run.out == doc.rstrip("\n") + "\n"
    name = all_rules()[code].name
    assert doc.startswith(f"# {code} {name}\n")
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## How to fix"):
        assert f"\n{heading}\n" in doc


def test_explain_unknown_code():
    run = qlint("explain", "QL999")
    assert (run.code, run.err) == (2, "qlint: error: unknown rule code 'QL999' (see `qlint rules`)\n")


def test_output_to_a_fifo_writes_into_it_and_leaves_it_a_fifo(tree, tmp_path_factory):
    import stat
    import threading
    where = tmp_path_factory.mktemp("out")
    fifo = where / "report.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    run = qlint("check", "a.c", "--format", "json", "-o", str(fifo), cwd=tree)
    if reader.is_alive() and not received:
        with open(fifo, "w"):          # qlint never opened it: let the reader finish
            pass
    reader.join(timeout=60)
    assert run.code == 1, run.err
    assert '"findings"' in received[0]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert os.listdir(where) == ["report.fifo"]


def test_output_to_a_file_replaces_it_whole_and_leaves_no_temporary(tree, tmp_path_factory):
    where = tmp_path_factory.mktemp("out")
    out = where / "report.json"
    out.write_text("old")
    run = qlint("check", "a.c", "--format", "json", "-o", str(out), cwd=tree)
    assert run.code == 1 and out.read_text().startswith("{")
    assert os.listdir(where) == ["report.json"]

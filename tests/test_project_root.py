"""Results do not depend on the working directory: baseline fingerprints and the configuration's
globs are relative to the project root (the configuration file's directory, else the compile
database's source tree, else the git work tree), the command line's globs to the working
directory; reports show paths relative to the working directory, as ruff's do."""
from __future__ import annotations

import json
import os

import pytest

from conftest import qlint
from fixture_trees import bh_source, make_tree, write
from qlint.frontend import compdb
from qlint.project import Glob, find_root, git_root

CALL = "    qemu_laio_process_completions(s);\n"


@pytest.fixture
def tree(tmp_path):
    """block/a.c and block/qed.c with a QL101 finding each, util/u.c with another."""
    return make_tree(tmp_path, {"block/a.c": bh_source(CALL), "block/qed.c": bh_source(CALL),
                                "util/u.c": bh_source(CALL)})


def json_check(cwd, *args):
    return qlint("check", *args, "--format", "json", "--jobs", "1", cwd=cwd)


def test_fingerprints_are_the_same_from_any_directory_of_the_tree(tree):
    top = json_check(tree, "block/")
    inside = json_check(os.path.join(tree, "block"), ".")
    assert [f["path"] for f in top.json["findings"]] == ["block/a.c", "block/qed.c"]
    assert [f["path"] for f in inside.json["findings"]] == ["a.c", "qed.c"]     # as ruff shows
    assert [f["fingerprint"] for f in top.json["findings"]] == \
        [f["fingerprint"] for f in inside.json["findings"]]


def test_a_baseline_written_at_the_root_holds_in_a_subdirectory_and_is_the_same_file(tree):
    run = qlint("check", "block/", "--write-baseline", "base.json", "-q", cwd=tree)
    assert run.code == 0
    block = os.path.join(tree, "block")
    run = qlint("check", ".", "--baseline", "../base.json", "--format", "json", cwd=block)
    assert (run.code, run.json["findings"], run.json["stats"]["baselined"]) == (0, [], 2)
    assert qlint("check", ".", "--write-baseline", "../again.json", "-q", cwd=block).code == 0
    with open(os.path.join(tree, "base.json")) as a, open(os.path.join(tree, "again.json")) as b:
        assert a.read() == b.read()
    entries = json.load(open(os.path.join(tree, "base.json")))["findings"]
    assert [e["path"] for e in entries] == ["block/a.c", "block/qed.c"]


def test_configured_excludes_are_relative_to_the_project_root(tree):
    write(tree, ".qlint.toml", 'exclude = ["block/qed*.c"]\n')
    assert [f["path"] for f in json_check(tree, ".").json["findings"]] == ["block/a.c", "util/u.c"]
    block = os.path.join(tree, "block")
    assert [f["path"] for f in json_check(block, ".").json["findings"]] == ["a.c"]


def test_command_line_excludes_are_relative_to_the_working_directory(tree):
    block = os.path.join(tree, "block")
    assert [f["path"] for f in json_check(block, ".", "--exclude", "qed*.c").json["findings"]] == ["a.c"]
    assert [f["path"] for f in json_check(tree, ".", "--exclude", "block/qed.c,util").json["findings"]] \
        == ["block/a.c"]
    # --exclude replaces the configured globs, --extend-exclude adds to them.
    write(tree, ".qlint.toml", 'exclude = ["util/*"]\n')
    assert [f["path"] for f in json_check(tree, ".", "--exclude", "block/a.c").json["findings"]] == \
        ["block/qed.c", "util/u.c"]
    assert [f["path"] for f in json_check(tree, ".", "--extend-exclude", "block/a.c").json["findings"]] \
        == ["block/qed.c"]
    write(tree, ".qlint.toml", 'extend-exclude = ["util/*"]\n')
    assert [f["path"] for f in json_check(tree, ".").json["findings"]] == ["block/a.c", "block/qed.c"]


def test_per_file_ignores_are_anchored_like_excludes(tree):
    write(tree, ".qlint.toml", '[per-file-ignores]\n"block/qed.c" = ["QL1"]\n"u.c" = ["QL101"]\n')
    assert [f["path"] for f in json_check(tree, ".").json["findings"]] == ["block/a.c"]
    block = os.path.join(tree, "block")
    assert [f["path"] for f in json_check(block, ".").json["findings"]] == ["a.c"]
    run = json_check(block, ".", "--per-file-ignores", "a.c:QL101")        # replaces the config's
    assert [f["path"] for f in run.json["findings"]] == ["qed.c"]


def test_the_project_root_is_the_config_then_the_database_then_git(tmp_path):
    root = make_tree(tmp_path / "q", {"block/a.c": bh_source(CALL), "util/u.c": bh_source(CALL)})
    db = compdb.load(os.path.join(root, "build", "compile_commands.json"))
    assert db.source_root() == root
    start = os.path.join(root, "block")
    assert find_root(os.path.join(root, "block", ".qlint.toml"), db.source_root(), start) == start
    assert find_root(None, db.source_root(), start) == root
    os.makedirs(os.path.join(tmp_path, ".git"))
    assert git_root(start) == str(tmp_path)
    assert find_root(None, None, start) == str(tmp_path)


def test_a_database_kept_in_the_source_tree_and_generated_sources(tmp_path):
    root = make_tree(tmp_path, {"block/a.c": bh_source(CALL), "util/u.c": bh_source(CALL),
                                "build/gen/trace.c": "int t;\n"})
    assert compdb.load(os.path.join(root, "build", "compile_commands.json")).source_root() == root
    write(root, "fixtures/compile_commands.json", json.dumps([
        {"directory": root, "file": f"fixtures/{d}/x.c", "arguments": ["cc", "-c", "x.c"]}
        for d in ("one", "two")]))
    assert compdb.load(os.path.join(root, "fixtures", "compile_commands.json")).source_root() == \
        os.path.join(root, "fixtures")


@pytest.mark.parametrize("pattern, path, matched", [
    ("block/qed*.c", "block/qed-table.c", True),
    ("block/qed*.c", "sub/block/qed.c", False),         # anchored
    ("qed*.c", "sub/block/qed.c", True),                 # a name: anywhere below the anchor
    ("tests", "tests/unit/a.c", True),                   # a directory: what lies below it
    ("tests/*", "tests/unit/a.c", True),
    ("block/", "block/a.c", True),
    ("util/*.c", "block/a.c", False),
    ("*.c", "/elsewhere/a.c", True),
])
def test_glob_matching(pattern, path, matched):
    assert Glob(pattern, "/root").matches(os.path.join("/root", path)) is matched

"""The pre-commit hook, run by real pre-commit: it installs qlint from a snapshot of this
repository into its own environment (pip, from PyPI: libclang and clang-tidy wheels) once for
these tests. Skip locally with -m "not precommit"; CI runs it."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from fixture_trees import bh_source, make_tree, write

pytestmark = pytest.mark.precommit

BUG = "    qemu_laio_process_completions(s);\n"
FIXED = ("    aio_context_acquire(s->ctx);\n    qemu_laio_process_completions(s);\n"
         "    aio_context_release(s->ctx);\n")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(cwd: str, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, **GIT_ENV), check=True)
    return proc.stdout


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> str:
    """This working tree (tracked and new files) committed in a repository of its own, so that
    pre-commit tests what is here, committed or not."""
    dest = str(tmp_path_factory.mktemp("qlint-snapshot"))
    files = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, files):
        source = os.path.join(REPO, name)
        if os.path.isfile(source):
            with open(source, "rb") as f:
                data = f.read()
            os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
            with open(os.path.join(dest, name), "wb") as f:
                f.write(data)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    return dest


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("pre-commit-home"))


@pytest.fixture
def project(tmp_path) -> str:
    root = make_tree(tmp_path / "project", {"block/aio.c": bh_source(BUG),
                                            "tests/skip.c": bh_source(BUG)})
    write(root, ".qlint.toml", 'exclude = ["tests/*"]\n')
    git(root, "init", "-q")
    git(root, "add", "-A")
    return root


def try_repo(project: str, snapshot: str, home: str, *files: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PRE_COMMIT_HOME=home, PRE_COMMIT_COLOR="never", **GIT_ENV)
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", snapshot, "qlint",
                           "--files", *files], cwd=project, env=env, capture_output=True,
                          text=True, timeout=1800, stdin=subprocess.DEVNULL)


def test_hook_fails_on_a_finding_and_passes_once_it_is_fixed(project, snapshot, pre_commit_home):
    run = try_repo(project, snapshot, pre_commit_home, "block/aio.c", "tests/skip.c")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "qlint....................................................................Failed" \
        in run.stdout
    assert ("block/aio.c:6:5: QL101 [lock-required] qemu_laio_process_completions() requires "
            "AioContext, which is not held on this path from bh bh()\n") in run.stdout
    assert "tests/skip.c" not in run.stdout          # excluded by .qlint.toml (--force-exclude)

    write(project, "block/aio.c", bh_source(FIXED))
    run = try_repo(project, snapshot, pre_commit_home, "block/aio.c", "tests/skip.c")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "qlint....................................................................Passed" \
        in run.stdout


def test_hook_fails_loudly_without_a_compile_database(project, snapshot, pre_commit_home):
    os.unlink(os.path.join(project, "build", "compile_commands.json"))
    run = try_repo(project, snapshot, pre_commit_home, "block/aio.c")
    assert run.returncode == 1, run.stdout + run.stderr
    assert ("qlint: error: no compile_commands.json in block/aio.c or a directory above it, nor "
            "in their build/ (configure QEMU, pass -p BUILD_DIR, or --degraded to guess include "
            "paths)\n") in run.stdout


def test_wheel_ships_the_rule_packs_and_the_rule_docs(tmp_path, snapshot):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), snapshot], check=True, capture_output=True, timeout=900)
    [wheel] = [p for p in os.listdir(tmp_path) if p.endswith(".whl")]
    names = set(zipfile.ZipFile(tmp_path / wheel).namelist())
    assert {"qlint/packs/qemu-core.toml", "qlint/docs/rules/QL101.md",
            "qlint/docs/rules/QL001.md"} <= names

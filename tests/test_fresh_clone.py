"""A new user's first minutes, as CI sees them: the repository cloned into an empty directory
(no reference material beside it), a new virtual environment, and README.md's two set-up
commands run as written. Marked `precommit` (pip installs qlint and its wheels into a new
environment: a minute or two); skip locally with -m "not precommit", CI runs it.

The clone is of this repository's HEAD: what is committed, as CI's clone has it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO, qlint

pytestmark = pytest.mark.precommit

EXAMPLE = "qlint check --show-path fixtures/seed000/before"
TEST_COMMAND = "python3 -m pytest -q"
# The whole suite takes minutes in a clone (and the `qemu` tests a QEMU tree): run the tests
# that read what a clone must carry itself (the SARIF schema) and the rule documentation.
SUBSET = ["tests/test_sarif.py", "tests/test_replay_units.py", "tests/test_docs_examples.py"]


def setup_commands() -> list[str]:
    """The indented command lines of README.md's "Set-up on a fresh machine" section."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Set-up on a fresh machine\n", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(clone, environment): the clone alone in its directory, PATH leading to a new venv, and
    nothing of this process's environment that would import this working tree's qlint."""
    parent = tmp_path_factory.mktemp("fresh")
    clone = str(parent / "qlint")
    subprocess.run(["git", "clone", "-q", REPO, clone], check=True, capture_output=True)
    assert os.listdir(parent) == ["qlint"]
    venv = str(tmp_path_factory.mktemp("venv"))
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "QLINT_DEBUG", "VIRTUAL_ENV")}
    env.update(PATH=os.path.join(venv, "bin") + os.pathsep + env.get("PATH", ""),
               VIRTUAL_ENV=venv)
    return clone, env


def shell(command: str, cwd: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1800, stdin=subprocess.DEVNULL)


def test_readme_set_up_commands_work_in_a_fresh_clone(fresh):
    clone, env = fresh
    install, tests = setup_commands()
    assert install.endswith(" && " + EXAMPLE)
    assert tests.endswith(" && " + TEST_COMMAND)

    run = shell(install, clone, env)
    # README: "exits 1 with one finding and its path", the report this tree gives.
    expected = qlint(*EXAMPLE.split()[1:])
    assert (expected.code, run.returncode) == (1, 1), run.stderr[-2000:]
    assert expected.out.count("QL101") == 1 and "\n    1. " in expected.out
    assert run.stdout.endswith(expected.out), run.stdout[-2000:]

    run = shell(" ".join([tests, *SUBSET]), clone, env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary

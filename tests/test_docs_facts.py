"""What the documentation states about the project itself stays true: the release a pre-commit
snippet pins, the report formats the architecture lists, the upstream commits it cites."""
from __future__ import annotations

import glob
import os
import re
import subprocess
import tomllib

import pytest

from conftest import REPO
from qlint import __version__
from qlint.cli import check

# The upstream QEMU commits whose bugs the fixtures fixtures/seed000 and fixtures/seed003 put
# back, by their subject lines.
UPSTREAM = {
    "block/linux-aio: acquire AioContext before qemu_laio_process_completions": "e091f0e905",
    "mirror: Workaround for unexpected iohandler events during completion": "ab27c3b5e7",
}


def read(name: str) -> str:
    with open(os.path.join(REPO, name), encoding="utf-8") as f:
        return f.read()


def pyproject_version() -> str:
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["version"]


def git_tags() -> list[str] | None:
    proc = subprocess.run(["git", "tag", "--list"], cwd=REPO, capture_output=True, text=True)
    return proc.stdout.split() if proc.returncode == 0 else None


@pytest.mark.parametrize("doc", ["README.md", "docs/usage.md"])
def test_pre_commit_rev_is_the_release_of_the_pyproject_version(doc):
    revs = re.findall(r"^\s*rev:\s*(\S+)\s*$", read(doc), re.M)
    version = pyproject_version()
    assert revs == ["v" + version]
    assert __version__ == version
    tags = git_tags()
    if tags:                # a clone with tags: the release the snippet names is one of them
        assert "v" + version in tags


def test_architecture_lists_every_report_format():
    [line] = [ln for ln in read("docs/architecture.md").splitlines() if ln.startswith("qlint/report")]
    formats = list(next(p for p in check.params if p.name == "fmt").type.choices) + ["dot"]
    assert formats == ["text", "json", "sarif", "github", "dot"]
    assert [f for f in formats if f.lower() not in line.lower()] == []
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "qlint/report/*.py")))
    assert modules == ["__init__", "dot", "github", "jsonfmt", "model", "sarif", "text"]


DOCS = sorted(glob.glob(os.path.join(REPO, "docs", "*.md")) +
              glob.glob(os.path.join(REPO, "docs", "rules", "*.md")) + [os.path.join(REPO, "README.md")])


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: os.path.relpath(p, REPO))
def test_docs_cite_upstream_commits_not_fixture_seeds(path):
    """A bug is cited by its upstream QEMU commit id; `seed000` names only the fixture directory
    (prose such as "seed 000's bug" or "the seeds' era" cites a fixture as if it were a source)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert re.findall(r"(?i)(?<![/\w-])seed[ -]0\d\d\b|\bthe seeds?(?:'s|')?(?=\W)", text) == []
    for paragraph in paragraphs(text):
        for subject, commit in UPSTREAM.items():
            if subject in paragraph:
                cited = re.findall(r"\bcommit ([0-9a-f]{7,40})\b", paragraph)
                assert cited and all(c.startswith(commit) or commit.startswith(c) for c in cited), \
                    (subject, cited)


def test_the_rule_docs_of_the_fixed_bugs_cite_them():
    assert UPSTREAM["block/linux-aio: acquire AioContext before qemu_laio_process_completions"] \
        in read("docs/rules/QL101.md")
    assert UPSTREAM["mirror: Workaround for unexpected iohandler events during completion"] \
        in read("docs/rules/QL202.md")

"""The fuzz harness (scripts/fuzz.py) and the defects it found, each as a regression test."""
from __future__ import annotations

import os
import sys

import pytest

from conftest import REPO, qlint
from fixture_trees import bh_source, make_tree
from qemu_trees import qemu_tree

sys.path.insert(0, os.path.join(REPO, "scripts"))
import fuzz  # noqa: E402

CALL = "    qemu_laio_process_completions(s);\n"


def found(root) -> list[tuple]:
    run = qlint("check", "a.c", "--format", "json", "--jobs", "1", "--no-cache", cwd=root)
    return [(f["rule"], f["line"]) for f in run.json["findings"]], run.json["problems"]


@pytest.mark.qemu
def test_two_thousand_mutated_inputs_of_fixtures_and_qemu_files():
    """The CI run: seeded, every input through every stage and report format."""
    summary = fuzz.fuzz(seed=0, inputs=2000, jobs=2, timeout=60, qemu=qemu_tree("7.2"))
    print(summary.numbers())
    assert summary.corpus > len(fuzz.load_corpus(None))          # QEMU files are in it
    assert (summary.inputs, summary.failures, summary.distinct) == (2000, {}, [])


def test_fuzz_fixtures_briefly():
    summary = fuzz.fuzz(seed=1, inputs=100, jobs=2, timeout=60)
    assert (summary.inputs, summary.failures, summary.distinct) == (100, {}, [])
    assert summary.findings > 0


def test_generation_is_seeded():
    corpus = fuzz.load_corpus(None)
    assert fuzz.generate(7, 20, corpus) == fuzz.generate(7, 20, corpus)
    assert fuzz.generate(7, 20, corpus) != fuzz.generate(8, 20, corpus)


@pytest.mark.parametrize("fault, failure", [("hang", "hang"), ("crash", "crash")])
def test_a_hang_or_crash_fails_the_run(monkeypatch, fault, failure):
    monkeypatch.setenv("QLINT_FAULT_INJECT", f"{fault}:input-3")
    summary = fuzz.fuzz(seed=0, inputs=5, jobs=2, timeout=2)
    assert summary.failures == {failure: 1}


def test_a_finding_outside_its_file_is_reported(tmp_path):
    from qlint.report.model import Finding, Related, Step
    source = tmp_path / "input.c"
    source.write_bytes(b"one\r\ntwo\rthree\n")                       # clang: 4 lines
    finding = Finding("QL101", "lock-required", "input.c", 4, 1, "f", "m",
                      trace=[Step("f", "other.h", 1, "")], related=[Related("input.c", 5, "")])
    assert fuzz.locations_outside([finding], str(tmp_path), {str(source)}) == [
        "QL101 step in other.h, which the input does not include",
        "QL101 related at input.c:5, outside lines 1-4"]


# ---- defects the fuzzer found -----------------------------------------------------------

@pytest.mark.parametrize("deep", [
    "    int v = 1" + " + 1" * 3000 + ";\n",
    "    int v = s->ready" + " ? 1 : s->ready" * 1500 + " ? 1 : 0;\n",
    "    static int w[] = { 1" + " + 1" * 3000 + " };\n",
    "    int v = 1" + " + 1" * 12000 + ";\n",          # past the extractor's depth bound
], ids=["sum", "conditional", "initializer", "beyond-bound"])
def test_a_deeply_nested_expression_does_not_lose_the_file(tmp_path, deep):
    """Was: RecursionError in the extractor, the TU reported as failed and its findings lost."""
    root = make_tree(tmp_path, {"a.c": bh_source(deep + CALL)})
    findings, problems = found(root)
    assert (findings, problems) == ([("QL101", 7)], [])


def test_a_suppression_counts_lines_as_clang_does(tmp_path):
    """Was: a lone CR ends a line for clang but not for the suppression scanner, so a
    suppression after one was matched against the wrong line."""
    body = "    int a;\r    int b;\r\n    /* qlint: ignore[QL101] */\n" + CALL
    root = make_tree(tmp_path, {"a.c": bh_source(body)})
    findings, _problems = found(root)
    assert findings == []
    root = make_tree(tmp_path / "unsuppressed", {"a.c": bh_source(body.replace("ignore", "x"))})
    assert found(root)[0] == [("QL101", 9)]

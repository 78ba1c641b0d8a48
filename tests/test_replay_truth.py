"""The truth benchmark's pairs (benchmarks/replay_truth/), one per rule: the bug's finding is
confirmed, the fixed twin has no finding, and the bug's finding replayed on it is not
reproduced, over the whole bounded space. (benchmarks/replay_truth.py runs all the pairs and
prints the confusion table.)"""
from __future__ import annotations

import importlib.util
import os

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location(
    "replay_truth", os.path.join(REPO, "benchmarks", "replay_truth.py"))
truth = importlib.util.module_from_spec(spec)
spec.loader.exec_module(truth)

ONE_PER_RULE = {
    "counter-bh": ("QL101", "counter-wrap"),
    "switch-leak": ("QL102", "section-open"),
    "excluded-wait": ("QL103", "deadlock"),
    "drain-error-path": ("QL201", "section-open"),
    "deferral-open": ("QL202", "guest-in-drained"),
    "inside-drained": ("QL203", "request-in-flight"),
}


def test_every_pair_is_labelled_and_there_are_enough_shapes():
    pairs = sorted(d for d in os.listdir(truth.ROOT)
                   if os.path.isdir(os.path.join(truth.ROOT, d, "bug")))
    assert pairs == sorted(truth.PAIRS) and len(pairs) >= 20
    assert {truth.PAIRS[p] for p in pairs} == {"QL101", "QL102", "QL103", "QL201", "QL202",
                                               "QL203"}


@pytest.mark.parametrize("pair", sorted(ONE_PER_RULE))
def test_bug_confirmed_and_fixed_twin_not_reproduced(pair):
    rule, invariant = ONE_PER_RULE[pair]
    r = truth.judge_pair(pair)
    assert (r["rule"], r["bug"], r["detail"]) == (rule, "confirmed", invariant)
    assert (r["fixed"], r["fixed_complete"], r["fixed_finding"]) == ("not-reproduced", True, "gone")

#!/usr/bin/env python3
"""Benchmark of the runtime checker (qlint replay): for each before/after pair, the time to the
first counterexample and the whole replay of the fault, and the exhaustive exploration of the
fixed code: states, schedules, states and schedules per second. Prints a Markdown table
(docs/replay-benchmarks.md holds a run). Not a test: numbers depend on the machine.

    python3 benchmarks/replay.py            # the fixtures
    python3 benchmarks/replay.py --qemu     # also real QEMU 7.2 (scripts/fetch-qemu.sh 7.2)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from qlint.pipeline import Options, analyse  # noqa: E402
from qlint.replay import explore  # noqa: E402
from qlint.replay.run import Judge, Mode, replay_finding  # noqa: E402
from qlint.replay.scenario import build  # noqa: E402

FIXTURES = ["seed000", "seed003", "replay/error-path", "replay/bh-lock", "replay/deferred-end",
            "replay/typedef-counter", "replay/enum-macro", "replay/sizeof-loop",
            "replay/pointer-chain"]
LAIO = "block/linux-aio.c"
PUT_BACK = ("    aio_context_acquire(s->aio_context);\n    qemu_laio_process_completions(s);\n",
            "    qemu_laio_process_completions(s);\n    aio_context_acquire(s->aio_context);\n")


def findings(path: str) -> tuple[list[dict], object]:
    """The findings of `path` (as qlint check --format json reports them) and its analysis."""
    report = subprocess.run([sys.executable, "-m", "qlint", "check", path, "--format", "json",
                             "--jobs", "1"], capture_output=True, text=True, check=False)
    return json.loads(report.stdout)["findings"], analysis_of(path)


def analysis_of(path: str, whole_program: bool = True):
    """What the replay reads: the program, its call graph and the active pack."""
    return analyse(Options(paths=[path], jobs=1, whole_program=whole_program), reuse=False)


def measure(name: str, finding: dict, before, after, pct_runs: int,
            bound: int | None) -> dict:
    world = build(finding, before)
    search = explore.exhaustive(world, world.bounds["preemptions"], world.bounds["states"],
                                Judge(world))
    started = time.perf_counter()
    confirmation = replay_finding(finding, before, Mode()).confirmation
    replay_seconds = time.perf_counter() - started
    pct = replay_finding(finding, before, Mode(pct=True, seed=1, runs=pct_runs)).confirmation
    fixed = json.loads(json.dumps(finding).replace(f"{name}/before", f"{name}/after"))
    started = time.perf_counter()
    clean = replay_finding(fixed, after, Mode(bound=bound)).confirmation
    seconds = time.perf_counter() - started
    section = re.search(r"the (\S+) section", finding.get("message", ""))
    label = f"{name} {finding['rule']}" + (f" ({section.group(1)})" if section else "")
    return {"name": label, "invariant": confirmation.get("invariant", "-"),
            "first": search.found_after, "replay": replay_seconds,
            "before_states": confirmation.get("coverage", {}).get("states", 0),
            "steps": confirmation.get("steps", 0),
            "pct": f"{pct.get('hits', 0)}/{pct.get('runs', 0)} (first {pct.get('first_hit', 0)})",
            "status_after": clean["status"] + ("" if clean.get("complete") else " (cut)"),
            "after_states": clean.get("coverage", {}).get("states", 0),
            "after_schedules": clean.get("coverage", {}).get("schedules", 0),
            "after_seconds": seconds}


def fixture_rows(pct_runs: int, bound: int | None) -> list[dict]:
    rows = []
    os.chdir(REPO)
    for name in FIXTURES:
        found, before = findings(f"fixtures/{name}/before")
        after = analysis_of(f"fixtures/{name}/after")
        for finding in found:
            rows.append(measure(name, finding, before, after, pct_runs, bound))
    return rows


def qemu_rows(pct_runs: int, bound: int | None) -> list[dict]:
    from qemu_trees import patch_file, qemu_tree, scratch_copy
    tree = qemu_tree("7.2")
    scratch = tempfile.mkdtemp(prefix="qlint-bench-")
    try:
        # The program is linux-aio.c alone, in the copy (its `context-include`) and in the
        # tree: on the whole program a replay's main thread has every root of it to run.
        copy = scratch_copy(tree, scratch, context=(LAIO,))
        patch_file(os.path.join(copy, LAIO), *PUT_BACK)
        os.chdir(copy)
        found, before = findings(LAIO)
        os.chdir(tree)
        shipped = analysis_of(LAIO, whole_program=False)
        rows = []
        for finding in found:
            os.chdir(copy)
            row = measure("qemu-7.2", finding, before, shipped, pct_runs, bound)
            rows.append(row)
        return rows
    finally:
        os.chdir(REPO)
        shutil.rmtree(scratch, ignore_errors=True)


def table(rows: list[dict]) -> str:
    head = ("| finding | before: invariant | first counterexample | whole replay | states | "
            "steps | PCT hits (seed 1) | after | states | schedules | seconds | states/s | "
            "schedules/s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        rate = r["after_states"] / r["after_seconds"] if r["after_seconds"] else 0
        srate = r["after_schedules"] / r["after_seconds"] if r["after_seconds"] else 0
        lines.append(f"| {r['name']} | {r['invariant']} | {r['first']:.3f} s | {r['replay']:.3f} s | "
                     f"{r['before_states']} | {r['steps']} | {r['pct']} | {r['status_after']} | "
                     f"{r['after_states']} | {r['after_schedules']} | {r['after_seconds']:.3f} | "
                     f"{rate:,.0f} | {srate:,.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qemu", action="store_true", help="also real QEMU 7.2")
    parser.add_argument("--pct-runs", type=int, default=100)
    parser.add_argument("--bound", type=int, help="preemption bound for the fixed code "
                        "(default: the model's, 2)")
    args = parser.parse_args()
    rows = fixture_rows(args.pct_runs, args.bound)
    if args.qemu:
        rows += qemu_rows(args.pct_runs, args.bound)
    sys.stdout.write(table(rows))


if __name__ == "__main__":
    main()

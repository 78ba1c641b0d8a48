"""How far the runtime checker's verdicts can be trusted: a labelled benchmark (prints a table).

    python benchmarks/replay_truth.py [--jobs 2] [PAIR ...]

benchmarks/replay_truth/ holds bug/fixed pairs of small programs written against QEMU's
event-loop API (include/qemu/truth.h): counters, queues, flags; a lock missing on one branch of
either polarity; loops of each shape; a callback through a struct field; timers, fd handlers,
main-loop handlers, bottom halves, coroutines, threads; a submitter racing a completion; the
kernel's AIO ring; leaked locks and sections, an excluded lock, deferrals, a function that must
run drained. Each bug has one finding of the labelled rule. For each pair:

  bug     `qlint check BUG --confirm`: the finding's verdict (it should be `confirmed`);
  fixed   the same finding replayed on the fixed twin (`qlint replay`, the report's paths
          pointed at it): `not-reproduced` is right, `confirmed` is a false confirmation;
          `qlint check FIXED` must not report the finding.

The table counts verdicts per side; the goal is no false confirmation and at least 90% of the
bugs confirmed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.join(REPO, "benchmarks", "replay_truth")

# pair -> the rule of its bug's finding
PAIRS = {
    "counter-bh": "QL101",
    "submit-race": "QL101",
    "queue-pop": "QL101",
    "flag-race": "QL101",
    "branch-true": "QL101",
    "branch-false": "QL101",
    "loop-for-break": "QL101",
    "loop-while": "QL101",
    "loop-do-while": "QL101",
    "field-callback": "QL101",
    "timer": "QL101",
    "coroutine-enter": "QL101",
    "thread": "QL101",
    "main-loop-handler": "QL101",
    "ring-reap": "QL101",
    "mutex-error-path": "QL102",
    "switch-leak": "QL102",
    "release-unheld": "QL102",
    "excluded-wait": "QL103",
    "drain-error-path": "QL201",
    "drain-extra-end": "QL201",
    "deferred-callback-end": "QL201",
    "deferral-open": "QL202",
    "inside-drained": "QL203",
}
VERDICTS = ("confirmed", "violation-not-attributable", "not-reproduced", "not-modelled",
            "no finding", "error")


def qlint(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "qlint", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def judge_pair(name: str) -> dict:
    rule = PAIRS[name]
    started = time.monotonic()
    out = {"pair": name, "rule": rule}
    run = qlint("check", f"{name}/bug", "--format", "json", "--confirm", "--jobs", "1")
    if run.returncode not in (0, 1):
        return dict(out, bug="error", fixed="error", detail=run.stderr.strip()[-300:])
    report = json.loads(run.stdout)
    mine = [f for f in report["findings"] if f["rule"] == rule]
    if not mine:
        return dict(out, bug="no finding", fixed="no finding", detail="")
    finding = mine[0]
    c = finding["confirmation"]
    out["bug"] = c["status"]
    out["detail"] = c.get("invariant") or c.get("reason", "")
    fixed = qlint("check", f"{name}/fixed", "--format", "json", "--jobs", "1")
    still = [f for f in json.loads(fixed.stdout)["findings"] if f["rule"] == rule] \
        if fixed.returncode in (0, 1) else None
    out["fixed_finding"] = "error" if still is None else ("still reported" if still else "gone")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(json.dumps(finding).replace(f"{name}/bug/", f"{name}/fixed/"))
        path = f.name
    try:
        again = qlint("replay", path, "--format", "json")
    finally:
        os.unlink(path)
    if again.returncode not in (0, 1):
        out["fixed"] = "error"
        out["detail"] += " / " + again.stderr.strip()[-200:]
    else:
        c2 = json.loads(again.stdout)["replays"][0]["confirmation"]
        out["fixed"] = c2["status"]
        out["fixed_complete"] = c2.get("complete")
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def table(results) -> str:
    lines = [f"{'':8}" + "".join(f"{v:>28}" for v in VERDICTS)]
    for side in ("bug", "fixed"):
        counts = [sum(r[side] == v for r in results) for v in VERDICTS]
        lines.append(f"{side:8}" + "".join(f"{n:>28}" for n in counts))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", nargs="*", default=sorted(PAIRS))
    ap.add_argument("--jobs", type=int, default=2)
    opts = ap.parse_args()
    with ThreadPoolExecutor(opts.jobs) as pool:
        results = list(pool.map(judge_pair, opts.pairs))
    print(f"{'pair':24} {'rule':6} {'bug':28} {'fixed':28} {'fixed check':15} seconds  detail")
    for r in results:
        fixed = r["fixed"] + ("" if r.get("fixed_complete", True) else " (cut)")
        print(f"{r['pair']:24} {r['rule']:6} {r['bug']:28} {fixed:28} "
              f"{r.get('fixed_finding', ''):15} {r.get('seconds', 0):7}  {r.get('detail', '')}")
    print()
    print(table(results))
    bugs = len(results)
    confirmed = sum(r["bug"] == "confirmed" for r in results)
    false = sum(r["fixed"] == "confirmed" for r in results)
    print(f"\nbugs confirmed: {confirmed}/{bugs} ({100 * confirmed / max(bugs, 1):.0f}%); "
          f"false confirmations: {false}")


if __name__ == "__main__":
    main()

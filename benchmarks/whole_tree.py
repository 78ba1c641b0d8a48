"""qlint over every translation unit of a configured QEMU build (a benchmark: prints numbers).

    python benchmarks/whole_tree.py [--version 7.2|10.0] [--jobs 2]

Runs `qlint check .` at the tree's root twice, cold (empty cache) and warm, and prints wall
time, peak RSS of the whole process tree, TUs parsed, TUs with parse errors, TUs lost to a
crash or a timeout (must be 0), the problems' first lines, and the findings per rule.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

from qemu_trees import qemu_tree  # noqa: E402


def run(tree: str, jobs: int, cache: str) -> tuple[float, int, dict, str]:
    report = os.path.join(cache, "report.json")
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "qlint", "check", ".",
           "--format", "json", "-o", report, "-j", str(jobs), "--cache-dir", cache]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"qlint failed ({proc.returncode}): {proc.stderr[-2000:]}")
    lines = proc.stderr.strip().splitlines()
    rss_kib = int(lines[-1])            # /usr/bin/time: the largest process (workers included)
    with open(report) as f:
        return seconds, rss_kib, json.load(f), "\n".join(lines[:-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="7.2")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    opts = ap.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "qlint")],
                   check=True, stdout=subprocess.DEVNULL)
    tree = qemu_tree(opts.version)
    with tempfile.TemporaryDirectory() as cache:
        cold, rss, data, stderr = run(tree, opts.jobs, cache)
        warm, _rss, _data, _err = run(tree, opts.jobs, cache)
    stats = data["stats"]
    print(f"QEMU {opts.version}, whole configured build, {opts.jobs} jobs")
    print(f"TUs {stats['tus']}, with parse errors {stats['tus_with_errors']}, "
          f"failed (crash, timeout, missing) {stats['tus_failed']}, degraded {stats['degraded_tus']}")
    print(f"functions {stats['functions']}, call edges {stats['call_edges']}, "
          f"registrations {stats['registrations']}")
    print(f"cold {cold:.1f} s, warm {warm:.2f} s, peak RSS {rss / 1024:.0f} MiB")
    by_rule = collections.Counter(f["rule"] for f in data["findings"])
    print(f"findings {len(data['findings'])}: " +
          ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())))
    for p in data["problems"]:
        print(f"problem: {p['path']}: {p['kind']}: {p['message'][:160]}")
    for line in stderr.splitlines():
        if line.startswith("Command exited with non-zero status"):    # /usr/bin/time's
            continue
        print(f"stderr: {line[:200]}")


if __name__ == "__main__":
    main()

"""`qlint check FILE` on a whole configured QEMU build (a benchmark: prints numbers).

    python benchmarks/one_file.py [--version 7.2] [--jobs 2] [--file block/linux-aio.c]
                                  [--change block/qed.c] [--copy DIR --cache-dir DIR]

The context of a check is the whole program (docs/usage.md), so a first run parses every
translation unit of the build. In a scratch copy of the tree (hard links; `--copy` reuses one
made earlier, with its `--cache-dir`), runs `qlint check FILE` first (cold when the cache is
empty), then warm three times, then with one other .c changed (a comment appended: that TU is
parsed again and the whole program analysed again), and prints wall time, peak RSS of the
largest process and what was parsed.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

from qemu_trees import qemu_tree, scratch_copy  # noqa: E402


def run(copy: str, path: str, jobs: int, cache: str) -> tuple[float, int, str]:
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "qlint", "check", path, "-v",
           "-j", str(jobs), "--cache-dir", cache, "--exit-zero"]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=copy, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"qlint failed ({proc.returncode}): {proc.stderr[-2000:]}")
    lines = proc.stderr.strip().splitlines()
    parsed = next((line for line in lines if re.search(r"translation unit\(s\):|nothing changed",
                                                      line)), "")
    findings = len(proc.stdout.splitlines())
    return seconds, int(lines[-1]), f"{findings} line(s) of findings; {parsed}"


def show(label: str, result: tuple[float, int, str]) -> None:
    seconds, rss_kib, what = result
    print(f"{label:<28} {seconds:7.2f} s  {rss_kib / 1024:6.0f} MiB  {what}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="7.2")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--file", default="block/linux-aio.c")
    ap.add_argument("--change", default="block/qed.c")
    ap.add_argument("--copy", help="a scratch copy made earlier (kept)")
    ap.add_argument("--cache-dir", help="the cache to use (kept)")
    opts = ap.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "qlint")],
                   check=True, stdout=subprocess.DEVNULL)
    scratch = tempfile.mkdtemp(prefix="qlint-bench-")
    copy = opts.copy or scratch_copy(qemu_tree(opts.version), scratch)
    cache = opts.cache_dir or os.path.join(scratch, "cache")
    changed = os.path.join(copy, opts.change)
    with open(changed, encoding="utf-8") as f:
        original = f.read()
    print(f"QEMU {opts.version}, qlint check {opts.file}, {opts.jobs} jobs, in {copy}")
    try:
        show("first run", run(copy, opts.file, opts.jobs, cache))
        for i in range(3):
            show(f"warm {i + 1}", run(copy, opts.file, opts.jobs, cache))
        os.unlink(changed)                       # breaks the hard link to the tree
        with open(changed, "w", encoding="utf-8") as f:
            f.write(original + "/* changed */\n")
        show(f"{opts.change} changed", run(copy, opts.file, opts.jobs, cache))
        show("warm again", run(copy, opts.file, opts.jobs, cache))
    finally:
        os.unlink(changed)
        with open(changed, "w", encoding="utf-8") as f:
            f.write(original)
        shutil.rmtree(scratch, ignore_errors=True)     # a copy or cache given is elsewhere


if __name__ == "__main__":
    main()

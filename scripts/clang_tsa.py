"""Clang's own Thread Safety Analysis over the TUs qlint would check, for comparison.

    python scripts/clang_tsa.py [--clang clang-16] [--jobs 2] TREE PATH...

Runs `clang -fsyntax-only -Wthread-safety` (every other warning off) with each TU's flags from
TREE's compile database and prints one JSON object per warning: file (relative to TREE), line,
function-free message and the warning flag. Installs Debian's clang-16 with apt if it is
missing. QEMU's TSA macros (include/qemu/clang-tsa.h) expand to attributes only under clang,
so this is what a clang build of the same tree reports about GRAPH_RDLOCK and friends.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from qlint.frontend import discover  # noqa: E402

WARNING = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):\d+: warning: (?P<message>.*) "
                     r"\[(?P<flag>-Wthread-safety[\w-]*)\]$", re.M)


def ensure_clang(clang: str) -> str:
    if shutil.which(clang):
        return clang
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(sudo + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                           "-qq", clang], check=True, stdout=subprocess.DEVNULL)
    return clang


def warnings_of(clang: str, tree: str, job) -> list[dict]:
    flags = [a for a in job.args if not a.startswith("-W")]
    cmd = [clang, "-fsyntax-only", *flags, "-Wno-everything", "-Wthread-safety", job.file]
    proc = subprocess.run(cmd, cwd=job.directory, capture_output=True, text=True)
    out = []
    for m in WARNING.finditer(proc.stderr):
        path = os.path.normpath(os.path.join(job.directory, m["file"]))
        out.append({"file": os.path.relpath(path, tree), "line": int(m["line"]),
                    "message": m["message"], "flag": m["flag"]})
    return out


def clang_tsa(tree: str, paths: list[str], clang: str = "clang-16", jobs: int = 2) -> list[dict]:
    """The distinct TSA warnings over the TUs `qlint check PATHS` would parse, sorted."""
    clang = ensure_clang(clang)
    cwd = os.getcwd()
    os.chdir(tree)
    try:
        plan = discover.plan(paths, None)
    finally:
        os.chdir(cwd)
    with ThreadPoolExecutor(jobs) as pool:
        found = [w for ws in pool.map(lambda j: warnings_of(clang, tree, j), plan.jobs) for w in ws]
    unique = {(w["file"], w["line"], w["message"]): w for w in found}
    return [unique[k] for k in sorted(unique)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clang", default="clang-16")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("tree")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    for w in clang_tsa(os.path.abspath(args.tree), args.paths, args.clang, args.jobs):
        print(json.dumps(w, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

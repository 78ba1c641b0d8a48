"""qlint against the parse floor on real QEMU (a benchmark: prints numbers and ratios).

    python benchmarks/parse_floor.py [--version 7.2] [--jobs 2] [--clang clang-16] [DIR ...]

On the given directories of a configured QEMU tree (default: block util), with the same TUs,
the same flags and the same parallelism:
  * cold `qlint check` (empty cache) vs `clang -fsyntax-only` over the same TUs (target <= 1.3);
  * warm run with nothing changed (target <= 0.1 x cold);
  * one .c file changed, one widely included header changed (TUs re-parsed);
  * peak RSS; and where a cold run's time goes (parse, IR extraction, graph, rules).
All runs work in a scratch copy (hard links) of the cached tree whose `.qlint.toml` makes the
named directories the program (`context-include`): qlint parses the TUs clang does.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from qemu_trees import qemu_tree, scratch_copy  # noqa: E402

from qlint.frontend import discover  # noqa: E402


def append_comment(path: str) -> None:
    """Change a file's content (breaking the scratch copy's hard link)."""
    with open(path) as f:
        text = f.read()
    os.unlink(path)
    with open(path, "w") as f:
        f.write(text + "/* changed by the benchmark */\n")


def clang_floor(clang: str, jobs_list, workers: int) -> float:
    def one(job):
        cmd = [clang, "-fsyntax-only", *job.args, "-Wno-unknown-warning-option",
               "-Wno-unused-command-line-argument", job.file]
        subprocess.run(cmd, cwd=job.directory, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, jobs_list))
    return time.monotonic() - start


# qlint with its precompiled prefix headers turned off, for measuring what they save.
WITHOUT_PCH = ("import qlint.frontend.collect as c; c._prefixes = lambda *a: {}; "
               "from qlint.cli import main; main()")


def qlint_run(tree: str, dirs, workers: int, cache: str, verbose=False, pch=True):
    start_qlint = ["-m", "qlint"] if pch else ["-c", WITHOUT_PCH]
    cmd = [sys.executable, *start_qlint, "check", *dirs, "--format", "json", "-o", os.devnull,
           "-j", str(workers), "--cache-dir", cache, "-q"] + (["-v"] if verbose else [])
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"qlint failed: {proc.stderr}")
    return seconds, proc.stderr


def parsed_count(stderr: str) -> str:
    line = next((l for l in stderr.splitlines() if "translation unit(s):" in l), "")
    return line.replace("qlint: ", "")


def breakdown(tree: str, dirs, jobs_list) -> dict:
    """One process, no cache: where the time of a cold run goes."""
    from qlint.frontend.collect import first_include
    from qlint.frontend.extract import Extractor
    from qlint.frontend.parse import PrefixTask, _includes, _parse, parse_args
    from qlint.config import Config, build_pack
    from qlint.graph.callgraph import CallGraph
    from qlint.graph.program import Program
    from qlint.infer.contracts import Settings
    from qlint.pipeline import check_facts
    from qlint.rules.registry import all_rules
    out = {"pch": 0.0, "parse": 0.0, "extract": 0.0}
    prefixes = {}
    tus = []
    with tempfile.TemporaryDirectory() as tmp:
        for job in jobs_list:
            header = first_include(job.file, job)
            group = (job.args, job.directory, header)
            if header and group not in prefixes:
                start = time.monotonic()
                prefixes[group] = PrefixTask(header, job.args, job.directory,
                                             os.path.join(tmp, f"{len(prefixes)}.pch")).run()
                out["pch"] += time.monotonic() - start
            pch = prefixes.get(group)
            args = parse_args(job) + (["-include-pch", pch.output] if pch and not pch.problem else [])
            start = time.monotonic()
            tu = _parse(job.file, args, job.directory)
            out["parse"] += time.monotonic() - start
            start = time.monotonic()
            tus.append(Extractor(tu, job.file, includes=_includes(tu)).run())
            out["extract"] += time.monotonic() - start
    start = time.monotonic()
    program = Program(tus)
    pack = build_pack(Config())
    CallGraph(program, pack.active(program.declared))
    out["graph"] = time.monotonic() - start
    start = time.monotonic()       # the program and graph again, inference, then the rules
    check_facts(tus, pack, list(all_rules().values()), tree, settings=Settings())
    out["rules"] = time.monotonic() - start
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="*", default=["block", "util"])
    ap.add_argument("--version", default="7.2")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--clang", default="clang-16")
    ap.add_argument("--touch-c", default="block/qcow2.c")
    ap.add_argument("--touch-h", default="include/block/aio.h")
    opts = ap.parse_args()
    # An installed package has its bytecode compiled; a checkout may not (PYTHONDONTWRITEBYTECODE).
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "qlint")],
                   check=True, stdout=subprocess.DEVNULL)
    tree = qemu_tree(opts.version)
    # qlint's program is the whole build unless the configuration narrows it: the copy's
    # `context-include` makes it the named directories, the TUs clang parses.
    context = tuple(f"{d.rstrip('/')}/*" if os.path.isdir(os.path.join(tree, d)) else d
                    for d in opts.dirs)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "scratch"))
        copy = scratch_copy(tree, os.path.join(tmp, "scratch"), context=context)
        os.chdir(copy)
        jobs_list = discover.plan(opts.dirs, None).jobs
        print(f"QEMU {opts.version}: {' '.join(opts.dirs)}: {len(jobs_list)} TUs, {opts.jobs} jobs")

        floor = clang_floor(opts.clang, jobs_list, opts.jobs)
        print(f"{opts.clang} -fsyntax-only:        {floor:7.2f} s")
        cache = os.path.join(tmp, "cache")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        cold, err = qlint_run(copy, opts.dirs, opts.jobs, cache, verbose=True)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        warm, _ = qlint_run(copy, opts.dirs, opts.jobs, cache)
        print(f"qlint cold:                   {cold:7.2f} s   ratio to clang {cold / floor:5.2f} "
              f"(target <= 1.3)   [{parsed_count(err)}]")
        print(f"qlint warm, nothing changed:  {warm:7.2f} s   ratio to cold  {warm / cold:5.3f} "
              f"(target <= 0.1)")
        no_pch, _ = qlint_run(copy, opts.dirs, opts.jobs, os.path.join(tmp, "nopch"), pch=False)
        print(f"qlint cold, no PCH:           {no_pch:7.2f} s   ratio to clang {no_pch / floor:5.2f}")
        print(f"peak RSS of one process:      {max(rss, before) / 1024:7.1f} MiB")

        append_comment(os.path.join(copy, opts.touch_c))
        touched_c, err = qlint_run(copy, opts.dirs, opts.jobs, cache, verbose=True)
        print(f"one .c changed ({opts.touch_c}): {touched_c:6.2f} s   target <= 3 s   "
              f"[{parsed_count(err)}]")
        append_comment(os.path.join(copy, opts.touch_h))
        touched_h, err = qlint_run(copy, opts.dirs, opts.jobs, cache, verbose=True)
        print(f"header changed ({opts.touch_h}): {touched_h:6.2f} s   [{parsed_count(err)}]")

        parts = breakdown(copy, opts.dirs, jobs_list)
    total = sum(parts.values())
    print("cold run, one process, by stage:")
    for name, seconds in parts.items():
        print(f"  {name:8} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")


if __name__ == "__main__":
    main()

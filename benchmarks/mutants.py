"""Mutation recall on real QEMU: put locking bugs into a tree, one at a time, and count how many
qlint flags (a benchmark: prints a table; seeded and deterministic).

    python benchmarks/mutants.py --version 7.2 [--count 120] [--seed 1] [--jobs 2]
    python benchmarks/mutants.py --version 10.0 [--count 60] [--seed 1]

Both trees are mutated in the same scope, the block layer (block/, blockdev.c, block.c, job.c,
blockjob.c, hw/block/, hw/scsi/; on 10.0 with the generated coroutine wrappers of
build/block/block-gen.c, analysed but not mutated), and by default analysed in that scope alone; with
--whole-program the program is the whole build, as `qlint check` takes it (minutes per
mutant and configuration on 10.0: --only picks the configurations).
QEMU 7.2: a mutant removes one aio_context_acquire() with the aio_context_release() calls of the same argument that follow
it in the function, or moves the statement right after an aio_context_acquire() above it.
QEMU 10.0: a mutant removes one GRAPH_RDLOCK_GUARD() / GRAPH_RDLOCK_GUARD_MAINLOOP() (or the
guard of a WITH_GRAPH_RDLOCK_GUARD() block), one bdrv_graph_co_rdlock() or
bdrv_graph_rdlock_main_loop() with its unlocks, or one bql_lock() with its bql_unlock()s.

A mutant is flagged when qlint reports a finding the unmutated tree does not have (findings
compared by rule, file, function and what they are about, not by line). Three configurations:
out of the box (inferred contracts on), `--no-infer` (the shipped packs only), and the packs as
shipped before contracts were inferred (`--today-rev`, a git revision of this repository).
The analysed scope is fixed per tree (SCOPES); only the mutated translation unit is parsed
again, in a hard-linked scratch copy of the tree, and its facts take the original's place.
"""
from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, REPO)

from qemu_trees import qemu_tree, remove_copy, scratch_copy  # noqa: E402

from qlint.facts.codec import decode_tu, encode_tu  # noqa: E402
from qlint.frontend import discover  # noqa: E402
from qlint.frontend.cache import FactsCache  # noqa: E402
from qlint.frontend.collect import collect  # noqa: E402
from qlint.infer.contracts import Settings  # noqa: E402
from qlint.pack.load import builtin_pack_dir, load_builtin  # noqa: E402
from qlint.pipeline import Options, context_of, load  # noqa: E402
from qlint.report.model import finalize  # noqa: E402
from qlint.rules.dispatch import dispatch  # noqa: E402
from qlint.rules.registry import all_rules  # noqa: E402

SCOPES = {
    "7.2": ["block", "blockdev.c", "block.c", "job.c", "blockjob.c", "hw/block", "hw/scsi"],
    # The generated coroutine wrappers are the block layer's too (bdrv_pread() and its kind);
    # generated files are never mutated (scope_files).
    "10.0": ["block", "blockdev.c", "block.c", "job.c", "blockjob.c", "hw/block", "hw/scsi",
             "build/block/block-gen.c"],
}
TODAY_REV = "a42533a"     # the last commit before contracts were inferred


@dataclass(frozen=True)
class Mutant:
    file: str             # relative to the tree
    kind: str             # "remove-pair" | "move-call" | "remove-guard"
    line: int             # the lock's line (1-based) in the original
    lock: str             # the locking call as written
    new_text: str         # the mutated file
    function: str = ""    # the mutated function's name

    def name(self) -> str:
        return f"{self.file}:{self.line} {self.kind} {self.lock}"


# ---- finding the mutation sites -------------------------------------------------------------

_PAIRS = {
    "7.2": [("aio_context_acquire", "aio_context_release")],
    "10.0": [("bdrv_graph_co_rdlock", "bdrv_graph_co_rdunlock"),
             ("bdrv_graph_rdlock_main_loop", "bdrv_graph_rdunlock_main_loop"),
             ("bql_lock", "bql_unlock")],
}
_GUARDS = {"7.2": [], "10.0": ["GRAPH_RDLOCK_GUARD", "GRAPH_RDLOCK_GUARD_MAINLOOP",
                              "WITH_GRAPH_RDLOCK_GUARD"]}
_MOVES = {"7.2": ["aio_context_acquire"], "10.0": []}
_CALL_STATEMENT = re.compile(r"^\s*(?:[\w\s\*]+=\s*)?[A-Za-z_]\w*\s*\(.*\)\s*;\s*$")


def functions_of(lines: list[str]):
    """(first, last, name) of each function body: line indexes from a line that opens at
    column 0 to the `}` at column 0 that closes it (QEMU's style), and the name its signature
    starts with."""
    start = None
    for i, line in enumerate(lines):
        if line.startswith("{"):
            start = i
        elif line.startswith("}") and start is not None:
            yield start, i, _name_above(lines, start)
            start = None


def _name_above(lines: list[str], brace: int) -> str:
    for line in reversed(lines[max(0, brace - 8):brace]):
        m = re.match(r"^[A-Za-z_].*?\b([A-Za-z_]\w*)\(", line)
        if m:
            return m.group(1)
    return ""


def _statement(line: str, name: str) -> str | None:
    """The argument text of `name(ARG);` when the line is exactly that statement."""
    m = re.match(r"^\s*" + re.escape(name) + r"\s*\((.*)\)\s*;\s*$", line)
    return m.group(1).strip() if m else None


def mutants_of(path: str, rel: str, version: str) -> list[Mutant]:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = text.split("\n")
    out = []
    for first, last, name in functions_of(lines):
        for lock, unlock in _PAIRS[version]:
            for i in range(first, last):
                arg = _statement(lines[i], lock)
                if arg is None:
                    continue
                drop = {i}
                for j in range(i + 1, last):
                    if _statement(lines[j], lock) == arg:
                        break
                    if _statement(lines[j], unlock) == arg:
                        drop.add(j)
                if len(drop) > 1:
                    new = [ln for k, ln in enumerate(lines) if k not in drop]
                    out.append(Mutant(rel, "remove-pair", i + 1, f"{lock}({arg})", "\n".join(new),
                                      name))
                if lock in _MOVES[version] and i + 1 < last and \
                        _CALL_STATEMENT.match(lines[i + 1]) and \
                        _statement(lines[i + 1], unlock) is None:
                    new = lines[:i] + [lines[i + 1], lines[i]] + lines[i + 2:]
                    out.append(Mutant(rel, "move-call", i + 1, f"{lock}({arg})", "\n".join(new),
                                      name))
        for guard in _GUARDS[version]:
            for i in range(first, last):
                stripped = lines[i].strip()
                if stripped == f"{guard}();":
                    new = lines[:i] + lines[i + 1:]
                elif stripped == f"{guard}() {{":
                    new = lines[:i] + [lines[i].replace(f"{guard}() {{", "{")] + lines[i + 1:]
                else:
                    continue
                out.append(Mutant(rel, "remove-guard", i + 1, f"{guard}()", "\n".join(new), name))
    return out


def all_mutants(tree: str, version: str, files: list[str]) -> list[Mutant]:
    out = []
    for rel in files:
        out += mutants_of(os.path.join(tree, rel), rel, version)
    return out


def scope_facts(version: str, jobs: int, cache_dir: str, whole: bool = False):
    """(the active pack, the TUs' facts) of the program analysed: the tree's mutation scope
    alone, or with `whole` the whole program `qlint check` takes as the context."""
    _cfg, pack, _plan, tus, _program = load(Options(paths=SCOPES[version], jobs=jobs,
                                                    cache_dir=cache_dir, whole_program=whole))
    return pack, tus


def scope_files(tree: str, version: str, tus: list) -> list[str]:
    """The analysed TUs' own .c files (not generated ones) under the mutation scope."""
    prefixes = [p if p.endswith(".c") else p + "/" for p in SCOPES[version]]
    out = []
    for tu in tus:
        rel = os.path.relpath(tu.path, tree)
        if rel.startswith(("build/", "tests/", "..")) or not rel.endswith(".c"):
            continue
        if any(rel == p or p.endswith("/") and rel.startswith(p) for p in prefixes):
            out.append(rel)
    return sorted(out)


# ---- running qlint in-process ---------------------------------------------------------------

def findings_of(tus: list, pack, settings: Settings | None, base: str) -> collections.Counter:
    """Each finding by what it is about (rule, file, function, line-free detail) and the
    functions its paths go through (trace, related locations and every way in)."""
    rules = list(all_rules().values())
    _program, _graph, ctx = context_of(tus, pack, settings)
    found = finalize(dispatch(ctx, rules), base)
    del ctx
    gc.collect()
    return collections.Counter(
        (f.rule, f.path, f.function, f.detail or f.message,
         " ".join(sorted({s.function for s in f.trace} |
                         {m.group(1) for r in f.related + f.ways
                          if (m := re.match(r"(?:also reached from )?(\w+)(?:@[^(]*)?\(",
                                            r.message))})))
        for f in found)


def flagged(new: collections.Counter, base: collections.Counter, mutant: Mutant) -> list[str]:
    """The mutant's findings the tree does not have: new ones, and those whose paths now go
    through the mutated function (a path from one more entry point to a violation the tree
    has already)."""
    before = {k[:4]: set(k[4].split()) for k in base}
    out = []
    for key in new - base:
        old = before.get(key[:4])
        if old is None or mutant.function in set(key[4].split()) - old:
            out.append("|".join(key[:4]))
    return sorted(out)


def today_packs(rev: str, dest: str) -> str:
    names = subprocess.run(["git", "ls-tree", "--name-only", rev, "rules/"], cwd=REPO,
                           check=True, capture_output=True, text=True).stdout.split()
    os.makedirs(dest, exist_ok=True)
    for name in names:
        text = subprocess.run(["git", "show", f"{rev}:{name}"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout
        with open(os.path.join(dest, os.path.basename(name)), "w") as f:
            f.write(text)
    return dest


def with_pack(path: str, tmp: str):
    """The shipped packs plus one more pack file."""
    dest = os.path.join(tmp, "also-" + os.path.basename(path))
    shutil.copytree(builtin_pack_dir(), dest)
    shutil.copy(path, dest)
    return load_builtin(dest)


def parse_mutant(scratch: str, tree: str, mutant: Mutant, cache) -> object:
    """The facts of the mutated TU, parsed in the scratch copy, with its paths those of the
    original tree (so that they replace the original TU's facts)."""
    path = os.path.join(scratch, mutant.file)
    os.unlink(path)                       # break the hard link
    with open(path, "w", encoding="utf-8") as f:
        f.write(mutant.new_text)
    plan = discover.plan([path], os.path.join(scratch, "build"))
    facts, _stats = collect(plan.jobs, 1, 300.0, cache)
    tu = facts[plan.jobs[0].file]
    data = json.dumps(encode_tu(tu)).replace(scratch, tree)
    return decode_tu(json.loads(data))


def mutated_programs(tree: str, tus: list, mutants: list, tmp: str):
    """(mutant, the TUs with the mutated one's facts in the original's place, those facts) for
    each mutant, parsed one at a time in a hard-linked scratch copy of the tree under `tmp`."""
    os.makedirs(os.path.join(tmp, "scratch"))
    scratch = scratch_copy(tree, os.path.join(tmp, "scratch"))
    cache = FactsCache(os.path.join(tmp, "cache"))
    index = {tu.path: i for i, tu in enumerate(tus)}
    try:
        for m in mutants:
            tu = parse_mutant(scratch, tree, m, cache)
            restore(scratch, tree, m)
            mutated = list(tus)
            mutated[index[os.path.join(tree, m.file)]] = tu
            yield m, mutated, tu
    finally:
        remove_copy(scratch)


def restore(scratch: str, tree: str, mutant: Mutant) -> None:
    path = os.path.join(scratch, mutant.file)
    os.unlink(path)
    os.link(os.path.join(tree, mutant.file), path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="7.2", choices=sorted(SCOPES))
    ap.add_argument("--count", type=int, default=0, help="mutants to run (0: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cache-dir", help="facts cache of the tree (default: the tree's own)")
    ap.add_argument("--today-rev", default=TODAY_REV)
    ap.add_argument("--also", metavar="PACK", action="append", default=[],
                    help="one more configuration: out of the box plus this pack file")
    ap.add_argument("--whole-program", action="store_true",
                    help="analyse the whole program (as `qlint check` does), not the scope alone")
    ap.add_argument("--only", metavar="CONFIG", action="append", default=[],
                    help="run only this configuration ('out of the box', '--no-infer', ...)")
    ap.add_argument("--mutant", metavar="NAME", action="append", default=[],
                    help="of the chosen mutants, run only this one (as --list names it)")
    ap.add_argument("--list", action="store_true", help="only list the mutants")
    ap.add_argument("--json", metavar="FILE", help="also write every mutant's result here")
    opts = ap.parse_args()
    tree = qemu_tree(opts.version)
    os.chdir(tree)
    cache_dir = opts.cache_dir or os.path.join(tree, "build", "qlint-cache")
    pack, tus = scope_facts(opts.version, opts.jobs, cache_dir, opts.whole_program)
    mutants = all_mutants(tree, opts.version, scope_files(tree, opts.version, tus))
    chosen = sorted(mutants, key=Mutant.name)
    random.Random(opts.seed).shuffle(chosen)
    chosen = chosen[:opts.count] if opts.count else chosen
    chosen.sort(key=Mutant.name)
    if opts.mutant:
        chosen = [m for m in chosen if m.name() in opts.mutant]
    context = f"the whole program ({len(tus)} TUs)" if opts.whole_program else "the scope alone"
    print(f"QEMU {opts.version}: {len(mutants)} mutants in scope {' '.join(SCOPES[opts.version])}; "
          f"running {len(chosen)} (seed {opts.seed}); analysing {context}", flush=True)
    if opts.list:
        for m in chosen:
            print(m.name())
        return
    with tempfile.TemporaryDirectory() as tmp:
        old = load_builtin(today_packs(opts.today_rev, os.path.join(tmp, "packs")))
        configs = {"out of the box": (pack, Settings()),
                   "--no-infer": (pack, None),
                   "shipped packs of today": (old, None)}
        for path in opts.also:
            configs[f"+ {os.path.basename(path)}"] = (with_pack(path, tmp), Settings())
        unknown = sorted(set(opts.only) - set(configs))
        if unknown:
            sys.exit(f"mutants.py: --only {unknown[0]!r}: not one of {', '.join(configs)}")
        configs = {k: v for k, v in configs.items() if not opts.only or k in opts.only}
        base = {name: findings_of(tus, p, s, tree) for name, (p, s) in configs.items()}
        results = []
        started = time.monotonic()
        for n, (m, mutated, tu) in enumerate(mutated_programs(tree, tus, chosen, tmp), 1):
            row = {"mutant": m.name(), "parse_errors": len(tu.errors)}
            for name, (p, s) in configs.items():
                row[name] = flagged(findings_of(mutated, p, s, tree), base[name], m)
            results.append(row)
            flags = " ".join("Y" if row[c] else "-" for c in configs)
            print(f"[{n}/{len(chosen)}] {flags}  {m.name()}  "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
            started = time.monotonic()
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(results, f, indent=1)
    table(results, list(configs), opts.version)


def table(results: list[dict], configs: list[str], version: str) -> None:
    kinds = sorted({r["mutant"].split()[1] for r in results})
    print(f"\nQEMU {version}: mutants flagged")
    print("| configuration | " + " | ".join(kinds) + " | all |")
    print("| --- |" + " --- |" * (len(kinds) + 1))
    for c in configs:
        cells = []
        for kind in kinds + ["all"]:
            rows = [r for r in results if kind == "all" or r["mutant"].split()[1] == kind]
            hit = sum(1 for r in rows if r[c])
            cells.append(f"{hit}/{len(rows)} ({100 * hit / len(rows):.0f}%)" if rows else "-")
        print(f"| {c} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

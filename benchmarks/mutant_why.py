"""Why a mutant of benchmarks/mutants.py is not flagged (a triage aid, prints one line each):
does the mutated function need the lock after the mutation (by which callee), and what do the
ways into it hold?

    python benchmarks/mutant_why.py --version 7.2 "block.c:4431 remove-pair aio_context_acquire(ctx)" ...
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mutants import SCOPES, all_mutants, mutated_programs, scope_facts, scope_files  # noqa: E402

from qemu_trees import qemu_tree  # noqa: E402
from qlint.infer.contracts import Settings  # noqa: E402
from qlint.pipeline import context_of  # noqa: E402

LOCKS = {"7.2": "AioContext", "10.0": "graph_lock"}


def explain(tus, pack, mutant, lock: str) -> str:
    _program, graph, ctx = context_of(tus, pack, Settings())
    analysis, program = ctx.locks, ctx.program
    keys = [k for k in program.by_name.get(mutant.function, [])
            if program.functions[k].file.endswith(mutant.file)]
    if not keys:
        return "mutated function not found"
    key = keys[0]
    witnesses = analysis.summary(key).requires.get(lock, [])
    if not witnesses:
        return "needs nothing of the lock after the mutation"
    needs = sorted({w.required or program.name_of(w.target) for w in witnesses})
    callers = [program.name_of(e.caller) for e in graph.callers_of(key)]
    entries = [f"{e.kind}" for e in analysis.entry_points() if e.func == key]
    if not callers and not entries:
        return f"needs it (through {', '.join(needs[:4])}); no known caller in the scope"
    return (f"needs it (through {', '.join(needs[:4])}); callers {', '.join(sorted(set(callers))[:5])}"
            f"{'; entry ' + ', '.join(entries) if entries else ''}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="7.2", choices=sorted(SCOPES))
    ap.add_argument("--cache-dir")
    ap.add_argument("names", nargs="+")
    opts = ap.parse_args()
    tree = qemu_tree(opts.version)
    os.chdir(tree)
    cache_dir = opts.cache_dir or os.path.join(tree, "build", "qlint-cache")
    pack, tus = scope_facts(opts.version, 1, cache_dir)
    by_name = {m.name(): m for m in all_mutants(tree, opts.version,
                                                  scope_files(tree, opts.version, tus))}
    chosen = [by_name[name] for name in opts.names]
    with tempfile.TemporaryDirectory() as tmp:
        for m, mutated, _tu in mutated_programs(tree, tus, chosen, tmp):
            print(f"{m.name()}: {m.function}: {explain(mutated, pack, m, LOCKS[opts.version])}",
                  flush=True)


if __name__ == "__main__":
    main()

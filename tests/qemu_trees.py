"""Real QEMU trees for integration tests: fetched once by scripts/fetch-qemu.sh and cached
(~/.cache/qlint/qemu, or $QLINT_QEMU_CACHE); scratch copies for putting bugs back."""
from __future__ import annotations

import os
import shutil
import subprocess

from conftest import REPO

FETCH = os.path.join(REPO, "scripts", "fetch-qemu.sh")


def qemu_tree(version: str) -> str:
    proc = subprocess.run(["bash", FETCH, version], capture_output=True, text=True, timeout=3000)
    if proc.returncode != 0:
        raise RuntimeError(f"fetch-qemu.sh {version} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


# A scratch copy's facts are not the tree's (cache keys hold absolute paths), so its first run
# parses its whole context. Tests give their copies the block layer as the context (the named
# files are always analysed), as a `.qlint.toml` with `context-include` would in a user's tree.
BLOCK_LAYER = ("block/*", "block.c", "blockdev.c", "blockjob.c", "job.c", "hw/block/*")


def scratch_copy(tree: str, dest: str, context=None) -> str:
    """A copy of `tree` made of hard links (instant), with its compile database rewritten to
    the new location, without the tree's cache, and with a `.qlint.toml` whose
    `context-include` is `context` (None: the whole program). Files must be changed with
    `patch_file`, which breaks the link."""
    copy = os.path.join(dest, os.path.basename(tree))
    subprocess.run(["cp", "-al", tree, copy], check=True)
    shutil.rmtree(os.path.join(copy, "build", "qlint-cache"), ignore_errors=True)
    db = os.path.join(copy, "build", "compile_commands.json")
    with open(db) as f:
        text = f.read()
    os.unlink(db)
    with open(db, "w") as f:
        f.write(text.replace(tree, copy))
    if context is not None:
        with open(os.path.join(copy, ".qlint.toml"), "w") as f:
            f.write("context-include = [%s]\n" % ", ".join(f'"{g}"' for g in context))
    return copy


def patch_file(path: str, old: str, new: str) -> None:
    with open(path) as f:
        text = f.read()
    assert text.count(old) == 1, f"{path}: the text to replace must occur exactly once"
    os.unlink(path)
    with open(path, "w") as f:
        f.write(text.replace(old, new))


def remove_copy(copy: str) -> None:
    shutil.rmtree(os.path.dirname(copy), ignore_errors=True)


def stale_summaries(tree: str, paths: list[str]) -> list[str]:
    """Members of recursive components whose summary analysing them again, from the final
    summaries, contradicts: other requirements, an effect the summary lacks, or (same effects)
    another verdict. Stale summaries of budget-exhausted members once made findings depend on
    the analysis order (docs/qemu-10.0-triage.md). The program is `paths` alone (not the
    whole program): each member is analysed again, which bounds the cost to theirs."""
    from qlint.analysis.locks import strongly_connected
    from qlint.pipeline import Options, analyse
    here = os.getcwd()
    os.chdir(tree)
    try:
        locks = analyse(Options(paths=paths, whole_program=False), reuse=False).context.locks
    finally:
        os.chdir(here)
    stale = []
    for scc in strongly_connected(locks.program, locks.graph):
        if len(scc) == 1 and not locks._calls_itself(scc[0]):
            continue
        for key in scc:
            stored, again = locks.summary(key), locks.analyze(key)
            same_effects = again.path_effects == stored.path_effects
            if stored.signature()[:2] != again.signature()[:2] or \
                    not again.path_effects <= stored.path_effects or \
                    (same_effects and (again.effect, again.consistent) !=
                     (stored.effect, stored.consistent)):
                stale.append(locks.program.name_of(key))
    return sorted(stale)

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


def scratch_copy(tree: str, dest: str) -> str:
    """A copy of `tree` made of hard links (instant), with its compile database rewritten to
    the new location. Files must be changed with `patch_file`, which breaks the link."""
    copy = os.path.join(dest, os.path.basename(tree))
    subprocess.run(["cp", "-al", tree, copy], check=True)
    db = os.path.join(copy, "build", "compile_commands.json")
    with open(db) as f:
        text = f.read()
    os.unlink(db)
    with open(db, "w") as f:
        f.write(text.replace(tree, copy))
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

"""What a new user meets on real QEMU 7.2: a selected rule that is inactive there says why,
results do not depend on the directory qlint runs from, -v names the files the build skips."""
from __future__ import annotations

import os

import pytest

from conftest import qlint
from qemu_trees import BLOCK_LAYER, qemu_tree, remove_copy, scratch_copy

pytestmark = pytest.mark.qemu

# The TUs of scratch copies' program (qemu_trees.BLOCK_LAYER): block/, hw/block/, the four
# files, and crypto/block.c and migration/block.c ("block.c" has no slash: as in ruff, it
# matches a file of that name anywhere).
BLOCK_LAYER_TUS = 71 + 10 + 4 + 2

# block/'s findings judged against the whole program (docs/qemu-7.2-triage.md).
BLOCK_QL101 = [("block/block-backend.c", "blk_new_open"), ("block/block-backend.c", "blk_insert_bs"),
               ("block/dirty-bitmap.c", "bdrv_release_dirty_bitmap_locked"),
               ("block/dirty-bitmap.c", "bdrv_reclaim_dirty_bitmap_locked"),
               ("block/dirty-bitmap.c", "bdrv_reclaim_dirty_bitmap"),
               ("block/dirty-bitmap.c", "bdrv_release_dirty_bitmap"),
               ("block/linux-aio.c", "ioq_submit"), ("block/replication.c", "reopen_backing_file")]


@pytest.fixture(scope="module")
def tree():
    return qemu_tree("7.2")


def found(run) -> list[tuple]:
    return [(f["path"], f["function"]) for f in run.json["findings"]]


def test_selecting_a_rule_inactive_on_7_2_says_why(tree):
    run = qlint("check", "block/linux-aio.c", "--select", "QL303", cwd=tree)
    assert (run.code, run.out) == (0, "")
    assert run.err == ("qlint: warning: QL303 [graph-lock-required] is selected but inactive on "
                       "this tree, so it reports nothing: no active [[lock]] entry: "
                       "bdrv_graph_co_rdlock is not declared\n")


def test_a_baseline_written_at_the_top_holds_in_block(tree, tmp_path):
    base = str(tmp_path / "base.json")
    assert qlint("check", "block/", "--write-baseline", base, "-q", cwd=tree).code == 0
    top = qlint("check", "block/", "--format", "json", cwd=tree)
    inside = qlint("check", ".", "--format", "json", cwd=os.path.join(tree, "block"))
    assert found(top) == BLOCK_QL101
    assert found(inside) == [(path[len("block/"):], fn) for path, fn in BLOCK_QL101]
    assert [f["fingerprint"] for f in top.json["findings"]] == \
        [f["fingerprint"] for f in inside.json["findings"]]
    run = qlint("check", ".", "--baseline", base, "--format", "json", cwd=os.path.join(tree, "block"))
    assert (run.code, run.json["findings"], run.json["stats"]["baselined"]) == \
        (0, [], len(BLOCK_QL101))


def test_configured_context_globs_hold_from_block(tree, tmp_path):
    """The configuration's globs are relative to its directory, whichever directory qlint runs
    from: from block/, `context-exclude = ["block/qed*.c"]` leaves QED's five files out of the
    program, and the ioq_submit finding, whose shortest path started at QED's need-check timer,
    is reached from the next entry point (the VDUSE export's virtqueue handler)."""
    copy = scratch_copy(tree, str(tmp_path), context=BLOCK_LAYER)
    try:
        with open(os.path.join(copy, ".qlint.toml"), "a") as f:
            f.write('context-exclude = ["block/qed*.c"]\n')
        run = qlint("check", ".", "--format", "json", cwd=os.path.join(copy, "block"))
        assert (run.code, run.json["stats"]["tus"]) == (1, BLOCK_LAYER_TUS - 5)
        assert ("linux-aio.c", "ioq_submit") in found(run)
        steps = [s["path"] for f in run.json["findings"] for s in f["trace"]]
        assert not [p for p in steps if os.path.basename(p).startswith("qed")]
        ioq = next(f for f in run.json["findings"] if f["function"] == "ioq_submit")
        assert ioq["trace"][0]["function"] == "on_vduse_vq_kick"
    finally:
        remove_copy(copy)


def test_verbose_names_the_files_7_2_does_not_build(tree):
    run = qlint("check", "block/", "-v", "--format", "json", cwd=tree)
    skipped = [line.split()[2].rstrip(":") for line in run.err.splitlines()
               if line.startswith("qlint: skipped ")]
    assert skipped == ["block/blkio.c", "block/curl.c", "block/dmg-lzfse.c", "block/export/fuse.c",
                       "block/file-win32.c", "block/gluster.c", "block/io_uring.c",
                       "block/iscsi-opts.c", "block/iscsi.c", "block/nfs.c", "block/rbd.c",
                       "block/ssh.c", "block/win32-aio.c"]

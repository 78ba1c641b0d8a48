"""The core analyzer on real QEMU 7.2 (Debian bookworm source package, configured)."""
from __future__ import annotations

import pytest

from conftest import qlint, trace
from qemu_trees import BLOCK_LAYER, patch_file, qemu_tree, scratch_copy

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def tree():
    return qemu_tree("7.2")


@pytest.fixture(scope="module")
def block_report(tree):
    return qlint("check", "block/", "--format", "json", cwd=tree)


def test_block_parses_without_errors_through_the_compile_database(block_report):
    stats = block_report.json["stats"]
    assert stats["tus"] == 1866             # the whole program is the context of block/
    assert stats["tus_with_errors"] == 0 and stats["tus_failed"] == 0
    assert stats["degraded_tus"] == 0
    assert block_report.json["problems"] == []


def test_block_ql101_is_the_triaged_set(block_report):
    # No QL101 on the shipped (fixed) linux-aio.c. The one finding is a true positive that
    # upstream fixed after 7.2 (commit fed8245015, "block: Fix locking in media change monitor
    # commands"): blk_insert_bs() needs the node's AioContext lock (docs/qemu-7.2-triage.md).
    # The second: QED's need-check timer enters its coroutine with qemu_coroutine_enter(), so
    # its I/O completes in linux-aio without the AioContext lock (timers run unlocked in 7.2).
    # With the whole program as the context, block/ also holds the findings reached from
    # outside it: blk_new_open() from hmp_drive_add() (benign) and replication's
    # reopen_backing_file() (false), both judged in docs/qemu-7.2-triage.md; and, on the
    # contracts dirty-bitmap.c states, the postcopy listen thread's bitmap release (benign)
    # and, one call further down each, its reclaim and release (true).
    ql101 = [f for f in block_report.json["findings"] if f["rule"] == "QL101"]
    assert [(f["path"], f["line"], f["function"]) for f in ql101] == [
        ("block/block-backend.c", 459, "blk_new_open"),
        ("block/block-backend.c", 906, "blk_insert_bs"),
        ("block/dirty-bitmap.c", 259, "bdrv_release_dirty_bitmap_locked"),
        ("block/dirty-bitmap.c", 316, "bdrv_reclaim_dirty_bitmap_locked"),
        ("block/dirty-bitmap.c", 329, "bdrv_reclaim_dirty_bitmap"),
        ("block/dirty-bitmap.c", 360, "bdrv_release_dirty_bitmap"),
        ("block/linux-aio.c", 329, "ioq_submit"),
        ("block/replication.c", 399, "reopen_backing_file")]
    assert trace(ql101[1]) == [("qmp_blockdev_insert_anon_medium", 238),
                               ("qmp_blockdev_insert_anon_medium", 263),
                               ("blk_insert_bs", 906)]
    assert ql101[4]["contract"]["text"] == ("Called within bdrv_dirty_bitmap_lock..unlock and "
                                            "with BQL taken.")
    assert trace(ql101[6])[:3] == [("qed_need_check_timer_cb", 313),
                                   ("qed_need_check_timer_cb", 316),
                                   ("qed_need_check_timer_entry", 304)]
    assert ql101[6]["trace"][1]["note"] == (
        "calls qed_need_check_timer_entry() through qemu_coroutine_enter()")
    # Nothing in the shipped linux-aio.c itself: the violating call there is reached only
    # from QED's timer path, not from linux-aio's own handlers.
    assert not any(f["function"].startswith("qemu_laio") for f in ql101)


def test_block_registers_the_linux_aio_handlers(block_report, tree):
    run = qlint("graph", "callers", "qemu_laio_process_completions_and_submit", "--in",
                "block/linux-aio.c", cwd=tree)
    assert run.code == 0
    assert run.out.splitlines() == [
        "qemu_laio_completion_bh  block/linux-aio.c:248  [call]",
        "qemu_laio_completion_cb  block/linux-aio.c:256  [call]",
        "qemu_laio_poll_ready  block/linux-aio.c:274  [call]",
    ]
    run = qlint("graph", "callees", "laio_attach_aio_context", "--in", "block/linux-aio.c", cwd=tree)
    assert run.out.splitlines() == [
        "qemu_laio_completion_bh  block/linux-aio.c:449  [bh via aio_bh_new]",
        "qemu_laio_completion_cb  block/linux-aio.c:450  [fd-handler via aio_set_event_notifier]",
        "qemu_laio_poll_cb  block/linux-aio.c:450  [fd-handler via aio_set_event_notifier]",
        "qemu_laio_poll_ready  block/linux-aio.c:450  [fd-handler via aio_set_event_notifier]",
    ]


def test_seed000_bug_put_back_is_flagged_with_the_handler_path(tree, tmp_path):
    copy = scratch_copy(tree, str(tmp_path), context=BLOCK_LAYER)
    patch_file(f"{copy}/block/linux-aio.c",
               "    aio_context_acquire(s->aio_context);\n    qemu_laio_process_completions(s);\n",
               "    qemu_laio_process_completions(s);\n    aio_context_acquire(s->aio_context);\n")
    run = qlint("check", "block/linux-aio.c", "--format", "json", cwd=copy)
    assert run.code == 1
    found = [(f["rule"], f["path"], f["line"], f["function"]) for f in run.json["findings"]]
    assert found == [("QL101", "block/linux-aio.c", 235, "qemu_laio_process_completions_and_submit"),
                     ("QL101", "block/linux-aio.c", 329, "ioq_submit")]
    f = run.json["findings"][0]
    assert trace(f) == [("qemu_laio_completion_bh", 244), ("qemu_laio_completion_bh", 248),
                        ("qemu_laio_process_completions_and_submit", 235)]
    assert f["trace"][0]["note"] == ("entry point: bh registered by aio_bh_new() in "
                                     "laio_attach_aio_context(), line 449 (holds no lock)")
    assert sorted(r["message"] for r in f["related"]) == [
        "also reached from qemu_laio_completion_cb() registered as fd-handler by aio_set_event_notifier()",
        "also reached from qemu_laio_poll_ready() registered as fd-handler by aio_set_event_notifier()",
        "qemu_laio_completion_bh() registered as bh by aio_bh_new()",
    ]

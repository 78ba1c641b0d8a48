"""The qemu-modern pack on real QEMU 10.0 (Debian trixie source package, configured): the
triaged findings of block/, util/ and hw/block/ (docs/qemu-10.0-triage.md), bugs put back in
a scratch copy, and what clang's own -Wthread-safety finds on the same TUs."""
from __future__ import annotations

import os
import re
import sys

import pytest

from conftest import REPO, findings, qlint, trace
from qemu_trees import (BLOCK_LAYER, patch_file, qemu_tree, remove_copy, scratch_copy,
                        stale_summaries)

sys.path.insert(0, os.path.join(REPO, "scripts"))
from clang_tsa import clang_tsa  # noqa: E402

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def tree():
    return qemu_tree("10.0")


@pytest.fixture(scope="module")
def report(tree):
    # build/block/block-gen.c: the generated co_wrapper functions, which must raise nothing.
    return qlint("check", "block/", "util/", "hw/block/", "build/block/block-gen.c",
                 "--format", "json", cwd=tree)


def test_the_three_directories_parse_without_errors(report):
    # The whole program is the context: two TUs outside the three directories have parse
    # errors (their QL000 findings are in docs/qemu-10.0-triage.md), none inside them.
    stats = report.json["stats"]
    assert (stats["tus"], stats["tus_with_errors"], stats["tus_failed"], stats["degraded_tus"]) \
        == (2755, 2, 0, 0)
    assert report.json["problems"] == []


def test_findings_are_the_triaged_set(report):
    assert report.code == 1
    assert findings(report) == [
        ("QL302", "block/block-backend.c", 2035, "blk_co_zone_report"),
        ("QL302", "block/block-backend.c", 2084, "blk_co_zone_append"),
        ("QL304", "block/commit.c", 131, "commit_iteration"),
        # Reached from callers outside the three directories, judged in
        # docs/triage/qemu-10.0*.tsv: the main loop's graph reader held across a call chain
        # to a GRAPH_UNLOCKED function (benign), and the postcopy thread's bitmap (benign;
        # its reclaim and release one call further down, true).
        ("QL103", "block/commit.c", 537, "bdrv_commit"),
        ("QL103", "block/commit.c", 555, "bdrv_commit"),
        ("QL103", "block/commit.c", 646, "bdrv_commit"),
        ("QL302", "block/crypto.c", 135, "block_crypto_create_write_func"),
        ("QL302", "block/crypto.c", 160, "block_crypto_create_init_func"),
        ("QL302", "block/crypto.c", 204, "block_crypto_co_format_luks_payload"),
        ("QL101", "block/dirty-bitmap.c", 261, "bdrv_release_dirty_bitmap_locked"),
        ("QL101", "block/dirty-bitmap.c", 318, "bdrv_reclaim_dirty_bitmap_locked"),
        ("QL101", "block/dirty-bitmap.c", 331, "bdrv_reclaim_dirty_bitmap"),
        ("QL101", "block/dirty-bitmap.c", 362, "bdrv_release_dirty_bitmap"),
        # Coroutine context flows down: BdrvChildClass.resize runs only from the coroutine_fn
        # bdrv_parent_cb_resize(), so the exports' resize callbacks run in coroutines and call
        # the co_wrapper_mixed getlength (a warning: it works at run time).
        ("QL302", "block/export/vduse-blk.c", 211, "vduse_blk_resize"),
        ("QL302", "block/export/vhost-user-blk-server.c", 268, "vu_blk_exp_resize"),
        ("QL303", "block/mirror.c", 296, "mirror_cow_align"),
        ("QL103", "block/qapi-system.c", 298, "blockdev_insert_medium"),
        ("QL302", "block/qcow2-cluster.c", 2136, "zero_in_l2_slice"),
        ("QL103", "block/replication.c", 397, "reopen_backing_file"),
        ("QL103", "block/replication.c", 710, "replication_stop"),
        ("QL303", "block/snapshot.c", 257, "bdrv_snapshot_goto"),
        ("QL103", "block/stream.c", 321, "stream_start"),
        ("QL302", "block/vmdk.c", 356, "vmdk_write_cid"),
    ]


def test_results_and_conditions_that_tell_what_is_held(tree):
    # monitor_qmp_requests_pop_any_with_lock() returns with a queue's lock held exactly when it
    # returns a request (`if (req_obj) break; ... return req_obj;`), pop_any() passes that on,
    # and the dispatcher coroutine unlocks once per request: balanced. raw_co_prw() adds
    # QEMU_AIO_MISALIGNED between two tests of other bits of `type`: balanced.
    # loadvm_handle_cmd_packaged() yields only after `!migrate_postcopy_preempt() ||
    # !qemu_in_coroutine() || ...` was false, in a coroutine. handle_hmp_command_exec() calls
    # HMPCommand.cmd, which holds coroutine_fn commands and plain ones, each sent its own way
    # by the table's .coroutine flag: not charged. Only QL304's note is left.
    run = qlint("check", "monitor/", "migration/savevm.c", "block/file-posix.c",
                "block/monitor/block-hmp-cmds.c", "--format", "json", cwd=tree)
    assert findings(run) == [("QL304", "monitor/qmp.c", 232, "monitor_qmp_dispatcher_pop_any")]


def test_requirements_clang_cannot_see(report):
    by_line = {(f["path"], f["line"]): f for f in report.json["findings"]}
    # The requirement is declared on the definition in block/io.c only, not on the header
    # declaration mirror.c sees: clang's per-TU analysis cannot know it.
    assert by_line[("block/mirror.c", 296)]["message"] == (
        "bdrv_round_to_subclusters() (GRAPH_RDLOCK) requires graph_lock, which "
        "mirror_cow_align() neither holds nor declares (GRAPH_RDLOCK)")
    # The field is GRAPH_UNLOCKED_PTR, the qcow2 implementation GRAPH_RDLOCK.
    assert by_line[("block/snapshot.c", 257)]["message"] == (
        "qcow2_snapshot_goto() (GRAPH_RDLOCK), called through BlockDriver.bdrv_snapshot_goto, "
        "requires graph_lock, which bdrv_snapshot_goto() neither holds nor declares "
        "(GRAPH_RDLOCK)")
    # Through a device model's callback, on the path the constant `load = true` allows.
    assert trace(by_line[("block/qapi-system.c", 298)]) == [
        ("blockdev_insert_medium", 274), ("blockdev_insert_medium", 298),
        ("qmp_blockdev_insert_anon_medium", 265), ("blk_dev_change_media_cb", 1122),
        ("fd_change_cb", 430), ("blkconf_apply_backend_options", 226)]


def test_pack_status_on_10_0_and_7_2(tree):
    packs = [l for l in qlint("rules", "block/", cwd=tree).out.splitlines()
             if l.startswith("pack ")]
    assert packs == [
        "pack qemu-aiocontext    inactive: aio_context_acquire is not declared",
        "pack qemu-contracts     partially active: 25 of 28 entries (inactive: "
        "aio_context_acquire is not declared)",
        "pack qemu-core          partially active: 72 of 74 entries (inactive: "
        "aio_disable_external is not declared)",
        "pack qemu-modern        active",
        "pack qemu-sections      partially active: 3 of 7 entries (inactive: "
        "aio_disable_external is not declared; block_job_defer_to_main_loop is not declared; "
        "job_defer_to_main_loop is not declared; aio_disable_external is not declared, "
        "blk_set_disable_request_queuing is declared (BlockBackend queues guest requests while "
        "drained (blk_wait_while_drained, QEMU >= 4.2)))"]
    older = qlint("rules", "block/", cwd=qemu_tree("7.2")).out.splitlines()
    assert ("pack qemu-modern        inactive: bdrv_graph_co_rdlock is not declared; no "
            "declaration has attribute annotate:coroutine_fn; holds only inactive locks "
            "(coroutine-context); no declaration has attribute annotate:no_coroutine_fn") in older


@pytest.fixture(scope="module")
def injected(tree, tmp_path_factory):
    """(a) a coroutine_fn called from a plain function, (b) a BlockDriver field whose callbacks
    are GRAPH_RDLOCK called without the lock, (c) a GRAPH_RDLOCK function called through a
    function pointer without the lock."""
    copy = scratch_copy(tree, str(tmp_path_factory.mktemp("qemu10")), context=BLOCK_LAYER)
    patch_file(os.path.join(copy, "block/mirror.c"), """        s->should_complete = true;
    }

    /* If the job is paused""", """        s->should_complete = true;
    }
    mirror_wait_for_all_io(s);
    {
        bool (*contains)(BlockDriverState *, BlockDriverState *) = bdrv_chain_contains;
        if (contains(s->mirror_top_bs, blk_bs(s->target))) {
            return;
        }
    }

    /* If the job is paused""")
    patch_file(os.path.join(copy, "block/snapshot.c"), """    if (drv->bdrv_snapshot_goto) {
        ret = drv->bdrv_snapshot_goto(bs, snapshot_id);""", """    if (drv->bdrv_refresh_limits) {
        drv->bdrv_refresh_limits(bs, NULL);
    }
    if (drv->bdrv_snapshot_goto) {
        ret = drv->bdrv_snapshot_goto(bs, snapshot_id);""")
    yield copy
    remove_copy(copy)


INJECTED = ["block/mirror.c", "block/snapshot.c"]


def test_injected_bugs_are_flagged(injected):
    run = qlint("check", *INJECTED, "--format", "json", cwd=injected)
    # With the block layer as the context, the two files' findings of the shipped tree are
    # there too (mirror.c:296, and snapshot.c:257 three lines down; both true, see
    # test_requirements_clang_cannot_see).
    assert findings(run) == [("QL303", "block/mirror.c", 296, "mirror_cow_align"),
                             ("QL301", "block/mirror.c", 1206, "mirror_complete"),
                             ("QL303", "block/mirror.c", 1209, "mirror_complete"),
                             ("QL303", "block/snapshot.c", 257, "bdrv_snapshot_goto"),
                             ("QL303", "block/snapshot.c", 260, "bdrv_snapshot_goto")]
    assert [f["message"] for f in run.json["findings"]][1:4] == [
        "mirror_wait_for_all_io() (coroutine_fn) needs coroutine context, but mirror_complete() "
        "is neither coroutine_fn nor coroutine_mixed_fn and may run outside a coroutine",
        "bdrv_chain_contains() (GRAPH_RDLOCK) requires graph_lock, which mirror_complete() "
        "neither holds nor declares (GRAPH_RDLOCK)",
        "a call through BlockDriver.bdrv_refresh_limits (GRAPH_RDLOCK_PTR) requires graph_lock, "
        "which bdrv_snapshot_goto() neither holds nor declares (GRAPH_RDLOCK)"]


IN_SCOPE = re.compile(r"^(calling function|reading variable|writing variable|cannot call "
                      r"function) '(\w+)'")


def test_qlint_finds_every_requirement_clang_finds_and_the_pointer_call(injected):
    warnings = clang_tsa(injected, INJECTED)
    in_scope = [(w["file"], w["line"], IN_SCOPE.match(w["message"])[2])
                for w in warnings if IN_SCOPE.match(w["message"])]
    # clang sees the unlocked reads of the GRAPH_RDLOCK_PTR field, and nothing else that is
    # about requirements; its other warnings there are guard false positives (clang 16 does
    # not follow the cleanup attribute that releases GRAPH_RDLOCK_GUARD's lock).
    assert in_scope == [("block/snapshot.c", 256, "bdrv_refresh_limits"),
                        ("block/snapshot.c", 257, "bdrv_refresh_limits")]
    assert all("still held at the end of function" in w["message"] or
               "held at start of each loop" in w["message"] or
               "not held on every path" in w["message"] or
               "already held" in w["message"] for w in warnings if not IN_SCOPE.match(w["message"]))
    ours = qlint("check", *INJECTED, "--format", "json", cwd=injected).json["findings"]
    for path, _line, name in in_scope:
        assert any(f["path"] == path and name in f["message"] for f in ours), name
    # qlint's own: the coroutine_fn discipline and the call through a function pointer, and
    # the shipped tree's requirements clang cannot see (test_requirements_clang_cannot_see).
    clang_lines = {(w["file"], w["line"]) for w in warnings}
    assert [(f["path"], f["line"]) for f in ours if (f["path"], f["line"]) not in clang_lines] \
        == [("block/mirror.c", 296), ("block/mirror.c", 1206), ("block/mirror.c", 1209),
            ("block/snapshot.c", 260)]



def test_summaries_of_recursive_components_are_a_fixpoint(tree, report):
    assert report.json["stats"]["summaries_unsettled"] == 0
    assert stale_summaries(tree, ["block/", "util/", "hw/block/", "build/block/block-gen.c"]) == []

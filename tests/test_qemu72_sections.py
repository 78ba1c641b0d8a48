"""Section rules on real QEMU 7.2: the issue's file set, and bugs put back in scratch copies."""
from __future__ import annotations

import pytest

from conftest import qlint
from qemu_trees import BLOCK_LAYER, patch_file, qemu_tree, scratch_copy, stale_summaries

pytestmark = pytest.mark.qemu

FILES = ["block/", "blockjob.c", "job.c", "blockdev.c", "hw/block/", "hw/scsi/", "util/"]


@pytest.fixture(scope="module")
def tree():
    return qemu_tree("7.2")


def test_section_rules_over_the_block_layer_and_its_users(tree):
    run = qlint("check", *FILES, "--format", "json", cwd=tree)
    stats = run.json["stats"]
    assert stats["tus"] == 1866 and stats["tus_with_errors"] == 0 and stats["tus_failed"] == 0
    # Every finding is triaged in docs/triage/qemu-7.2*.tsv; the section rules report none.
    # blockjob.c:243 twice: two contracts of the same call, each with its own path.
    assert sorted((f["rule"], f["path"], f["line"]) for f in run.json["findings"]) == [
        ("QL101", "block/block-backend.c", 459),
        ("QL101", "block/block-backend.c", 906),
        ("QL101", "block/dirty-bitmap.c", 259),
        ("QL101", "block/dirty-bitmap.c", 316),
        ("QL101", "block/dirty-bitmap.c", 329),
        ("QL101", "block/dirty-bitmap.c", 360),
        ("QL101", "block/linux-aio.c", 329),
        ("QL101", "block/replication.c", 399),
        ("QL101", "blockjob.c", 243),
        ("QL101", "blockjob.c", 243),
    ]


def test_ql202_is_inactive_on_7_2_with_the_reason(tree):
    run = qlint("rules", "blockdev.c", cwd=tree)
    assert run.code == 0
    assert ("QL202 section-across-deferral          a section stays open across a deferral "
            "without the section that must span it  inactive: no active [[across-deferral]] "
            "entry: blk_set_disable_request_queuing is declared (BlockBackend queues guest "
            "requests while drained (blk_wait_while_drained, QEMU >= 4.2))") in run.out.splitlines()


def test_missing_release_and_missing_drained_end_put_back(tree, tmp_path):
    copy = scratch_copy(tree, str(tmp_path), context=BLOCK_LAYER)
    # qmp_block_stream(): an error path that returns without aio_context_release().
    patch_file(f"{copy}/blockdev.c",
               "    aio_context_acquire(aio_context);\n\n    if (has_base) {\n"
               "        base_bs = bdrv_find_backing_image(bs, base);\n"
               "        if (base_bs == NULL) {\n"
               "            error_setg(errp, \"Can't find '%s' in the backing chain\", base);\n"
               "            goto out;",
               "    aio_context_acquire(aio_context);\n\n    if (has_base) {\n"
               "        base_bs = bdrv_find_backing_image(bs, base);\n"
               "        if (base_bs == NULL) {\n"
               "            error_setg(errp, \"Can't find '%s' in the backing chain\", base);\n"
               "            return;")
    # bdrv_snapshot_delete(): an early return that skips bdrv_drained_end().
    patch_file(f"{copy}/block/snapshot.c",
               "                   drv->format_name, bdrv_get_device_name(bs));\n"
               "        ret = -ENOTSUP;\n",
               "                   drv->format_name, bdrv_get_device_name(bs));\n"
               "        return -ENOTSUP;\n")
    run = qlint("check", "blockdev.c", "block/snapshot.c", "--select", "QL102,QL201",
                "--format", "json", cwd=copy)
    assert run.code == 1
    found = {(f["rule"], f["path"], f["line"], f["function"]): f for f in run.json["findings"]}
    assert sorted(found) == [("QL102", "blockdev.c", 2513, "qmp_block_stream"),
                             ("QL201", "block/snapshot.c", 365, "bdrv_snapshot_delete")]
    lock = found[("QL102", "blockdev.c", 2513, "qmp_block_stream")]
    assert [(s["line"], s["note"]) for s in lock["trace"]] == [
        (2507, "AioContext acquired here"), (2509, "takes has_base → true"),
        (2511, "takes base_bs == 0 → true"), (2513, "returns with AioContext held")]
    drained = found[("QL201", "block/snapshot.c", 365, "bdrv_snapshot_delete")]
    assert [(s["line"], s["note"]) for s in drained["trace"]] == [
        (355, "drained begun here"), (357, "takes drv->bdrv_snapshot_delete → false"),
        (359, "takes fallback_bs → false"), (365, "returns with drained open")]


def test_summaries_of_recursive_components_are_a_fixpoint(tree):
    # bdrv_change_aio_context()'s summary was stale here: +1 drained from a round whose
    # callees' summaries were not final.
    assert stale_summaries(tree, ["block/", "block.c", "blockdev.c", "blockjob.c", "job.c",
                                  "tests/unit/test-bdrv-drain.c"]) == []

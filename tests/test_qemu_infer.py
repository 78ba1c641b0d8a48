"""Contracts inferred from real QEMU 7.2 and 10.0 (docs/inference.md): what the trees write in
their comments and assert at the top of their bodies."""
from __future__ import annotations

import tomllib

import pytest

from conftest import qlint
from qemu_trees import qemu_tree

pytestmark = pytest.mark.qemu


def inferred(tree: str, *paths: str) -> dict:
    """(kind, function, lock) -> the first evidence of each inferred entry."""
    run = qlint("infer", *paths, "-q", cwd=tree)
    assert run.code == 0, run.err
    pack = tomllib.loads(run.out)
    return {(kind, e["function"], e["lock"]): e["evidence"][0]
            for kind in ("requires", "excludes") for e in pack.get(kind, [])}


@pytest.fixture(scope="module")
def qemu72():
    tree = qemu_tree("7.2")
    return inferred(tree, "block.c", "job.c")


@pytest.fixture(scope="module")
def qemu100():
    tree = qemu_tree("10.0")
    return inferred(tree, "block.c", "hw/block/virtio-blk.c")


def test_7_2_written_contract_of_bdrv_root_attach_child(qemu72):
    assert qemu72[("requires", "bdrv_root_attach_child", "AioContext")] == {
        "kind": "comment", "at": "block.c:3104",
        "text": "The caller must hold the AioContext lock @child_bs, but not that of @ctx "
                "(unless @child_bs is already in @ctx)."}


def test_7_2_written_contracts_of_the_job_driver_callbacks(qemu72):
    evidence = qemu72[("requires", "JobDriver.prepare", "AioContext")]
    assert (evidence["kind"], evidence["at"]) == ("comment", "include/qemu/job.h:268")
    assert evidence["text"].startswith("Called with AioContext lock held, since many callbacs")
    assert qemu72[("requires", "JobDriver.abort", "AioContext")]["at"] == "include/qemu/job.h:294"


def test_7_2_main_aiocontext_is_the_bql_not_the_aiocontext_lock(qemu72):
    # block.c: "Must be called from the main AioContext." (bdrv_change_aio_context)
    key = next(k for k in qemu72 if k[1].startswith("bdrv_change_aio_context@"))
    assert key[2] == "AioContext"       # "The caller must own the AioContext lock for the old"
    assert ("requires", key[1], "BQL") in qemu72
    assert qemu72[("requires", key[1], "BQL")]["text"] == "Must be called from the main AioContext."


def test_7_2_global_state_code_is_an_asserted_bql_contract(qemu72):
    assert qemu72[("requires", "bdrv_open", "BQL")] == {
        "kind": "assertion", "at": "block.c:4062", "text": "GLOBAL_STATE_CODE()"}


def test_7_2_g_assert_as_an_optimized_build_expands_it():
    # G_LIKELY() keeps the truth in a variable under -O2; the BQL's own operations assert it
    # too (softmmu/cpus.c), which is the lock's semantics and makes no contract.
    found = inferred(qemu_tree("7.2"), "accel/tcg/tcg-accel-ops.c", "softmmu/cpus.c")
    assert found[("requires", "tcg_handle_interrupt", "BQL")] == {
        "kind": "assertion", "at": "accel/tcg/tcg-accel-ops.c:81",
        "text": "g_assert(qemu_mutex_iothread_locked())"}
    assert not [k for k in found if k[1] in ("qemu_mutex_lock_iothread_impl",
                                             "qemu_mutex_unlock_iothread")]


def test_7_2_the_migration_handlers_and_the_dataplane_contexts():
    # include/migration/register.h writes which SaveVMHandlers run with the iothread lock;
    # the dataplane writes "Context: QEMU global mutex held".
    found = inferred(qemu_tree("7.2"), "migration/block.c", "hw/block/dataplane/virtio-blk.c")
    assert found[("excludes", "SaveVMHandlers.save_setup", "BQL")] == {
        "kind": "comment", "at": "include/migration/register.h:47",
        "text": "This runs outside the iothread lock!"}
    assert found[("requires", "SaveVMHandlers.save_state", "BQL")]["at"] == \
        "include/migration/register.h:20"
    assert not [k for k in found if k[1] in ("SaveVMHandlers.is_active",
                                             "SaveVMHandlers.save_live_iterate")]
    assert found[("requires", "virtio_blk_data_plane_create", "BQL")] == {
        "kind": "comment", "at": "hw/block/dataplane/virtio-blk.c:83",
        "text": "Context: QEMU global mutex held"}


def test_7_2_a_context_dropped_for_a_while_is_the_callers(qemu72):
    # bdrv_reopen() releases the node's context around bdrv_reopen_multiple() and takes it
    # again; AIO_WAIT_WHILE()'s own release (a macro's) makes no contract of its callers.
    assert qemu72[("requires", "bdrv_reopen", "AioContext")] == {
        "kind": "release", "at": "block.c:4480", "text": "aio_context_release(ctx)"}
    # The one other function of block.c and job.c that drops its caller's context,
    # bdrv_try_change_aio_context(), says so in its comment first.
    assert sorted(k[1] for k, e in qemu72.items() if e["kind"] == "release") == ["bdrv_reopen"]
    assert qemu72[("requires", "bdrv_try_change_aio_context", "AioContext")]["kind"] == "comment"


def test_10_0_context_comments_and_assertions(qemu100):
    key = next(k for k in qemu100 if k[1].startswith("virtio_blk_vq_aio_context_init@"))
    assert key == ("requires", key[1], "BQL")
    assert qemu100[key] == {"kind": "comment", "at": "hw/block/virtio-blk.c:1467",
                            "text": "Context: BQL held"}
    assert qemu100[("requires", "bdrv_open", "BQL")]["text"] == "GLOBAL_STATE_CODE()"


def test_10_0_a_kernel_doc_context_line():
    found = inferred(qemu_tree("10.0"), "accel/tcg/cputlb.c")
    # The comment names do_ld_mmio_beN; the function below it is int_ld_mmio_beN().
    key = next(k for k in found if k[1].startswith("int_ld_mmio_beN@"))
    assert (key[0], key[2], found[key]) == ("requires", "BQL", {
        "kind": "comment", "at": "accel/tcg/cputlb.c:1932", "text": "Context: BQL held"})


def test_10_0_graph_lock_is_not_inferred_where_attributes_say_it(qemu100):
    # 10.0 declares the graph lock's contracts with GRAPH_RDLOCK: nothing to add.
    assert not [k for k in qemu100 if k[2] == "graph_lock" and k[0] == "requires"
                and k[1] == "bdrv_refresh_filename"]


def test_7_2_written_contract_on_a_lock_in_a_field():
    # block/nbd.c: "Called with s->requests_lock held." above functions of a BDRVNBDState *s;
    # the lock in that field is made of the QemuMutex and lock-guard calls that take it.
    run = qlint("infer", "block/nbd.c", "-q", cwd=qemu_tree("7.2"))
    pack = tomllib.loads(run.out)
    lock, = pack["lock"]
    assert (lock["name"], lock["field"]) == ("BDRVNBDState.requests_lock",) * 2
    assert {"qemu_mutex_lock_func", "qemu_lockable_auto_lock"} <= set(lock["acquire"])
    on_field = sorted((e["function"], e["evidence"][0]["at"]) for e in pack["requires"]
                      if e["lock"] == lock["name"])
    assert on_field == [("nbd_channel_error_locked@block/nbd.c", "block/nbd.c:164"),
                        ("nbd_client_connecting@block/nbd.c", "block/nbd.c:364"),
                        ("nbd_reconnect_attempt@block/nbd.c", "block/nbd.c:371")]

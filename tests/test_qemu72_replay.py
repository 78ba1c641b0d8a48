"""The replay on real QEMU 7.2: linux-aio.c with seed 000's bug put back is confirmed causally
(the 7.2 era: the IOThread's handlers against main-loop code that unplugs the queue, holding
the node's context lock; the same schedule with the lock held around the completion processing
breaks nothing); the same finding replayed on the shipped file is not reproduced, with the
coverage of what was explored; the two findings of block/ get a verdict or a precise reason.

A replay explores the program it is given: the scratch copies' configuration makes it
linux-aio.c alone, or block/ (`context-include`), which keeps the explorations those of the
seed; the whole program's more entry points make each replay cost minutes."""
from __future__ import annotations

import pytest

from conftest import qlint
from qemu_trees import patch_file, qemu_tree, remove_copy, scratch_copy

pytestmark = pytest.mark.qemu

LAIO = "block/linux-aio.c"


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    copy = scratch_copy(qemu_tree("7.2"), str(tmp_path_factory.mktemp("q72")), context=(LAIO,))
    patch_file(f"{copy}/{LAIO}",
               "    aio_context_acquire(s->aio_context);\n    qemu_laio_process_completions(s);\n",
               "    qemu_laio_process_completions(s);\n    aio_context_acquire(s->aio_context);\n")
    run = qlint("check", LAIO, "--confirm", "--format", "json", cwd=copy)
    yield copy, run
    remove_copy(copy)


def test_bug_put_back_is_confirmed_causally_with_the_main_loop_submitter(broken):
    _copy, run = broken
    assert run.code == 1
    [finding] = run.json["findings"]
    assert (finding["path"], finding["line"]) == (LAIO, 235)
    c = finding["confirmation"]
    assert (c["status"], c["invariant"], c["era"], c["threads"]) == (
        "confirmed", "completion-twice", "7.2", ["iothread", "main"])
    # The seed's failure: one completion of the kernel's ring processed by both threads.
    assert c["message"] == ("aio_co_wake(laiocb->co): Coroutine(request 0.co), which waited for "
                            "its request, is woken a second time (the completion is processed "
                            "twice)")
    assert c["start"]["ring"] == 1
    assert c["satisfied"] == {"change": "AioContext held around the call of "
                                        "qemu_laio_process_completions() at line 235",
                              "invariant": None}
    assert c["assumptions"] == ["setup: laio_attach_aio_context()",
                                "main thread: main-loop code calls laio_io_unplug holding the "
                                "node's context lock"]
    assert (c["preemptions"], c["complete"], c["coverage"]["cuts"]) == (1, True, {})
    main = {e["function"] for e in c["schedule"] if e["thread"] == "main" and e.get("path")}
    assert main >= {"laio_io_unplug", "ioq_submit", "qemu_laio_process_completions"}
    iothread = {e["function"] for e in c["schedule"] if e["thread"] == "iothread"}
    assert "qemu_laio_process_completions" in iothread


def test_the_shipped_file_does_not_reproduce_it(broken, tmp_path):
    _copy, run = broken
    report = tmp_path / "report.json"
    report.write_text(run.out)
    (tmp_path / "tree").mkdir()
    copy = scratch_copy(qemu_tree("7.2"), str(tmp_path / "tree"), context=(LAIO,))
    try:
        shipped = qlint("replay", str(report), "--format", "json", cwd=copy)
    finally:
        remove_copy(copy)
    assert shipped.code == 0, shipped.err
    c = shipped.json["replays"][0]["confirmation"]
    assert (c["status"], c["complete"]) == ("not-reproduced", False)
    # What was explored, and what cut it short, is in the record.
    assert c["coverage"]["states"] == 200001
    assert c["coverage"]["cuts"] == {"state limit reached": 1}
    assert c["coverage"]["rejected"]["without interleaving"] > 0


def test_the_findings_of_block_get_a_verdict_or_a_precise_reason(tmp_path):
    # docs/qemu-7.2-triage.md: a QMP handler's path and QED's timer path.
    copy = scratch_copy(qemu_tree("7.2"), str(tmp_path), context=("block/*",))
    try:
        run = qlint("check", "block/", "--confirm", "--format", "json", cwd=copy)
    finally:
        remove_copy(copy)
    found = {f["function"]: f["confirmation"] for f in run.json["findings"]}
    assert sorted(found) == ["blk_insert_bs", "ioq_submit"]
    assert found["blk_insert_bs"] == {"status": "not-modelled", "reason": (
        "bdrv_root_attach_child() has no definition in the analysed code: what it does without "
        "the lock is unknown (analyse the file that defines it too)")}
    c = found["ioq_submit"]
    # The timer fires, enters QED's coroutine and submits through linux-aio; nothing breaks
    # in what was explored, which the state limit cut short.
    assert (c["status"], c["complete"]) == ("not-reproduced", False)
    assert c["assumptions"] == [
        "setup: bdrv_qed_attach_aio_context(), laio_attach_aio_context()",
        "main thread: main loop calls hmp_drive_del (a root holding BQL)",
        "main thread: main loop calls qmp_block_set_io_throttle (a root holding BQL)",
        "main thread: main-loop code calls laio_init holding the node's context lock"]
    assert c["coverage"]["cuts"]["state limit reached"] == 1

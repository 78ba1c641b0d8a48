"""The replay on real QEMU 7.2: linux-aio.c with seed 000's bug put back is confirmed (the 7.2
era: an IOThread handler against main-loop code submitting I/O under the context's lock); the
same finding replayed on the shipped file is not reproduced."""
from __future__ import annotations

import pytest

from conftest import qlint
from qemu_trees import patch_file, qemu_tree, remove_copy, scratch_copy

pytestmark = pytest.mark.qemu

LAIO = "block/linux-aio.c"


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    copy = scratch_copy(qemu_tree("7.2"), str(tmp_path_factory.mktemp("q72")))
    patch_file(f"{copy}/{LAIO}",
               "    aio_context_acquire(s->aio_context);\n    qemu_laio_process_completions(s);\n",
               "    qemu_laio_process_completions(s);\n    aio_context_acquire(s->aio_context);\n")
    run = qlint("check", LAIO, "--confirm", "--format", "json", cwd=copy)
    yield copy, run
    remove_copy(copy)


def test_bug_put_back_is_confirmed_with_the_main_loop_submitter(broken):
    _copy, run = broken
    assert run.code == 1
    [finding] = run.json["findings"]
    assert (finding["path"], finding["line"]) == (LAIO, 235)
    c = finding["confirmation"]
    assert (c["status"], c["invariant"], c["era"], c["threads"]) == (
        "confirmed", "counter-wrap", "7.2", ["iothread", "main"])
    assert c["values"] == {"LinuxAioState.io_q.in_flight": 0xffffffff}
    assert c["assumptions"][0] == ("main thread: main-loop code calls ioq_submit() holding the "
                                   "IOThread context's lock")
    assert (c["preemptions"], c["complete"]) == (1, True)
    main = [e for e in c["schedule"] if e["thread"] == "main" and e.get("path") == LAIO]
    assert main[0]["function"] == "ioq_submit"
    assert {e["function"] for e in main} >= {"ioq_submit", "qemu_laio_process_completions"}
    iothread = {e["function"] for e in c["schedule"] if e["thread"] == "iothread"}
    assert "qemu_laio_process_completions" in iothread


def test_the_shipped_file_does_not_reproduce_it(broken, tmp_path):
    _copy, run = broken
    report = tmp_path / "report.json"
    report.write_text(run.out)
    shipped = qlint("replay", str(report), "--format", "json", cwd=qemu_tree("7.2"))
    assert shipped.code == 0, shipped.err
    c = shipped.json["replays"][0]["confirmation"]
    assert (c["status"], c["complete"], c["states"], c["schedules"]) == (
        "not-reproduced", True, 740, 1331)


def test_triaged_findings_of_block_say_what_is_not_modelled():
    # docs/qemu-7.2-triage.md: a QMP handler's path and QED's timer path.
    run = qlint("check", "block/", "--confirm", "--format", "json", cwd=qemu_tree("7.2"))
    reasons = {f["function"]: f["confirmation"] for f in run.json["findings"]}
    assert sorted(reasons) == ["blk_insert_bs", "ioq_submit"]
    assert reasons["ioq_submit"] == {"status": "not-modelled", "reason": (
        "its entry point qed_need_check_timer_cb() is a timer callback: the engine models "
        "bottom halves, fd handlers, coroutines and deferred callbacks")}
    assert reasons["blk_insert_bs"] == {"status": "not-modelled", "reason": (
        "its entry point qmp_blockdev_insert_anon_medium() is a root named by [[entry]] (a "
        "QMP/HMP command handler): the engine models bottom halves, fd handlers, coroutines and "
        "deferred callbacks")}

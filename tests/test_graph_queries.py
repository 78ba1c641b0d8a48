"""qlint graph callers / callees / paths and the Graphviz pictures (--dot)."""
from __future__ import annotations

from conftest import qlint

SEED = "fixtures/seed000/before"
AIO = f"{SEED}/linux-aio.c"
DESIGNATED = "fixtures/core/designated"


def test_callers_and_callees_label_each_hop():
    run = qlint("graph", "callers", "qemu_laio_process_completions_and_submit", "--in", SEED)
    assert run.code == 0
    assert run.out.splitlines() == [
        f"qemu_laio_completion_bh  {AIO}:61  [call]",
        f"qemu_laio_completion_cb  {AIO}:69  [call]",
        f"qemu_laio_poll_cb  {AIO}:82  [call]",
    ]
    run = qlint("graph", "callees", "laio_attach_aio_context", "--in", SEED)
    assert run.out.splitlines() == [
        f"qemu_laio_completion_bh  {AIO}:89  [bh via aio_bh_new]",
        f"qemu_laio_completion_cb  {AIO}:90  [fd-handler via aio_set_event_notifier]",
        f"qemu_laio_poll_cb  {AIO}:90  [fd-handler via aio_set_event_notifier]",
    ]
    run = qlint("graph", "callers", "raw_flush", "--in", DESIGNATED)
    assert run.out == f"flush_bh  {DESIGNATED}/driver.c:40  [field BlockDriver.bdrv_flush]\n"


def test_paths_go_through_callback_registrations_shortest_first():
    run = qlint("graph", "paths", "laio_attach_aio_context", "qemu_laio_process_completions",
                "--in", SEED)
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[:4] == [
        "1. laio_attach_aio_context -> qemu_laio_completion_bh -> "
        "qemu_laio_process_completions_and_submit -> qemu_laio_process_completions",
        f"   laio_attach_aio_context  {AIO}:89  [bh via aio_bh_new]",
        f"   qemu_laio_completion_bh  {AIO}:61  [call]",
        f"   qemu_laio_process_completions_and_submit  {AIO}:49  [call]",
    ]
    assert [line for line in lines if not line.startswith(" ")] == [
        "1. laio_attach_aio_context -> qemu_laio_completion_bh -> "
        "qemu_laio_process_completions_and_submit -> qemu_laio_process_completions",
        "2. laio_attach_aio_context -> qemu_laio_completion_cb -> "
        "qemu_laio_process_completions_and_submit -> qemu_laio_process_completions",
        "3. laio_attach_aio_context -> qemu_laio_poll_cb -> "
        "qemu_laio_process_completions_and_submit -> qemu_laio_process_completions",
    ]
    limited = qlint("graph", "paths", "laio_attach_aio_context", "qemu_laio_process_completions",
                    "--in", SEED, "--limit", "1")
    assert limited.out.splitlines() == lines[:4]
    short = qlint("graph", "paths", "laio_attach_aio_context", "qemu_laio_process_completions",
                  "--in", SEED, "--max-hops", "2")
    assert (short.code, short.out) == (1, "")
    assert short.err == ("qlint: no path from laio_attach_aio_context() to "
                         "qemu_laio_process_completions() within 2 hops\n")


def test_paths_do_not_run_against_the_edges():
    run = qlint("graph", "paths", "qemu_laio_process_completions", "laio_attach_aio_context",
                "--in", SEED)
    assert run.code == 1 and run.out == ""


def test_unknown_function_is_an_error():
    run = qlint("graph", "callers", "no_such_function", "--in", SEED)
    assert (run.code, run.err) == (2, "qlint: error: no function named 'no_such_function' in "
                                      "the analysed files\n")


def test_dot_of_a_query():
    run = qlint("graph", "paths", "driver_init", "raw_flush", "--in", DESIGNATED, "--dot")
    assert run.code == 0
    where = f'<font point-size="8" color="#6b7280">{DESIGNATED}/driver.c'
    assert run.out.splitlines()[4:] == [
        f'  n0 [label=<<b>driver_init</b><br/>{where}:43</font>>, fillcolor="#dbeafe", '
        'penwidth=1.5];',
        f"  n1 [label=<<b>flush_bh</b><br/>{where}:36</font>>];",
        f'  n2 [label=<<b>raw_flush</b><br/>{where}:20</font>>, fillcolor="#dbeafe", '
        'penwidth=1.5];',
        '  n0 -> n1 [label="bh via aio_bh_schedule_oneshot (line 46)", style=dashed];',
        '  n1 -> n2 [label="field BlockDriver.bdrv_flush (line 40)"];',
        "}",
    ]
    assert run.out.startswith("digraph qlint {\n")


def test_dot_of_a_findings_path():
    run = qlint("check", SEED, "--dot", "--jobs", "1")
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines[0] == "digraph qlint {" and lines[-1] == "}"
    nodes = [line.split(" [")[0].strip() for line in lines if "[label=" in line]
    edges = [line.strip().rstrip(";") for line in lines if "->" in line]
    # entry function, the function with the violating call, then the three related locations
    # in one node (side by side they widened the picture)
    assert nodes == ["f1_0", "f1_1", "f1_r"]
    assert edges == ["f1_0 -> f1_1", "f1_1 -> f1_r [style=dashed, arrowhead=none]"]
    related = next(line for line in lines if line.strip().startswith("f1_r "))
    assert [related.count(f"linux-aio.c:{n}<") for n in (89, 90)] == [1, 2]
    violation = next(line for line in lines if line.strip().startswith("f1_1 "))
    assert "<b>qemu_laio_process_completions_and_submit</b>" in violation
    assert "calls qemu_laio_process_completions() without AioContext" in violation
    assert 'fillcolor="#fee2e2"' in violation
    entry = next(line for line in lines if line.strip().startswith("f1_0 "))
    assert "entry point: bh registered by aio_bh_new() in" in entry
    assert qlint("check", SEED, "--dot", "--jobs", "2").out == run.out

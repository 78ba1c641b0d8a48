"""QL102/QL201/QL202/QL203 on the section fixtures: exact findings and paths."""
from __future__ import annotations

from conftest import findings, qlint, trace

SEED = "fixtures/seed003"
SEC = "fixtures/sections"


def check(path: str, *extra):
    return qlint("check", path, "--format", "json", "--jobs", "1", *extra)


def notes(finding):
    return [(s["function"], s["line"], s["note"]) for s in finding["trace"]]


def test_seed003_before_is_flagged_at_the_deferral_with_begin_and_end():
    run = check(f"{SEED}/before")
    assert run.code == 1
    assert findings(run) == [("QL202", f"{SEED}/before/mirror.c", 32, "mirror_run")]
    f = run.json["findings"][0]
    assert f["message"] == ("drained is open across the deferral of mirror_exit() without "
                            "iohandler-external-disabled")
    assert f["related"] == [
        {"path": f"{SEED}/before/mirror.c", "line": 31, "message": "drained begins here"},
        {"path": f"{SEED}/before/mirror.c", "line": 21,
         "message": "drained ends here, in mirror_exit()"}]
    assert notes(f) == [
        ("mirror_run", 31, "drained begins here"),
        ("mirror_run", 32, "defers mirror_exit() to the main loop with drained open"),
        ("mirror_exit", 21, "drained ends here")]


def test_seed003_after_is_clean():
    run = check(f"{SEED}/after")
    assert run.code == 0 and run.json["findings"] == []


def test_drained_section_leaked_on_goto_out():
    run = check(f"{SEC}/goto-leak")
    # resize_node_fixed ends the section after the label: clean.
    assert findings(run) == [("QL201", f"{SEC}/goto-leak/resize.c", 18, "resize_node")]
    f = run.json["findings"][0]
    assert f["message"] == ("drained section of bs begun at line 10 is still open when resize_node() "
                            "returns on this path")
    assert notes(f) == [("resize_node", 10, "drained begun here"),
                        ("resize_node", 12, "takes ret < 0 → true"),
                        ("resize_node", 18, "returns with drained open")]


def test_lock_released_twice_on_one_path():
    run = check(f"{SEC}/double-release")
    assert findings(run) == [("QL102", f"{SEC}/double-release/release.c", 15, "flush_locked")]
    f = run.json["findings"][0]
    assert f["message"] == "AioContext lock of s->ctx released twice on this path (already released at line 13)"
    assert trace(f) == [("flush_locked", 12), ("flush_locked", 13), ("flush_locked", 15)]


def test_a_flag_tested_alone_then_in_a_compound_condition_is_one_decision():
    """`!s->ready` taken true, then `s->ready && bytes > 0` taken true, is no path (the
    conditions' trees, not their text): no double release; the leak with no bytes stays."""
    run = check(f"{SEC}/compound")
    assert findings(run) == [("QL102", f"{SEC}/compound/align.c", 18, "align_request")]
    f = run.json["findings"][0]
    assert f["message"] == ("AioContext lock of s->ctx acquired at line 10 is still held when "
                            "align_request() returns on this path")
    assert notes(f) == [
        ("align_request", 10, "AioContext acquired here"),
        ("align_request", 11, "takes !s->ready → false"),
        ("align_request", 14, "takes s->ready && bytes > 0 → false"),
        ("align_request", 18, "returns with AioContext held")]


def test_a_field_stored_and_tested_through_accessors_is_the_value_stored():
    """`pages_set_addr0(p, phys_pc)` stores phys_pc, `pages_addr0(p)` reads it back: a path
    that locked on `phys_pc != -1` cannot find -1 there. Once phys_pc changes, it can."""
    run = check(f"{SEC}/accessors")
    assert findings(run) == [("QL102", f"{SEC}/accessors/pages.c", 53, "page_gen_stale")]
    assert run.json["findings"][0]["message"] == (
        "page_gen_stale() released the AioContext lock on this path without having acquired "
        "it, unlike its other paths")


def test_section_ended_on_only_one_path_of_the_deferred_callback():
    run = check(f"{SEC}/deferred-one-path")
    assert findings(run) == [
        ("QL201", f"{SEC}/deferred-one-path/job.c", 15, "commit_complete"),
        # The same deferral also lacks the iohandler section that QEMU <= 4.1 needs.
        ("QL202", f"{SEC}/deferred-one-path/job.c", 25, "commit_run")]
    f = run.json["findings"][0]
    assert f["message"] == ("the drained section that commit_run() hands to deferred "
                            "commit_complete() (line 25) is not ended on some of its paths")
    assert notes(f) == [("commit_run", 24, "drained begun here"),
                        ("commit_run", 25, "defers commit_complete() with drained open"),
                        ("commit_complete", 14, "takes s->cancelled → true"),
                        ("commit_complete", 15, "returns with drained open")]


def test_nested_sections_of_the_same_kind():
    run = check(f"{SEC}/nested")
    # replace_balanced nests two drained sections correctly; replace_early_return leaks the
    # outer one when swap_nodes() fails.
    assert findings(run) == [("QL201", f"{SEC}/nested/nested.c", 27, "replace_early_return")]
    assert run.json["findings"][0]["message"] == (
        "drained section of a begun at line 22 is still open when replace_early_return() returns on "
        "this path")


def test_inside_violation_two_calls_deep():
    run = check(f"{SEC}/inside")
    assert findings(run) == [("QL203", f"{SEC}/inside/truncate.c", 7, "shrink")]
    f = run.json["findings"][0]
    assert f["message"] == ("blk_truncate() must run inside the drained section, which is not "
                            "open on this path from bh shrink_bh()")
    assert trace(f) == [("shrink_bh", 15), ("shrink_bh", 17), ("shrink_image", 12), ("shrink", 7)]


def test_rules_reports_the_sections_pack_state_for_a_tree():
    run = qlint("rules", f"{SEED}/before")
    assert run.code == 0
    lines = run.out.splitlines()
    assert ("pack qemu-sections      partially active: 6 of 7 entries (inactive: "
            "job_defer_to_main_loop is not declared)") in lines
    assert any(l.startswith("QL202 section-across-deferral") and l.endswith("  active")
               for l in lines)


def test_a_drain_begun_without_polling_is_a_drained_section(tmp_path):
    """bdrv_graph_wrlock() (QEMU 10.0) drains with bdrv_drain_all_begin_nopoll() and ends
    with bdrv_drain_all_end(): balanced, not a section ended that was never begun."""
    from fixture_trees import make_tree
    root = make_tree(tmp_path, {"wrlock.c": (
        '#include "qemu/fixture-state.h"\n'
        "void bdrv_drain_all_begin_nopoll(void);\n"
        "void bdrv_drain_all_end(void);\n\n"
        "void graph_wrlock(void)\n{\n    bdrv_drain_all_begin_nopoll();\n"
        "    bdrv_drain_all_end();\n}\n\n"
        "static void bh(void *o)\n{\n    graph_wrlock();\n}\n\n"
        "void init(State *s)\n{\n    aio_bh_new(s->ctx, bh, s);\n}\n")})
    run = qlint("check", ".", "--format", "json", "--jobs", "1", "--select", "QL2", cwd=root)
    assert (run.code, findings(run), run.err) == (0, [], "")


def test_a_transaction_runs_only_the_actions_added_to_it():
    # qmp_x_change_ctx: change_ctx() begins a drained section and adds the action whose clean
    # callback ends it: balanced, and its transaction never runs attach_commit(), whose
    # requirement is qmp_x_attach's (it adds that action, then runs it without the lock).
    # qmp_x_forget adds an action that ends nothing: its section stays open.
    run = check(f"{SEC}/transaction")
    assert findings(run) == [("QL101", f"{SEC}/transaction/tran.c", 52, "attach_commit"),
                             ("QL201", f"{SEC}/transaction/tran.c", 89, "qmp_x_forget")]
    ql101, ql201 = run.json["findings"]
    assert notes(ql101) == [
        ("qmp_x_attach", 76, "entry point: QMP/HMP command handler (main loop) (holds BQL)"),
        ("qmp_x_attach", 81, "calls attach_commit() through tran_commit()"),
        ("attach_commit", 52, "calls bdrv_root_attach_child() without AioContext")]
    assert (ql201["line"], ql201["column"]) == (89, 5)


def test_a_transaction_run_in_a_recursion_gets_what_its_callbacks_need_in_later_rounds():
    # refresh_child() needs the AioContext lock only from the second round of its component
    # (its paths end at replace_node() in the first). replace_node() reads what its action's
    # callback needs when it runs the transaction, not as a callee's summary: it was left
    # with the first round's nothing, and there was no finding.
    run = check(f"{SEC}/transaction-recursive")
    assert findings(run) == [("QL101", f"{SEC}/transaction-recursive/replace.c", 29,
                              "refresh_child")]
    assert notes(run.json["findings"][0]) == [
        ("qmp_x_replace", 58, "entry point: QMP/HMP command handler (main loop) (holds BQL)"),
        ("qmp_x_replace", 60, "calls replace_node()"),
        ("replace_node", 54, "calls replace_child_commit() through tran_commit()"),
        ("replace_child_commit", 36, "calls refresh_child()"),
        ("refresh_child", 29, "calls bdrv_root_attach_child() without AioContext")]

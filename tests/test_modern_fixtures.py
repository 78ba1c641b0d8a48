"""The qemu-modern pack (QL301..QL304, and QL103 on GRAPH_UNLOCKED) on its fixtures: a
separate tree with its own compile database, written against QEMU 10-like headers."""
from __future__ import annotations

import pytest

from conftest import findings, qlint, trace

MODERN = "fixtures/modern"


def check(path: str, *extra):
    return qlint("check", path, "--format", "json", "--jobs", "1", *extra)


@pytest.mark.parametrize("case", ["coroutine-fn", "no-coroutine-fn", "graph-lock", "guards",
                                  "annotation"])
def test_after_is_clean(case):
    run = check(f"{MODERN}/{case}/after")
    assert (run.code, run.json["findings"]) == (0, [])


def test_ql301_direct_and_through_a_struct_field():
    run = check(f"{MODERN}/coroutine-fn/before")
    path = f"{MODERN}/coroutine-fn/before/requests.c"
    assert run.code == 1
    assert findings(run) == [("QL301", path, 28, "request_sync"),
                             ("QL301", path, 33, "request_through_ops")]
    assert [f["message"] for f in run.json["findings"]] == [
        "request_run() (coroutine_fn) needs coroutine context, but request_sync() is neither "
        "coroutine_fn nor coroutine_mixed_fn and may run outside a coroutine",
        "a call through RequestOps.run (coroutine_fn) needs coroutine context, but "
        "request_through_ops() is neither coroutine_fn nor coroutine_mixed_fn and may run "
        "outside a coroutine"]
    assert trace(run.json["findings"][0]) == [("request_sync", 26), ("request_sync", 28)]


def test_ql302_co_wrapper_and_aio_poll_in_a_coroutine_fn():
    run = check(f"{MODERN}/no-coroutine-fn/before")
    path = f"{MODERN}/no-coroutine-fn/before/flush.c"
    assert findings(run) == [("QL302", path, 9, "image_co_commit"),
                             ("QL302", path, 11, "image_co_commit")]
    assert run.json["findings"][0]["message"] == (
        "bdrv_flush() (no_coroutine_fn) must not run in a coroutine, but image_co_commit() "
        "calls it in coroutine context (call its coroutine_fn counterpart)")


def test_ql303_field_direct_function_pointer_bh_and_writer_lock():
    run = check(f"{MODERN}/graph-lock/before")
    path = f"{MODERN}/graph-lock/before/driver.c"
    assert findings(run) == [("QL303", path, 11, "image_refresh"),
                             ("QL303", path, 16, "image_co_size"),
                             ("QL303", path, 34, "filter_apply"),
                             ("QL303", path, 46, "image_schedule_refresh"),
                             ("QL303", path, 52, "image_replace")]
    assert [f["message"] for f in run.json["findings"]] == [
        "a call through BlockDriver.bdrv_refresh_limits (GRAPH_RDLOCK_PTR) requires graph_lock, "
        "which image_refresh() neither holds nor declares (GRAPH_RDLOCK)",
        "bdrv_co_getlength() (GRAPH_RDLOCK) requires graph_lock, which image_co_size() neither "
        "holds nor declares (GRAPH_RDLOCK)",
        "filter_check_children() (GRAPH_RDLOCK), called through Filter.check, requires "
        "graph_lock, which filter_apply() neither holds nor declares (GRAPH_RDLOCK)",
        "image_refresh_bh() requires graph_lock but is registered as a bh by "
        "aio_bh_schedule_oneshot(): nothing holds graph_lock when it runs",
        "bdrv_replace_child() (GRAPH_WRLOCK) requires graph_wrlock, which image_replace() "
        "neither holds nor declares (GRAPH_WRLOCK)"]


def test_graph_unlocked_callee_under_a_guard_is_ql103():
    run = check(f"{MODERN}/guards/before")
    path = f"{MODERN}/guards/before/guards.c"
    assert findings(run) == [("QL103", path, 12, "image_drain_locked"),
                             ("QL103", path, 21, "image_co_settle")]
    assert run.json["findings"][0]["message"] == (
        "bdrv_drain_all() must not be called with graph_lock held, but graph_lock is held by "
        "image_drain_locked() here")


def test_ql304_suggests_both_annotations_with_the_caller_as_witness():
    run = check(f"{MODERN}/annotation/before")
    path = f"{MODERN}/annotation/before/copy.c"
    assert run.code == 1                        # a note is a finding like any other
    assert findings(run) == [("QL304", path, 8, "copy_chunk"), ("QL304", path, 8, "copy_chunk")]
    assert [f["message"] for f in run.json["findings"]] == [
        "copy_chunk() calls bdrv_co_getlength() (GRAPH_RDLOCK), which needs graph_lock, and its "
        "callers provide it (e.g. copy_co_run()): declare copy_chunk() GRAPH_RDLOCK",
        "copy_chunk() calls bdrv_co_getlength() (coroutine_fn), which needs coroutine context, "
        "and its callers provide it (e.g. copy_co_run()): declare copy_chunk() coroutine_fn"]
    assert trace(run.json["findings"][0]) == [("copy_co_run", 15), ("copy_chunk", 10)]


def test_pack_status_on_the_modern_and_the_7_2_like_trees():
    modern = qlint("rules", f"{MODERN}/graph-lock/before")
    packs = [line for line in modern.out.splitlines() if line.startswith("pack ")]
    assert packs == [
        "pack qemu-aiocontext    inactive: aio_context_acquire is not declared",
        "pack qemu-contracts     partially active: 24 of 28 entries (inactive: "
        "aio_context_acquire is not declared; bdrv_drained_begin is not declared)",
        "pack qemu-core          partially active: 68 of 74 entries (inactive: "
        "aio_disable_external is not declared; aio_set_fd_handler is not declared; "
        "aio_set_event_notifier is not declared; tran_add is not declared; "
        "error_setg_internal is not declared)",
        "pack qemu-modern        active",
        "pack qemu-sections      inactive: bdrv_drained_begin is not declared"]
    older = qlint("rules", "fixtures/core/excludes")
    assert ("pack qemu-modern        inactive: bdrv_graph_co_rdlock is not declared; no "
            "declaration has attribute annotate:coroutine_fn; holds only inactive locks "
            "(coroutine-context); no declaration has attribute annotate:no_coroutine_fn"
            in older.out.splitlines())
    assert ("QL303 graph-lock-required              a GRAPH_RDLOCK/GRAPH_WRLOCK function is "
            "reached without the graph lock  inactive: no active [[lock]] entry: "
            "bdrv_graph_co_rdlock is not declared" in older.out.splitlines())


def test_a_contract_in_the_configuration_vouches_for_a_function_by_name(tmp_path):
    cfg = tmp_path / "qlint.toml"
    cfg.write_text('[[contract]]   # request_sync() is only ever called from coroutines\n'
                   'function = "request_s*"\naccepts = ["coroutine-context"]\n')
    run = check(f"{MODERN}/coroutine-fn/before", "--config", str(cfg))
    assert findings(run) == [("QL301", f"{MODERN}/coroutine-fn/before/requests.c", 33,
                              "request_through_ops")]


def test_idioms_assertions_compound_conditions_and_the_declaration_callers_see():
    # stream_co_step(): g_assert(qemu_in_coroutine()) in a coroutine_fn suggests nothing (the
    # assertion's failing branch aborts; glib's G_LIKELY value is its statement expression's).
    # stream_load(): qemu_in_coroutine() as a conjunct of a compound condition, either side.
    # stream_peek(): stream_get_counted() is declared coroutine_mixed_fn where callers see it,
    # though defined coroutine_fn. Only stream_load_unchecked() yields outside a coroutine.
    # stream_co_refill() calls a co_wrapper_mixed wrapper from a coroutine: it works at run
    # time, so QL302 says so as a warning.
    run = check(f"{MODERN}/idioms")
    path = f"{MODERN}/idioms/idioms.c"
    assert findings(run) == [("QL301", path, 59, "stream_load_unchecked"),
                             ("QL302", path, 81, "stream_co_refill")]
    assert [f["level"] for f in run.json["findings"]] == ["error", "warning"]


def test_a_rule_s_level_is_configurable(tmp_path):
    cfg = tmp_path / "qlint.toml"
    cfg.write_text('severity = { QL301 = "note" }\n')
    run = qlint("check", f"{MODERN}/idioms", "--config", str(cfg), "--jobs", "1")
    assert run.out.splitlines()[0].startswith(
        f"{MODERN}/idioms/idioms.c:59:13: QL301 [coroutine-fn-from-non-coroutine] note: ")
    cfg.write_text('severity = { QL301 = "fatal" }\n')
    run = qlint("check", f"{MODERN}/idioms", "--config", str(cfg))
    assert (run.code, run.err) == (2, f"qlint: error: {cfg}:1: 'severity': 'QL301' must be one "
                                      f"of error, warning, note\n")


def test_graph_lock_guards_declared_as_qemu_8_0_does():
    # graph_lockable_auto_lock() asserts TSA_ASSERT(graph_lock) and takes the reader lock in
    # its body: the guard holds it for the rest of the scope (both forms), and a call after
    # the loop form's scope is still QL303.
    run = check(f"{MODERN}/guards80")
    assert findings(run) == [("QL303", f"{MODERN}/guards80/guards.c", 69, "image_co_length_late")]


def test_a_field_reaches_functions_defined_outside_the_checked_files():
    # filter_check_remote() is stored into RemoteFilter.check and declared GRAPH_RDLOCK, but
    # defined in no file of the program: the call through the field still needs the lock, and
    # the graph names the function.
    run = check(f"{MODERN}/outside")
    assert findings(run) == [("QL303", f"{MODERN}/outside/driver.c", 21, "filter_run")]
    assert run.json["findings"][0]["message"] == (
        "filter_check_remote() (GRAPH_RDLOCK), called through RemoteFilter.check, requires "
        "graph_lock, which filter_run() neither holds nor declares (GRAPH_RDLOCK)")
    graph = qlint("graph", "callees", "filter_run", "--in", f"{MODERN}/outside")
    assert graph.out == (f"filter_check_remote  {MODERN}/outside/driver.c:21  "
                         "[field RemoteFilter.check, defined outside the checked files]\n")


def test_a_callback_s_requirement_is_judged_where_it_is_passed():
    # header_store() calls what its callers pass; image_set_up_encryption() passes
    # image_hdr_write() (GRAPH_RDLOCK) holding the lock by its own annotation, and
    # image_amend_encryption() passes it without: that call is the finding, not the generic
    # layer's call through its parameter.
    # image_create() passes an extent callback at the argument position the generic layer's
    # header callback has further down: not what header_store() calls, nothing reported.
    run = check(f"{MODERN}/callback-param")
    path = f"{MODERN}/callback-param/crypto.c"
    assert findings(run) == [("QL303", path, 38, "image_amend_encryption")]
    f = run.json["findings"][0]
    assert f["message"] == (
        "image_amend_encryption() passes image_hdr_write() (GRAPH_RDLOCK) to header_create(), "
        "which calls it: it requires graph_lock, which image_amend_encryption() neither holds "
        "nor declares (GRAPH_RDLOCK)")
    assert trace(f) == [("image_amend_encryption", 36), ("image_amend_encryption", 38),
                        ("header_create", 18), ("header_store", 13)]


def test_a_field_holding_both_kinds_of_functions_is_not_charged_to_its_callers():
    # Command.cmd holds a coroutine_fn command and a plain one, sent their own ways by the
    # table's .coroutine flag (QEMU's HMPCommand): command_exec() is not charged. Step.run
    # holds only coroutine_fn steps: step_now() calls one outside a coroutine.
    run = check(f"{MODERN}/command-table")
    path = f"{MODERN}/command-table/table.c"
    assert run.code == 1
    assert findings(run) == [("QL301", path, 66, "step_now")]
    assert run.json["findings"][0]["message"].startswith(
        "step_flush() (coroutine_fn), called through Step.run, needs coroutine context, but "
        "step_now() is neither coroutine_fn nor coroutine_mixed_fn")


def test_coroutine_context_flows_down_to_helpers():
    # disk_read_header(): every caller runs in a coroutine, it calls a co_wrapper_mixed (a
    # warning); disk_sync(): one caller does, it calls a co_wrapper (an error); disk_length():
    # called in and out of coroutines, it calls the mixed wrapper, which is what that is for.
    # disk_resize_cb(): every way in is a coroutine's call through a struct field (an error);
    # disk_notify_flush(): the only coroutine way in goes through a field that may hold any
    # function stored there, which proves nothing.
    run = check(f"{MODERN}/helpers")
    path = f"{MODERN}/helpers/helpers.c"
    assert findings(run) == [("QL302", path, 18, "disk_read_header"),
                             ("QL302", path, 29, "disk_sync"),
                             ("QL302", path, 88, "disk_resize_cb")]
    every, some, field = run.json["findings"]
    assert field["message"] == (
        "disk_flush() (no_coroutine_fn) must not run in a coroutine, but disk_resize_cb() runs "
        "in coroutine context: every caller calls it there (as disk_co_resize() does)")
    assert trace(field) == [("disk_co_resize", 116), ("disk_co_resize", 119),
                            ("disk_resize_cb", 88)]
    assert (every["level"], some["level"]) == ("warning", "error")
    assert every["message"] == (
        "disk_read() (no_coroutine_fn) must not run in a coroutine, but disk_read_header() runs "
        "in coroutine context: every caller calls it there (as disk_co_open() does)")
    assert some["message"] == (
        "disk_flush() (no_coroutine_fn) must not run in a coroutine, but disk_sync() calls it in "
        "coroutine context where disk_co_close() calls disk_sync()")
    assert trace(some) == [("disk_co_close", 32), ("disk_co_close", 34), ("disk_sync", 29)]


def test_a_mixed_wrapper_asserts_the_graph_lock_of_its_coroutine_callers():
    # child_pread() (a generated co_wrapper_mixed_bdrv_rdlock) calls assume_graph_lock()
    # (TSA_ASSERT_SHARED) where qemu_in_coroutine() is true. A coroutine_fn that reaches it
    # without the lock, itself or through a helper, is reported at its call; the one under
    # GRAPH_RDLOCK_GUARD(), the GRAPH_RDLOCK one and the bottom half are not.
    run = check(f"{MODERN}/mixed-wrapper")
    path = f"{MODERN}/mixed-wrapper/wrapper.c"
    assert run.code == 1
    assert findings(run) == [("QL303", path, 54, "image_co_create"),
                             ("QL302", path, 60, "image_co_probe"),
                             ("QL303", path, 60, "image_co_probe")]
    through, _mixed, direct = run.json["findings"]
    assert through["message"] == (
        "child_pread() asserts graph_lock in coroutine context (assume_graph_lock()), and "
        "image_co_create() calls it there through header_read() without holding or declaring "
        "graph_lock (GRAPH_RDLOCK)")
    assert trace(through) == [("image_co_create", 52), ("image_co_create", 54),
                              ("header_read", 41), ("child_pread", 28)]
    assert [(r["line"], r["message"]) for r in through["related"]] == [
        (28, "child_pread() asserts graph_lock here")]
    assert direct["message"] == (
        "child_pread() asserts graph_lock in coroutine context (assume_graph_lock()), and "
        "image_co_probe() calls it there without holding or declaring graph_lock "
        "(GRAPH_RDLOCK)")
    assert trace(direct) == [("image_co_probe", 58), ("image_co_probe", 60), ("child_pread", 28)]


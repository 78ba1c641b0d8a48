"""QL101/QL103 on the core fixtures: exact findings, traces and exit codes."""
from __future__ import annotations

import pytest

from conftest import findings, qlint, trace
from fixture_trees import HEADER, make_tree

SEED = "fixtures/seed000"
CORE = "fixtures/core"


def check(path: str, *extra):
    return qlint("check", path, "--format", "json", "--jobs", "1", *extra)


def test_seed000_before_is_flagged_with_the_path_from_the_handlers():
    run = check(f"{SEED}/before")
    assert run.code == 1
    assert findings(run) == [("QL101", f"{SEED}/before/linux-aio.c", 49,
                              "qemu_laio_process_completions_and_submit")]
    f = run.json["findings"][0]
    assert f["message"] == ("qemu_laio_process_completions() requires AioContext, which is not "
                            "held on this path from bh qemu_laio_completion_bh()")
    assert trace(f) == [("qemu_laio_completion_bh", 57), ("qemu_laio_completion_bh", 61),
                        ("qemu_laio_process_completions_and_submit", 49)]
    assert f["trace"][0]["note"] == ("entry point: bh registered by aio_bh_new() in "
                                     "laio_attach_aio_context(), line 89 (holds no lock)")
    assert [(r["line"], r["message"]) for r in f["related"]] == [
        (89, "qemu_laio_completion_bh() registered as bh by aio_bh_new()"),
        (90, "also reached from qemu_laio_completion_cb() registered as fd-handler by "
             "aio_set_event_notifier()"),
        (90, "also reached from qemu_laio_poll_cb() registered as fd-handler by "
             "aio_set_event_notifier()"),
    ]


def test_seed000_after_is_clean():
    run = check(f"{SEED}/after")
    assert run.code == 0
    assert run.json["findings"] == []
    assert run.json["stats"]["tus_with_errors"] == 0


def test_callback_stored_by_designated_initializer_is_called_through_the_field():
    run = check(f"{CORE}/designated")
    assert findings(run) == [("QL101", f"{CORE}/designated/driver.c", 22, "raw_flush")]
    f = run.json["findings"][0]
    assert trace(f) == [("flush_bh", 36), ("flush_bh", 40), ("raw_flush", 22)]
    assert f["trace"][1]["note"] == "calls raw_flush() through BlockDriver.bdrv_flush"


def test_lock_taken_two_callers_up_is_clean():
    run = check(f"{CORE}/lock-two-up")
    assert run.code == 0 and run.json["findings"] == []


def test_only_the_entry_path_without_the_lock_is_flagged():
    run = check(f"{CORE}/two-entries")
    assert findings(run) == [("QL101", f"{CORE}/two-entries/entries.c", 7, "process")]
    f = run.json["findings"][0]
    assert trace(f) == [("unlocked_read", 19), ("unlocked_read", 24), ("process", 7)]
    assert f["related"] == [{"path": f"{CORE}/two-entries/entries.c", "line": 31,
                             "message": "unlocked_read() registered as fd-handler by "
                                        "aio_set_event_notifier()"}]


def test_other_entry_points_a_pack_names_are_related_locations(tmp_path):
    # Two QMP handlers (named by the pack's [[entry]], no registration) and an fd handler
    # reach the same call: the first handler leads the trace; the others are listed where
    # they are registered, then where those a pack names are defined.
    root = make_tree(tmp_path, {"entries.c": HEADER + (
        "static void process(State *s)\n{\n    qemu_laio_process_completions(s);\n}\n\n"
        "static void unlocked_read(EventNotifier *e)\n{\n"
        "    State *s = container_of(e, State, e);\n\n    process(s);\n}\n\n"
        "void qmp_x_flush(State *s)\n{\n    process(s);\n}\n\n"
        "void qmp_y_flush(State *s)\n{\n    process(s);\n}\n\n"
        "void entries_attach(State *s)\n{\n"
        "    aio_set_event_notifier(s->ctx, &s->e, false, unlocked_read, NULL, NULL);\n}\n")})
    run = qlint("check", ".", "--format", "json", cwd=root)
    assert findings(run) == [("QL101", "entries.c", 4, "process")]
    f = run.json["findings"][0]
    assert trace(f) == [("qmp_x_flush", 14), ("qmp_x_flush", 16), ("process", 4)]
    assert [(r["line"], r["message"]) for r in f["related"]] == [
        (26, "also reached from unlocked_read() registered as fd-handler by "
             "aio_set_event_notifier()"),
        (19, "also reached from qmp_y_flush(), entry point: QMP/HMP command handler (main loop)")]


def test_goto_error_path_that_skips_the_lock():
    run = check(f"{CORE}/goto-error")
    assert findings(run) == [("QL101", f"{CORE}/goto-error/goto.c", 21, "fd_read")]


def test_recursion_terminates_and_the_requirement_flows_through_the_cycle():
    run = check(f"{CORE}/recursion")
    assert findings(run) == [("QL101", f"{CORE}/recursion/recursion.c", 16, "walk_node")]
    assert trace(run.json["findings"][0]) == [("walk_bh", 21), ("walk_bh", 23),
                                              ("walk_tree", 9), ("walk_node", 16)]


def test_same_named_statics_in_two_tus_stay_apart():
    run = check(f"{CORE}/statics")
    assert findings(run) == [("QL101", f"{CORE}/statics/a.c", 6, "helper")]
    run = qlint("graph", "callers", "helper", "--in", f"{CORE}/statics")
    assert run.out.splitlines() == [f"a_bh  {CORE}/statics/a.c:11  [call]",
                                    f"b_bh  {CORE}/statics/b.c:13  [call]"]


def test_lock_guards_and_mutex_macros():
    run = check(f"{CORE}/guards")
    # Inside WITH_QEMU_LOCK_GUARD, under QEMU_LOCK_GUARD and between qemu_mutex_lock/unlock
    # the lock is held; after the guarded loop and after the unlock it is not.
    assert findings(run) == [("QL101", f"{CORE}/guards/guards.c", 11, "with_guard"),
                             ("QL101", f"{CORE}/guards/guards.c", 25, "plain_mutex")]


def test_excluded_lock_held_locally_and_at_a_coroutine_entry():
    run = check(f"{CORE}/excludes")
    assert findings(run) == [("QL103", f"{CORE}/excludes/excludes.c", 9, "drain_locked"),
                             ("QL103", f"{CORE}/excludes/excludes.c", 15, "drain_unlocked")]
    assert run.json["findings"][1]["trace"][0]["note"] == (
        "entry point: coroutine registered by qemu_coroutine_create() in excludes_init(), "
        "line 31 (holds AioContext)")


def test_a_lock_that_cannot_be_taken_twice_through_qemus_conditional_idioms():
    # .qlint.toml: taking the BQL excludes holding it. A helper that drops its caller's BQL,
    # one that drops it where a test finds it held, one that takes it where a test kept in a
    # local found it free, and one that calls a function asserting the BQL while it holds it:
    # each is right where it is called. Taking it twice is reported, at a QMP handler and in
    # a thread that took it itself.
    path = f"{CORE}/bql-conditional/bql.c"
    run = check(f"{CORE}/bql-conditional")
    assert (run.code, findings(run)) == (1, [("QL103", path, 12, "handle_exception"),
                                             ("QL103", path, 72, "vcpu_thread")])
    entry, local = run.json["findings"]
    assert entry["message"] == ("qemu_mutex_lock_iothread_impl() must not be called with BQL "
                                "held, which it is on this path from entry qmp_stop()")
    assert trace(entry) == [("qmp_stop", 87), ("qmp_stop", 89), ("handle_exception", 12)]
    assert local["message"] == ("qemu_mutex_lock_iothread_impl() must not be called with BQL "
                                "held, but BQL is held by vcpu_thread() here")
    assert trace(local) == [("vcpu_thread", 64), ("vcpu_thread", 72), ("handle_exception", 12)]


def test_registration_through_a_wrapper_and_a_lock_taking_wrapper():
    run = check(f"{CORE}/wrappers")
    assert findings(run) == [("QL101", f"{CORE}/wrappers/wrappers.c", 30, "unlocked_cb")]
    assert run.json["findings"][0]["trace"][0]["note"] == (
        "entry point: bh registered by aio_bh_schedule_oneshot() through defer() in "
        "wrappers_init(), line 36 (holds no lock)")


def test_lock_released_by_the_function_itself_is_flagged_without_callers():
    run = check(f"{CORE}/local-release")
    assert findings(run) == [("QL101", f"{CORE}/local-release/release.c", 7, "poll_released")]
    assert run.json["findings"][0]["message"] == (
        "qemu_laio_process_completions() requires AioContext, but AioContext was released by "
        "poll_released() before this call")


def test_a_context_found_to_be_the_main_one_is_the_main_loops():
    # `if (qemu_get_aio_context() != ctx) aio_context_acquire(ctx);`: where ctx is the main
    # context the main loop holds it (rules/qemu-aiocontext.toml, [[assume]] `* == ...`). Being
    # in the main thread, or a context found not to be the main one, holds nothing.
    run = check(f"{CORE}/main-context")
    released = "requires AioContext, but AioContext was released by {}() before this call"
    assert (run.code, findings(run)) == (1, [
        ("QL101", f"{CORE}/main-context/main.c", 25, "run_in_main_thread"),
        ("QL101", f"{CORE}/main-context/main.c", 35, "run_elsewhere")])
    assert [f["message"] for f in run.json["findings"]] == [
        "qemu_laio_process_completions() " + released.format("run_in_main_thread"),
        "qemu_laio_process_completions() " + released.format("run_elsewhere")]


def test_exported_api_gets_no_invented_lock_state():
    run = check(f"{CORE}/unknown-caller")
    assert run.code == 0 and run.json["findings"] == []
    # The statistic counts the whole program, the context of the check: every fixture that
    # the fixtures' compile database lists (`graph requirements --in fixtures` lists them).
    program = qlint("graph", "requirements", "--in", "fixtures")
    assert run.json["stats"]["requirements_at_unknown_callers"] == \
        len(program.out.splitlines()) == 3
    graph = qlint("graph", "requirements", "--in", f"{CORE}/unknown-caller")
    assert graph.code == 0
    assert graph.out == (
        f"laio_api_flush  {CORE}/unknown-caller/api.c:4  requires AioContext  (no caller in "
        f"the analysed files)\n"
        f"laio_ops_flush  {CORE}/unknown-caller/api.c:16  requires AioContext  (stored into "
        f"LaioOps.flush at {CORE}/unknown-caller/api.c:22, which no analysed code calls "
        f"through)\n")


def test_coroutine_entered_at_once_runs_in_the_callers_lock_state():
    run = check(f"{CORE}/coroutines")
    # enter_now_bh: qemu_coroutine_enter() runs process_co at once, without the lock.
    # enter_later_bh: aio_co_enter() runs flush_co as a coroutine entry, with the lock.
    assert findings(run) == [("QL101", f"{CORE}/coroutines/coroutines.c", 9, "process_co")]
    f = run.json["findings"][0]
    assert trace(f) == [("enter_now_bh", 17), ("enter_now_bh", 21), ("process_co", 9)]
    assert f["trace"][1]["note"] == "calls process_co() through qemu_coroutine_enter()"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_whole_fixture_tree_is_deterministic_across_jobs(jobs):
    first = qlint("check", "fixtures", "--format", "json", "--jobs", jobs)
    second = qlint("check", "fixtures", "--format", "json", "--jobs", "2")
    strip = lambda r: {k: v for k, v in r.json.items() if k != "stats"}  # noqa: E731
    assert strip(first) == strip(second)
    # The before/after twins are programs of their own (a compile database each), apart from
    # seed000/before, which the main database lists too.
    assert first.json["stats"]["tus"] == 44
    assert first.json["stats"]["tus_with_errors"] == 0


@pytest.mark.parametrize("function, expected", [
    # What process() reaches is not its callers' business: nothing is reported.
    ("process", []),
    # A boundary that itself requires the lock still has its own call checked.
    ("qemu_laio_process_*", [("QL101", f"{CORE}/two-entries/entries.c", 7, "process")]),
])
def test_a_boundary_stops_requirements_at_the_call(tmp_path, function, expected):
    cfg = tmp_path / "qlint.toml"
    cfg.write_text(f'[[boundary]]\nfunction = "{function}"\nreason = "test"\n')
    run = check(f"{CORE}/two-entries", "--config", str(cfg))
    assert (run.code, findings(run)) == (1 if expected else 0, expected)


def test_functions_stored_through_the_conditional_operator():
    # `.complete = USE_FAST_COMPLETION ? fast_complete : slow_complete` and
    # `mine->complete = fast_complete ?: other_complete` store both functions: the BH's call
    # through CompletionOps.complete reaches slow_complete() and other_complete().
    run = check(f"{CORE}/ternary-store")
    path = f"{CORE}/ternary-store/ops.c"
    assert findings(run) == [("QL101", path, 15, "slow_complete"),
                             ("QL101", path, 20, "other_complete")]
    assert trace(run.json["findings"][0]) == [("completion_bh", 31), ("completion_bh", 33),
                                              ("slow_complete", 15)]


def test_a_requirement_names_the_lock_instance_from_the_calls_arguments():
    run = check(f"{CORE}/instance")
    assert run.code == 1
    assert findings(run) == [("QL101", f"{CORE}/instance/attach.c", 17, "insert_child_bh")]
    f = run.json["findings"][0]
    assert f["message"] == ("bdrv_root_attach_child() requires the AioContext lock of "
                            "bdrv_get_aio_context(s->child), which is not held on this path "
                            "from bh insert_child_bh()")
    assert f["column"] == 5


def test_constant_and_known_parts_of_a_compound_condition_decide_it():
    """`unlock && ctx_` with unlock the constant 0, or ctx_ the constant NULL, is never true:
    those waits release nothing; the one given both releases, and its caller releases again."""
    run = check(f"{CORE}/constant-conditions")
    path = f"{CORE}/constant-conditions/wait.c"
    assert findings(run) == [("QL102", path, 53, "flush_dropping")]
    f = run.json["findings"][0]
    assert f["message"] == ("AioContext lock of s->ctx released twice on this path (already "
                            "released at line 51)")
    assert [(s["function"], s["line"], s["note"]) for s in f["trace"]] == [
        ("flush_dropping", 51, "AioContext released here"),
        ("flush_dropping", 53, "AioContext released again")]


def test_an_assertion_that_no_page_lock_is_held_means_none_is():
    """unlock_pages() releases one page lock or two, so its summary states no effect and the
    caller's page lock looks held at return. assert_no_pages_locked() (rules/qemu-core.toml:
    PageDesc `none-held`) tells that none is: gen_block is not reported, the same code without
    the assertion is, and a QemuSpin that is not a page lock stays held across it.
    gen_block_restart releases a page inside its restart loop: its count is not judged."""
    run = check(f"{CORE}/asserted-unheld")
    path = f"{CORE}/asserted-unheld/pages.c"
    assert run.code == 1
    assert findings(run) == [("QL102", path, 86, "gen_block_unasserted"),
                             ("QL102", path, 104, "gen_block_stats")]
    assert [f["message"] for f in run.json["findings"]] == [
        "PageDesc lock acquired at line 77 is still held when gen_block_unasserted() returns "
        "on this path",
        "QemuSpin lock stats_lock acquired at line 94 is still held when gen_block_stats() "
        "returns on this path"]
    assert [(s["line"], s["note"]) for s in run.json["findings"][0]["trace"]] == [
        (77, "PageDesc acquired here, by page_lock()"),
        (79, "takes translate(b) < 0 → false"),
        (85, "takes b->page[0] == -1 → true"),
        (86, "returns with PageDesc held")]


def test_a_flag_parameter_tested_in_a_compound_condition_guards_what_it_reaches():
    """do_close(s, true) reaches the call that needs the AioContext lock, do_close(s, false)
    cannot (`close_child && has_child(s)`): only the bh that passes true is reported."""
    run = check(f"{CORE}/compound-guard")
    assert run.code == 1
    assert findings(run) == [("QL101", f"{CORE}/compound-guard/close.c", 12, "do_close")]
    assert trace(run.json["findings"][0]) == [("close_bh", 21), ("close_bh", 23),
                                              ("do_close", 12)]


def test_polling_needs_the_lock_when_the_configuration_says_so():
    """fixtures/core/polling's configuration adds the polling contract the shipped packs leave
    out: the BH that drains without the lock is reported at the macro's release, the one that
    holds it and the NULL-context drain are not."""
    run = check(f"{CORE}/polling")
    assert run.code == 1
    assert findings(run) == [("QL101", f"{CORE}/polling/poll.c", 23, "drain")]
    assert trace(run.json["findings"][0]) == [("unlocked_bh", 40), ("unlocked_bh", 45),
                                              ("drain", 23)]


def test_the_path_shown_is_one_the_call_can_take():
    """finish(s, false) reaches the call that needs the lock through flush(), not through the
    shorter call under `if (process)`: the trace follows the path the constant allows."""
    run = check(f"{CORE}/feasible-chain")
    path = f"{CORE}/feasible-chain/finish.c"
    assert findings(run) == [("QL101", path, 22, "finish_released")]
    assert trace(run.json["findings"][0]) == [("finish_released", 19), ("finish_released", 22),
                                              ("finish", 16), ("flush", 8)]


def test_a_thread_starts_with_what_its_creator_stored_in_its_argument():
    """dump_thread() created right after `s->detached = true` runs dump_cleanup()'s locked
    branch (the store reaches it through `s = data` and two calls); created without the store,
    vm_start() runs without the BQL, and only that registration is the path shown."""
    run = check(f"{CORE}/thread-argument")
    path = f"{CORE}/thread-argument/dump.c"
    assert run.code == 1
    assert findings(run) == [("QL101", path, 33, "dump_cleanup")]
    f = run.json["findings"][0]
    assert trace(f) == [("dump_thread", 45), ("dump_thread", 48), ("dump_process", 42),
                        ("dump_cleanup", 33)]
    assert f["trace"][0]["note"] == ("entry point: thread registered by qemu_thread_create() "
                                     "in dump_in_background(), line 66 (holds no lock)")
    assert [(r["line"], r["message"]) for r in f["related"]] == [
        (66, "dump_thread() registered as thread by qemu_thread_create()")]

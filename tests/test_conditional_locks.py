"""Locks whose result says whether they locked: trylocks (both conventions) and functions that
take a lock only when it is not held and return whether they did (fixtures/conditional)."""
from __future__ import annotations

import pytest

from conftest import findings, qlint

COND = "fixtures/conditional"


def check(path: str, *extra):
    return qlint("check", path, "--format", "json", "--jobs", "1", *extra)


def notes(finding):
    return [(s["function"], s["line"], s["note"]) for s in finding["trace"]]


def test_trylock_success_and_failure_branches():
    # queue_kick (busy: return; free: unlock) and queue_poll (result tested later, negated)
    # are balanced; queue_try_flush leaks on its error return inside the success branch;
    # queue_reset unlocks again after the success branch unlocked, and unlocks a lock it never
    # took when busy. queue_depth() asserts the lock is held with a trylock that must fail
    # (`== -EBUSY`): it takes nothing, and queue_stats() around it is balanced.
    run = check(f"{COND}/trylock")
    assert run.code == 1
    assert findings(run) == [
        ("QL102", f"{COND}/trylock/queue.c", 40, "queue_try_flush"),
        ("QL102", f"{COND}/trylock/queue.c", 54, "queue_reset"),
        ("QL102", f"{COND}/trylock/queue.c", 55, "queue_reset")]
    leak, double, extra = run.json["findings"]
    assert leak["message"] == ("QemuMutex lock q->lock acquired at line 38 is still held when "
                               "queue_try_flush() returns on this path")
    assert notes(leak) == [
        ("queue_try_flush", 38, "QemuMutex acquired here"),
        ("queue_try_flush", 38, "takes qemu_mutex_trylock(&q->lock) == 0 → true"),
        ("queue_try_flush", 39, "takes queue_flush(q) < 0 → true"),
        ("queue_try_flush", 40, "returns with QemuMutex held")]
    assert double["message"] == ("QemuMutex lock q->lock released twice on this path (already "
                                 "released at line 52)")
    assert extra["message"] == ("queue_reset() released the QemuMutex lock on this path "
                                "without having acquired it, unlike its other paths")


def test_trylock_that_returns_nonzero_on_success_from_the_configuration():
    # ring_advance and ring_reset (through ring_try_claim(), whose result is inferred to tell
    # whether it locked) are balanced; ring_drop unlocks whether or not the claim locked.
    run = check(f"{COND}/nonzero")
    assert findings(run) == [("QL102", f"{COND}/nonzero/ring.c", 49, "ring_drop")]
    assert run.json["findings"][0]["message"] == (
        "ring_drop() released the RingLock lock on this path without having acquired it, "
        "unlike its other paths")


def test_lock_taken_only_when_not_held_is_released_only_where_it_was_taken():
    # prepare_access() returns whether it took the BQL; region_read() and region_copy()
    # (two results accumulated with |=, released once) pair with it, and so does the BH that
    # calls both, and region_read_guarded() with QEMU's BQL_LOCK_GUARD() (whose cleanup runs
    # for a non-NULL guard only). region_irq() holds the BQL around region_read() and returns
    # right after releasing it: balanced too (the read's take was applied as if
    # unconditional, and the return after the unlock looked like a leak). Only region_poke_bh(), through
    # region_touch(), which ignores prepare_access()'s result, may leave it held, and the path
    # names the function that takes it.
    run = check(f"{COND}/if-not-held")
    assert findings(run) == [("QL102", f"{COND}/if-not-held/mmio.c", 125, "region_poke_bh")]
    f = run.json["findings"][0]
    assert f["message"] == ("region_poke_bh() leaves the BQL lock held on the paths where "
                            "region_touch() takes it, but as a bh entry point it has no caller "
                            "to close it")
    assert f["column"] == 5
    assert f["trace"][1]["note"] == "BQL acquired here, by region_touch() → prepare_access()"


def test_release_first_function_with_disagreeing_returns_and_no_caller():
    run = check(f"{COND}/release-first")
    assert findings(run) == [("QL102", f"{COND}/release-first/worker.c", 20,
                              "worker_run_unlocked")]
    f = run.json["findings"][0]
    # Its comment names the lock ("Called with w->lock held"): the lock in Worker.lock.
    assert f["message"] == ("worker_run_unlocked() returns with the Worker.lock lock released on "
                            "this path but not on its others: its callers cannot tell which")
    assert notes(f) == [
        ("worker_run_unlocked", 17, "Worker.lock released here"),
        ("worker_run_unlocked", 19, "takes ret < 0 → true"),
        ("worker_run_unlocked", 20, "returns")]


@pytest.mark.parametrize("entry, message", [
    ('try-acquire = ["f"]',
     "[[lock]] 'try-acquire' 'f' needs 'success' (\"zero\" or \"nonzero\": the result where it "
     "locked)"),
    ('try-acquire = ["f"]\nsuccess = "yes"', "[[lock]] 'success' must be \"zero\" or \"nonzero\""),
    ('success = "zero"', "[[lock]] 'success' is for the functions of 'try-acquire'"),
    ('try-acquire = [{ function = "f", succes = "zero" }]',
     "[[lock]] 'try-acquire': entry with unknown key 'succes'"),
])
def test_trylock_configuration_errors(tmp_path, entry, message):
    cfg = tmp_path / "qlint.toml"
    cfg.write_text(f'[[lock]]\nname = "L"\nacquire = ["l"]\nrelease = ["u"]\n{entry}\n')
    run = qlint("check", f"{COND}/trylock", "--config", str(cfg))
    assert run.code == 2
    assert run.err == f"qlint: error: {cfg}:1: {message}\n"


def test_per_function_success_overrides_the_lock(tmp_path):
    # The same source with ring_trylock() declared zero-on-success (the function's own
    # `success` wins over the lock's): every branch inverts, so ring_advance() and ring_reset()
    # now unlock where the trylock did not lock and return holding it where it did.
    cfg = tmp_path / "qlint.toml"
    cfg.write_text('[[lock]]\nname = "RingLock"\nacquire = ["ring_lock"]\n'
                   'release = ["ring_unlock"]\nsuccess = "nonzero"\n'
                   'try-acquire = [{ function = "ring_trylock", success = "zero" }]\n')
    run = check(f"{COND}/nonzero", "--config", str(cfg))
    assert findings(run) == [("QL102", f"{COND}/nonzero/ring.c", 21, "ring_advance"),
                             ("QL102", f"{COND}/nonzero/ring.c", 39, "ring_reset"),
                             ("QL102", f"{COND}/nonzero/ring.c", 49, "ring_drop")]
    assert run.json["findings"][1]["message"] == (
        "ring_reset() returns with the RingLock lock released on this path but not on its "
        "others: its callers cannot tell which")


def test_a_call_that_needs_the_lock_leaves_the_result_to_the_branch_that_tests_it(tmp_path):
    # region_dispatch() needs the BQL (as QEMU's memory_region_dispatch_read() does by its
    # comment): prepare_access() made sure it is held either way, and the later
    # `if (release_lock)` still knows where it was taken. Nothing new is reported.
    config = tmp_path / "dispatch.toml"
    config.write_text('[[requires]]\nfunction = "region_dispatch"\nlock = "BQL"\n')
    run = check(f"{COND}/if-not-held", "--config", str(config))
    assert findings(run) == [("QL102", f"{COND}/if-not-held/mmio.c", 125, "region_poke_bh")]


def test_a_call_that_needs_the_lock_is_checked_where_the_trylock_failed(tmp_path):
    # queue_peek() calls queue_count() before it tests the trylock's result: reported for the
    # path where it failed; the unlock under `if (!busy)` still pairs with the trylock.
    config = tmp_path / "needs.toml"
    config.write_text('[[requires]]\nfunction = "queue_count"\nlock = "QemuMutex"\n')
    run = check(f"{COND}/trylock", "--config", str(config))
    queue = f"{COND}/trylock/queue.c"
    assert findings(run) == [("QL102", queue, 40, "queue_try_flush"),
                             ("QL102", queue, 54, "queue_reset"),
                             ("QL102", queue, 55, "queue_reset"),
                             ("QL101", queue, 84, "queue_peek")]
    assert next(f["message"] for f in run.json["findings"] if f["rule"] == "QL101") == (
        "queue_count() requires QemuMutex, which is not held on this path from bh "
        "queue_peek_bh()")


def test_flags_added_between_two_bit_tests_do_not_change_them():
    # zones_rw adds a flag the tests do not look at (`type |= REQ_MISALIGNED` between two
    # `type & (REQ_WRITE | REQ_APPEND)` tests): balanced. Clearing the tested bit
    # (zones_rw_clear) can leave the lock held; adding it (zones_rw_add) can release a lock
    # that was not taken.
    run = check(f"{COND}/bit-flags")
    assert run.code == 1
    assert findings(run) == [("QL102", f"{COND}/bit-flags/zones.c", 51, "zones_rw_clear"),
                             ("QL102", f"{COND}/bit-flags/zones.c", 69, "zones_rw_add")]
    clear, add = run.json["findings"]
    assert clear["message"] == ("QemuMutex lock z->lock acquired at line 42 is still held when "
                                "zones_rw_clear() returns on this path")
    assert notes(clear) == [("zones_rw_clear", 42, "QemuMutex acquired here"),
                            ("zones_rw_clear", 44, "takes misaligned → true"),
                            ("zones_rw_clear", 48, "takes type & 2 → false"),
                            ("zones_rw_clear", 51, "returns with QemuMutex held")]
    assert add["message"] == ("zones_rw_add() released the QemuMutex lock on this path without "
                              "having acquired it, unlike its other paths")

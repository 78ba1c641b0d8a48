"""Inferred contracts (docs/inference.md): comments above declarations, assertions at the top of
bodies, call-site statistics; their findings cite the evidence; the configuration turns them
off, rejects or accepts them; `qlint infer`, `qlint rules` and `qlint explain` tell of them."""
from __future__ import annotations

import json
import os

import pytest

from conftest import FIXTURES, findings, qlint
from fixture_trees import HEADER, make_tree

from qlint.frontend.comments import SourceText, comment_above
from qlint.infer.observed import confidence, wilson_lower
from qlint.facts.ir import Function
from qlint.infer.written import Reader, field_of_param, sentences
from qlint.pack.load import load_builtin

INFER = "fixtures/infer"


def check(path: str, *extra):
    return qlint("check", path, "--format", "json", "--jobs", "1", *extra)


# ---- comments above declarations ----------------------------------------------------------

SOURCE = b"""int a; /* the line's own comment */
int after_code(void);
/**
 * documented:
 * The caller must hold the lock.
 */
int documented(void);

/* a banner, then a blank line */

int after_blank(void);
// one
/// two
static int slashes(void);
    /* a field's */
    int (*cb)(void);
/* first */ /* second */
int two_comments(void);
"""


@pytest.mark.parametrize("name, expected", [
    (b"int after_code", None),
    (b"int documented", (4, "documented:\nThe caller must hold the lock.")),
    (b"int after_blank", None),
    (b"static int slashes", (12, "one\ntwo")),
    (b"int (*cb", (15, "a field's")),
    (b"int two_comments", None),
])
def test_the_comment_directly_above_a_declaration(name, expected):
    assert comment_above(SourceText(SOURCE), SOURCE.index(name)) == expected


def test_sentences_keep_the_line_they_begin_on():
    text = "bdrv_foo:\nDrops the queue.\n\nThe caller must hold\nthe AioContext lock; or not."
    assert sentences(text) == [(0, "bdrv_foo: Drops the queue."),
                               (3, "The caller must hold the AioContext lock;"),
                               (4, "or not.")]


# ---- the vocabulary of rules/qemu-contracts.toml, on sentences QEMU wrote ----------------------

READER = Reader(load_builtin(), {"AioContext", "BQL", "graph_lock", "coroutine-context"})


def test_a_kernel_doc_item_is_a_sentence_of_its_own():
    # 10.0 accel/tcg/cputlb.c: the parameter lines do not end a sentence, "Context:" does begin one.
    text = ("do_ld_mmio_beN:\n@cpu: generic cpu state\n@ra: return address into tcg generated "
            "code, or 0\nContext: BQL held\n\nLoad @size bytes from @addr.")
    assert [(kind, lock, index) for kind, lock, index, _s in READER.contracts(text)] == [
        ("requires", "BQL", 3)]


@pytest.mark.parametrize("sentence, expected", [
    # 7.2 block.c, include/qemu/job.h, block/export/export.c, block/dirty-bitmap.c, qemu-io-cmds.c
    ("The caller must hold the AioContext lock @child_bs, but not that of @ctx",
     [("requires", "AioContext")]),
    ("Called with AioContext lock held, since many callback implementations use bdrv_* "
     "functions that require to hold the lock.", [("requires", "AioContext")]),
    ("Callers must hold exp->ctx lock", [("requires", "AioContext")]),
    ("Called with BQL taken.", [("requires", "BQL")]),
    ("Called with aio context of blk acquired.", [("requires", "AioContext")]),
    ("This function still requires the caller to take the bs current AioContext lock",
     [("requires", "AioContext")]),
    ("The caller must own the AioContext lock for the old AioContext of bs, but it must not own "
     "the AioContext lock for new_context", [("requires", "AioContext")]),
    ("Must be called from the main AioContext.", [("requires", "BQL")]),
    ("Called with iothread lock taken.", [("requires", "BQL")]),
    # 7.2 hw/block/dataplane/virtio-blk.c, include/migration/register.h, block/export/export.c
    ("Context: QEMU global mutex held", [("requires", "BQL")]),
    ("This runs inside the iothread lock.", [("requires", "BQL")]),
    ("This runs outside the iothread lock!", [("excludes", "BQL")]),
    ("Runs in the main thread", [("requires", "BQL")]),
    # 10.0 hw/block/virtio-blk.c, target/arm/internals.h, include/block/block-io.h
    ("Context: BQL held", [("requires", "BQL")]),
    ("Must be called with the BQL held.", [("requires", "BQL")]),
    ("Must be called from coroutine context.", [("requires", "coroutine-context")]),
    ("Must not be called from coroutine context.", [("excludes", "coroutine-context")]),
    ("Called with the BQL *not* held.", [("excludes", "BQL")]),
    ("Always run under BQL.", [("requires", "BQL")]),                   # 10.0 blockdev.c
    ("Called within bdrv_dirty_bitmap_lock..unlock and with BQL taken.", [("requires", "BQL")]),
    ("Called with s->lock held and with the BQL *not* held.", []),
    # Not contracts, or not about these locks.
    ("Called with BQL or dirty_bitmap lock taken.", []),
    ("Takes AioContext lock internally to invoke a job->driver callback.", []),
    ("Called with job_mutex *not* held.", []),
    ("May be called with mutex held or not held.", []),
    ("Called with s->lock held.", []),
    ("The callback is called from a coroutine when the request completes.", []),
    ("Protected by AioContext lock.", []),
    ("This runs outside the iothread lock in the migration case, and within the lock in the "
     "savevm case.", []),
    ("This runs both outside and inside the iothread lock.", []),
    ("Runs in coroutine context if QCO_COROUTINE is set", []),          # 10.0 qmp-registry.h
])
def test_phrases_read_what_qemu_writes(sentence, expected):
    assert sorted((kind, lock) for kind, lock, _i, _s in READER.contracts(sentence)) == expected


FIELD_READER = Reader(load_builtin(), frozenset({"QemuMutex", "CoMutex"}))


@pytest.mark.parametrize("sentence, expected", [
    # 7.2 block/nbd.c, block/blkio.c, block/qcow2.c
    ("Called with s->requests_lock held.", [("requires", "s->requests_lock")]),
    ("Called with s->bounce_lock held", [("requires", "s->bounce_lock")]),
    ("Called with s->lock held.", [("requires", "s->lock")]),
    # util/qht.c, in the imperative
    ("Call with ht->lock held.", [("requires", "ht->lock")]),
    ("call with head->lock held", [("requires", "head->lock")]),
    ("Call with at least a bucket lock held.", []),
    # A chain names no parameter's struct; a field not said to be held is no lock.
    ("Called with self->bs->reqs_lock held", []),
    ("Called with s->state set to CONNECTING.", []),
    ("Called with s->lock *not* held.", []),
])
def test_a_lock_in_a_field_is_read_with_the_parameter_that_names_it(sentence, expected):
    assert [(kind, lock) for kind, lock, _i, _s in FIELD_READER.contracts(sentence)] == expected


@pytest.mark.parametrize("ctype, expected", [
    ("BDRVNBDState *", "BDRVNBDState.lock"),
    ("struct qht_bucket *", "qht_bucket.lock"),
    ("const Cache *", "Cache.lock"),
    ("Cache **", ""),
    ("int", ""),
])
def test_a_field_lock_is_named_by_the_parameters_type(ctype, expected):
    fn = Function("f", "f", "a.c", 1, 1, 2, False, params=("bs", "s"),
                  param_types=("BlockDriverState *", ctype))
    assert field_of_param(fn, "s->lock") == expected
    assert field_of_param(fn, "o->lock") == ""


# ---- the confidence of call-site statistics -----------------------------------------------------

def test_the_confidence_grows_with_the_sites_and_falls_with_the_base_rate():
    assert round(wilson_lower(16, 16), 3) == 0.806
    assert round(confidence(16, 16, 0.05), 3) == 0.796
    assert round(confidence(21, 21, 0.05), 3) == 0.837
    assert round(confidence(30, 31, 0.0), 3) == 0.838
    assert confidence(30, 31, 0.9) == 0.0         # no better than any site
    assert confidence(0, 5, 0.0) == 0.0


# ---- each kind of evidence: the finding, its evidence, the negatives ---------------------------

def test_written_contracts_of_a_function_and_of_a_callback_field():
    run = check(f"{INFER}/written")
    assert run.code == 1
    assert findings(run) == [("QL101", f"{INFER}/written/written.c", 44, "queue_bh"),
                             ("QL101", f"{INFER}/written/written.c", 45, "queue_bh")]
    first, second = run.json["findings"]
    assert first["message"] == ("flush_queue() requires AioContext, which is not held on this "
                                "path from bh queue_bh()")
    assert first["contract"] == {
        "function": "flush_queue", "lock": "AioContext", "kind": "comment",
        "path": f"{INFER}/written/written.c", "line": 8,
        "text": "The caller must hold the AioContext lock of @s.", "held": 0, "total": 0,
        "confidence": 1.0}
    assert second["message"].startswith("QueueOps.complete() requires AioContext")
    assert (second["contract"]["line"], second["contract"]["text"]) == (
        16, "Called with the AioContext lock held, like everything that completes requests.")


def test_a_lock_in_a_field_written_through_a_parameter():
    run = check(f"{INFER}/field-lock", "--show-path")
    assert run.code == 1
    assert findings(run) == [("QL101", f"{INFER}/field-lock/field-lock.c", 48, "cache_bh")]
    finding, = run.json["findings"]
    assert finding["message"] == ("drop_pending_locked() requires Cache.lock, which is not held "
                                  "on this path from bh cache_bh()")
    assert (finding["contract"]["line"], finding["contract"]["text"]) == (
        17, "Called with s->lock held.")


@pytest.mark.parametrize("entry, message", [
    ('field-of = ["QemuMutex"]\nwords = ["s->lock"]',
     "[[written]] 'field-of' needs words with the groups (?P<param>...) and (?P<field>...)"),
    ('lock = "BQL"\nfield-of = ["QemuMutex"]\nwords = ["BQL"]',
     "[[written]] needs 'lock' or 'field-of' (one of them)"),
])
def test_written_field_lock_configuration_errors(tmp_path, entry, message):
    cfg = tmp_path / "qlint.toml"
    cfg.write_text(f"[[written]]\n{entry}\n")
    run = qlint("check", f"{INFER}/field-lock", "--config", str(cfg))
    assert (run.code, run.err) == (2, f"qlint: error: {cfg}:1: {message}\n")


def test_infer_defines_the_lock_in_a_field_it_names(tmp_path):
    out = tmp_path / "inferred.toml"
    assert qlint("infer", f"{INFER}/field-lock", "-o", str(out)).code == 0
    text = out.read_text()
    assert ('[[lock]]   # the QemuLockable/QemuMutex in Cache.lock, as the program takes it\n'
            'name = "Cache.lock"\n') in text
    assert text.count("[[requires]]") == 1 and 'lock = "Cache.lock"' in text
    config = tmp_path / "accept.toml"
    config.write_text(text.split('[pack]', 1)[1].split("\n", 3)[3])
    run = check(f"{INFER}/field-lock", "--config", str(config), "--no-infer")
    assert findings(run) == [("QL101", f"{INFER}/field-lock/field-lock.c", 48, "cache_bh")]


def test_asserted_contracts_required_and_excluded():
    run = check(f"{INFER}/asserted")
    assert findings(run) == [("QL101", f"{INFER}/asserted/asserted.c", 40, "worker"),
                             ("QL103", f"{INFER}/asserted/asserted.c", 49, "qmp_frob"),
                             ("QL101", f"{INFER}/asserted/asserted.c", 74, "notifier")]
    required, excluded, optimized = run.json["findings"]
    assert required["message"] == ("global_update() requires BQL, which is not held on this path "
                                   "from thread worker()")
    assert (required["contract"]["kind"], required["contract"]["line"],
            required["contract"]["text"]) == ("assertion", 19, "GLOBAL_STATE_CODE()")
    assert excluded["contract"]["text"] == "assert(!qemu_mutex_iothread_locked())"
    # g_assert() as an optimized build expands it (G_LIKELY() stores the truth in a variable).
    assert (optimized["contract"]["line"], optimized["contract"]["text"]) == (
        62, "g_assert(qemu_mutex_iothread_locked())")


def test_a_lock_operation_asserting_its_own_lock_makes_no_contract():
    # qemu_mutex_unlock_iothread() asserts the BQL: that is the lock's own semantics (QL102
    # reports a release without it), not a contract of a function.
    out = qlint("infer", f"{INFER}/asserted", "-q").out
    assert 'function = "vm_state_notify"' in out
    assert 'function = "qemu_mutex_unlock_iothread"' not in out


def test_a_function_that_drops_its_callers_lock_needs_it_held():
    # reopen() releases the context it did not take and takes it again: the BH that calls it
    # unlocked is reported, citing the release; qmp_reopen() holds it. A release that is not
    # taken again, one after the function's own acquire and a macro's are no contracts.
    path = f"{INFER}/released/released.c"
    run = check(f"{INFER}/released")
    assert (run.code, findings(run)) == (1, [("QL101", path, 64, "reopen_bh")])
    finding = run.json["findings"][0]
    assert finding["message"] == ("reopen() requires AioContext, which is not held on this path "
                                  "from bh reopen_bh()")
    assert {k: finding["contract"][k] for k in ("function", "kind", "line", "text")} == {
        "function": "reopen", "kind": "release", "line": 15, "text": "aio_context_release(ctx)"}
    text = check(f"{INFER}/released", "--format", "text").out
    assert ("    contract: release at fixtures/infer/released/released.c:15 "
            "'aio_context_release(ctx)'\n") in text
    inferred = qlint("infer", f"{INFER}/released").out
    released = [block for block in inferred.split("\n\n") if 'kind = "release"' in block]
    assert [b.split('function = "')[1].split('"')[0] for b in released] == ["reopen"]
    assert ('{ kind = "release", at = "fixtures/infer/released/released.c:15", '
            'text = "aio_context_release(ctx)" }') in inferred
    assert check(f"{INFER}/released", "--no-infer").json["findings"] == []


def test_observed_contract_reports_the_deviant_site_and_not_a_weak_statistic():
    run = check(f"{INFER}/observed")
    assert findings(run) == [("QL101", f"{INFER}/observed/observed.c", 354, "deviant_bh")]
    contract = run.json["findings"][0]["contract"]
    assert (contract["function"], contract["kind"], contract["held"], contract["total"],
            contract["confidence"]) == ("bdrv_frob", "observed", 30, 31, 0.821)
    # The base rate and the counts are the whole fixture program's (the context).
    assert run.json["stats"]["inferred"] == {"comment": 5, "assertion": 6, "release": 6,
                                             "observed": 1}


def test_a_transactions_action_is_checked_with_its_contract_and_not_through_any_field():
    # tran_abort() runs attach_abort() (GLOBAL_STATE_CODE()): the thread that calls
    # attach_child() is reported, citing the assertion; the thread that closes some channel
    # is not: one close of three runs a transaction, which says nothing of that call.
    run = check(f"{INFER}/transaction")
    assert (run.code, findings(run)) == (
        1, [("QL101", f"{INFER}/transaction/tran.c", 37, "attach_child")])
    finding = run.json["findings"][0]
    assert finding["message"] == ("attach_abort() requires BQL, which is not held on this "
                                  "path from thread attach_worker()")
    assert (finding["contract"]["function"], finding["contract"]["kind"],
            finding["contract"]["line"], finding["contract"]["text"]) == (
        "attach_abort", "assertion", 26, "GLOBAL_STATE_CODE()")


def test_text_and_sarif_cite_the_contract():
    run = qlint("check", f"{INFER}/written", "--jobs", "1")
    lines = run.out.splitlines()
    assert lines[1] == (f"    contract: comment at {INFER}/written/written.c:8 'The caller must "
                        "hold the AioContext lock of @s.'")
    sarif = json.loads(qlint("check", f"{INFER}/written", "--format", "sarif", "--jobs",
                             "1").out)
    result = sarif["runs"][0]["results"][0]
    assert result["properties"]["contract"]["kind"] == "comment"
    assert result["relatedLocations"][-1]["message"]["text"] == (
        f"contract: comment at {INFER}/written/written.c:8 'The caller must hold the AioContext "
        "lock of @s.'")
    assert result["relatedLocations"][-1]["physicalLocation"]["region"]["startLine"] == 8


# ---- turning it off, rejecting, accepting ---------------------------------------------------

def test_no_infer_and_the_configuration_turn_it_off(tmp_path):
    assert check(f"{INFER}/written", "--no-infer").json["findings"] == []
    config = tmp_path / "off.toml"
    config.write_text("infer = false\n")
    assert check(f"{INFER}/written", "--config", str(config)).json["findings"] == []
    assert len(check(f"{INFER}/written", "--config", str(config), "--infer").json["findings"]) == 2


def test_a_rejected_contract_is_not_checked_and_a_copied_one_is_the_users(tmp_path):
    config = tmp_path / "reject.toml"
    config.write_text('infer-reject = [{ function = "flush_queue", lock = "AioContext" }]\n')
    run = check(f"{INFER}/written", "--config", str(config))
    assert [f["line"] for f in run.json["findings"]] == [45]
    inferred = qlint("infer", f"{INFER}/written", "-q").out
    entry = inferred[inferred.index('[[requires]]\nfunction = "flush_queue"'):]
    config.write_text(entry[:entry.index("\n\n") + 1])
    run = check(f"{INFER}/written", "--config", str(config), "--no-infer")
    assert [(f["line"], f["contract"]["kind"]) for f in run.json["findings"]] == [(44, "comment")]


def test_the_minimum_confidence_is_configurable(tmp_path):
    config = tmp_path / "strict.toml"
    config.write_text("infer-min-confidence = 0.9\n")
    assert check(f"{INFER}/observed", "--config", str(config)).json["findings"] == []


@pytest.mark.parametrize("line, error", [
    ("infer-min-confidence = 2", "'infer-min-confidence' must be a number from 0 to 1"),
    ('infer-reject = ["flush_queue"]', "'infer-reject' must be a list of tables with a "
     "'function' and a 'lock'"),
])
def test_bad_settings_are_one_line_errors(tmp_path, line, error):
    config = tmp_path / "bad.toml"
    config.write_text(line + "\n")
    run = check(f"{INFER}/written", "--config", str(config))
    assert run.code == 2
    assert run.err.startswith(f"qlint: error: {config}:1: {error}")


def test_shipped_entries_win_over_inferred_ones(tmp_path):
    root = make_tree(tmp_path, {"a.c": HEADER + (
        "/* The caller must hold the AioContext lock. */\n"
        "void qemu_laio_process_completions(State *s);\n"
        "static void bh(void *o) { qemu_laio_process_completions(o); }\n"
        "void init(State *s) { aio_bh_new(s->ctx, bh, s); }\n")})
    run = qlint("check", "a.c", "--format", "json", "--jobs", "1", cwd=root)
    assert [(f["rule"], f["line"], f.get("contract")) for f in run.json["findings"]] == [
        ("QL101", 4, None)]


# ---- qlint infer, rules, explain ------------------------------------------------------------

def test_infer_writes_a_sorted_pack_with_evidence_that_loads(tmp_path):
    out = tmp_path / "inferred.toml"
    run = qlint("infer", f"{INFER}/written", f"{INFER}/asserted", "-o", str(out))
    assert run.code == 0
    assert run.err == f"qlint: 3 written, 3 asserted, 0 released, 0 observed contract(s) written to {out}\n"
    text = out.read_text()
    # The contracts stated in the files of the named TUs, headers included: the fixture
    # header's comment on qemu_laio_process_completions() too (a pack states it as well).
    assert text.count("[[requires]]") == 6 and text.count("[[excludes]]") == 1
    functions = [line.split(" = ")[1] for line in text.splitlines()
                 if line.startswith("function = ")]
    assert functions == ['"QueueOps.complete"', '"flush_queue"', '"global_update"',
                         '"qemu_laio_process_completions"',
                         f'"queue_complete@{INFER}/written/written.c"', '"vm_state_notify"',
                         '"worker_only"']
    assert ('evidence = [\n  { kind = "assertion", at = "fixtures/infer/asserted/asserted.c:25", '
            'text = "assert(!qemu_mutex_iothread_locked())" },\n]') in text
    config = tmp_path / "accept.toml"
    config.write_text(text.split('[pack]', 1)[1].split("\n", 3)[3])
    run = check(f"{INFER}/written", "--config", str(config), "--no-infer")
    assert [f["line"] for f in run.json["findings"]] == [44, 45]
    again = qlint("infer", f"{INFER}/written", f"{INFER}/asserted", "-q")
    assert again.out == text


def test_rules_and_explain_count_the_inferred_contracts():
    rules = qlint("rules", f"{INFER}/asserted")
    assert "inferred contracts: 0 written, 3 asserted, 0 released, 0 observed\n" in rules.out
    explain = qlint("explain", "QL103", f"{INFER}/asserted")
    assert explain.out.endswith(f"\nContracts inferred from {INFER}/asserted that QL103 checks: "
                                "0 written, 1 asserted, 0 released, 0 observed.\n")


def test_degraded_mode_infers_too(tmp_path):
    root = make_tree(tmp_path, {"a.c": HEADER + (
        "/* Called with the AioContext lock held. */\n"
        "void drop(State *s) { s->pending = 0; }\n"
        "static void bh(void *o) { drop(o); }\n"
        "void init(State *s) { aio_bh_new(s->ctx, bh, s); }\n")})
    os.unlink(os.path.join(root, "build", "compile_commands.json"))
    run = qlint("check", "a.c", "-I", "include", "--format", "json", "--jobs", "1", cwd=root)
    assert run.err.startswith("qlint: warning: no compile_commands.json found: degraded mode")
    assert run.json["findings"], run.out
    assert [(f["line"], f["contract"]["kind"]) for f in run.json["findings"]] == [(4, "comment")]


def test_fixture_paths_exist():
    for kind in ("written", "asserted", "observed", "transaction", "field-lock"):
        assert os.path.isdir(os.path.join(FIXTURES, "infer", kind))


def test_infer_after_a_check_reads_the_contracts_the_check_stored(tmp_path):
    # A check of the program stores its contracts with its findings; `qlint infer` of any
    # paths of that program then reads them back and says what a fresh inference says.
    cache = str(tmp_path / "cache")
    fresh = qlint("infer", f"{INFER}/written", f"{INFER}/asserted", "-q", "--no-cache")
    assert check(f"{INFER}/observed", "--cache-dir", cache).code == 1
    assert len(list((tmp_path / "cache" / "result").rglob("*.json"))) == 2    # findings, contracts
    stored = qlint("infer", f"{INFER}/written", f"{INFER}/asserted", "-q", "--cache-dir", cache)
    assert (stored.code, stored.out) == (0, fresh.out)
    assert len(list((tmp_path / "cache" / "result").rglob("*.json"))) == 2

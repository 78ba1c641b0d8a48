"""qlint replay and check --confirm on the fixtures: the seeds and three more shapes are
confirmed before their fix (causally: the same schedule with the rule satisfied breaks nothing)
and not reproduced after it, on the current code, over the whole bounded space."""
from __future__ import annotations

import json
import shutil

import jsonschema
import pytest

from conftest import FIXTURES, SARIF_SCHEMA, qlint

PAIRS = {
    # fixture: (rule, line, invariant, violated values, preemptions, steps, start values)
    "seed000": ("QL101", 49, "counter-wrap", {"LinuxAioState.io_q.in_flight": 0xffffffff}, 1, 24,
                {"LinuxAioState.event_idx": 0, "LinuxAioState.io_q.in_flight": 1, "ring": 1}),
    "seed003": ("QL202", 32, "guest-in-drained", {"BlockDriverState.quiesce_counter": 1}, 0, 11,
                {}),
    "replay/error-path": ("QL102", 29, "section-open", {"AioContext lock of iothread0": 2}, 0,
                          19, {"FlushState.errors": 0}),
    "replay/bh-lock": ("QL101", 31, "counter-wrap", {"Throttle.queued": 0xffffffff}, 1, 21,
                       {"Throttle.dispatched": 0}),
    "replay/deferred-end": ("QL201", 22, "section-open",
                            {"BlockDriverState.quiesce_counter": 1,
                             "iohandler.external_disable_cnt": 1}, 0, 22, {}),
}
# What the whole bounded space of the fixed code is: (states, schedules).
EXPLORED_AFTER = {"seed000": (19921, 368826), "seed003": (111, 73),
                  "replay/error-path": (2721, 32568), "replay/bh-lock": (1161, 14654),
                  "replay/deferred-end": (25, 2)}
SATISFIED = {
    "seed000": "AioContext held around the call of qemu_laio_process_completions() at line 49",
    "seed003": "iohandler-external-disabled begun before the deferral of mirror_exit() and "
               "ended when it returns",
    "replay/error-path": "flush_cb() ending the AioContext it leaves held",
    "replay/bh-lock": "AioContext held around the call of throttle_dispatch() at line 31",
    "replay/deferred-end": "stream_complete() ending the drained it leaves open",
}
BOUND = {"choices": 12, "completions": 2, "depth": 24, "fires": 2, "loop": 16, "polls": 6,
         "preemptions": 2, "states": 200000, "values": 2}


def report(name: str, version: str = "before", *extra) -> dict:
    run = qlint("check", f"fixtures/{name}/{version}", "--format", "json", "--jobs", "1", *extra)
    assert run.code in (0, 1), run.err
    return run.json


def as_after(data: dict, name: str, tmp_path) -> str:
    """The before-report, pointed at the fixed file: replaying it re-reads the fixed code."""
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data).replace(f"fixtures/{name}/before", f"fixtures/{name}/after"))
    return str(path)


@pytest.fixture(scope="module")
def confirmed():
    return {name: report(name, "before", "--confirm") for name in PAIRS}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_before_is_confirmed_causally_with_the_violated_values(confirmed, name):
    rule, line, invariant, values, preemptions, steps, start = PAIRS[name]
    findings = [f for f in confirmed[name]["findings"] if f["rule"] == rule]
    assert findings and all(f["line"] == line for f in findings)
    c = findings[0]["confirmation"]
    assert (c["status"], c["invariant"], c["values"]) == ("confirmed", invariant, values)
    assert (c["preemptions"], c["steps"], c["mode"], c["complete"]) == (preemptions, steps,
                                                                         "exhaustive", True)
    assert c["start"] == start
    # The same schedule on the program with the rule satisfied breaks nothing.
    assert c["satisfied"] == {"change": SATISFIED[name], "invariant": None}
    assert c["bound"] == BOUND
    assert c["coverage"]["cuts"] == {}
    assert c["schedule"][-1]["violation"] is True
    assert c["schedule"][-1]["event"] == c["message"]
    assert max(e["step"] for e in c["schedule"]) == steps


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_after_is_not_reproduced_over_the_whole_bounded_space(confirmed, name, tmp_path):
    run = qlint("replay", as_after(confirmed[name], name, tmp_path), "--format", "json")
    assert run.code == 0, run.err
    for r in run.json["replays"]:
        c = r["confirmation"]
        assert r["path"].startswith(f"fixtures/{name}/after/")
        assert (c["status"], c["complete"]) == ("not-reproduced", True)
        cov = c["coverage"]
        assert (cov["states"], cov["schedules"], cov["cuts"]) == EXPLORED_AFTER[name] + ({},)
        assert "schedule" not in c and "invariant" not in c


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_the_fixed_code_has_no_finding(name):
    assert report(name, "after", "--confirm")["findings"] == []


# What the IR's expression trees carry, each replayed as the code deserves: a counter whose
# unsigned type comes through two typedefs of another header; a condition with an enum
# constant and a macro that expands to an expression, false in every execution (the setup
# stops the queue); a loop bounded by sizeof (no choice point: the bound is folded); a field
# written through a pointer chain.
IR_CASES = {
    "replay/typedef-counter": ("confirmed", "counter-wrap", {"Tickets.issued": 0xffffffff}),
    "replay/enum-macro": ("not-reproduced", None, None),
    "replay/sizeof-loop": ("confirmed", "counter-wrap", {"Slots.refs": 0xffffffff}),
    "replay/pointer-chain": ("confirmed", "counter-wrap",
                             {"Chain.dev.queue.pending": 0xffffffff}),
}


@pytest.mark.parametrize("name", sorted(IR_CASES))
def test_verdicts_follow_what_libclang_parsed(name, tmp_path):
    status, invariant, values = IR_CASES[name]
    data = report(name, "before", "--confirm")
    [finding] = data["findings"]
    c = finding["confirmation"]
    assert (finding["rule"], c["status"], c.get("invariant"), c.get("values")) == (
        "QL101", status, invariant, values)
    assert (c["complete"], c["coverage"]["cuts"]) == (True, {})
    if name == "replay/sizeof-loop":
        assert c["coverage"]["choice_points"] == 0
    run = qlint("replay", as_after(data, name, tmp_path), "--format", "json")
    after = run.json["replays"][0]["confirmation"]
    assert (run.code, after["status"], after["complete"]) == (0, "not-reproduced", True)


def test_seed000_with_every_type_and_field_renamed_is_still_confirmed(tmp_path):
    """Nothing in the engine is keyed to linux-aio's names: the seed's program with its types,
    fields and functions renamed is confirmed the same (qemu_laio_process_completions, which
    the built-in pack names, keeps its name)."""
    copy = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, copy)
    source = copy / "seed000/before/linux-aio.c"
    text = source.read_text()
    # Functions first: their names contain the fields' (the field `aio_context`, not the
    # API's aio_context_acquire()).
    for old, new in [("qemu_laio_completion_bh", "pump_done_bh"),
                     ("qemu_laio_completion_cb", "pump_done_cb"),
                     ("qemu_laio_poll_cb", "pump_poll"),
                     ("laio_attach_aio_context", "pump_attach"),
                     ("LinuxAioState", "PumpState"), ("LaioQueue", "PumpQueue"),
                     ("in_flight", "outstanding"), ("in_queue", "waiting"),
                     ("plugged", "paused"), ("io_q", "pq"), ("completion_bh", "done_bh"),
                     ("event_idx", "cursor"), ("event_max", "limit"),
                     ("*aio_context;", "*home;"), ("->aio_context", "->home"),
                     ("io_event", "pump_event")]:
        assert old in text
        text = text.replace(old, new)
    text = text.replace("EventNotifier e;", "EventNotifier kick;").replace(
        "&s->e", "&s->kick").replace("PumpState, e)", "PumpState, kick)")
    source.write_text(text)
    run = qlint("check", "seed000/before", "--confirm", "--format", "json", cwd=str(copy))
    [finding] = run.json["findings"]
    c = finding["confirmation"]
    assert (run.code, c["status"], c["invariant"], c["values"], c["preemptions"]) == (
        1, "confirmed", "counter-wrap", {"PumpState.pq.outstanding": 0xffffffff}, 1)
    assert c["start"] == {"PumpState.cursor": 0, "PumpState.pq.outstanding": 1, "ring": 1}


def test_seed000_confirmed_scenario_is_the_seed_era_with_both_threads(confirmed):
    c = confirmed["seed000"]["findings"][0]["confirmation"]
    assert (c["era"], c["threads"]) == ("2.x", ["iothread", "main"])
    assert c["assumptions"] == [
        "setup: laio_attach_aio_context()",
        "main thread: bdrv_drain() polls the IOThread's context holding its lock"]
    assert c["message"] == ("s->io_q.in_flight wraps: 0 → 0xffffffff (LaioQueue.in_flight is a "
                            "32-bit unsigned counter)")
    # One request in flight and one completion in the ring (start values nobody set): both
    # threads process the same event, each loading and storing in_flight.
    decrements = [(e["thread"], e["event"]) for e in c["schedule"] if "in_flight" in e["event"]]
    assert decrements == [("iothread", "loads s->io_q.in_flight = 1"),
                          ("iothread", "s->io_q.in_flight-- (1 → 0)"),
                          ("main", "loads s->io_q.in_flight = 0"),
                          ("main", "s->io_q.in_flight-- (0 → 0xffffffff)"),
                          ("main", c["message"])]
    # Violations that happen without interleaving (from start values where one thread alone
    # wraps the counter: more completions in the ring than requests counted) are not the
    # finding's: the code never is in such a state.
    assert c["coverage"]["rejected"] == {"without interleaving": 47}


def test_seed003_guest_request_lands_between_drained_begin_and_the_deferred_end(confirmed):
    c = confirmed["seed003"]["findings"][0]["confirmation"]
    assert c["threads"] == ["main", "guest"]
    events = [(e["thread"], e.get("line"), e["event"]) for e in c["schedule"]]
    begin = next(i for i, e in enumerate(events) if e[2].startswith("bdrv_drained_begin(s->bs)"))
    defer = next(i for i, e in enumerate(events) if e[2].startswith("block_job_defer_to_main_loop"))
    assert begin < defer < len(events) - 1
    assert events[-1] == ("main", None, c["message"])
    assert c["message"] == ("a guest request is submitted to the node while its drained section "
                            "(begun at fixtures/seed003/before/mirror.c:31 in mirror_run()) is open")
    assert not any("bdrv_drained_end" in e[2] for e in events)
    # The loop whose exit the model cannot evaluate is a choice point, the exit taken first.
    assert ("main", 24, "takes mirror_iteration(s) > 0 → false (the model cannot evaluate it: "
            "a choice point)") in events


def test_error_path_names_the_acquire_that_leaked(confirmed):
    c = confirmed["replay/error-path"]["findings"][0]["confirmation"]
    assert c["message"] == ("at the end of the scenario the AioContext lock of iothread0 is still "
                            "held by main (taken at fixtures/replay/error-path/before/flush.c:25 "
                            "in flush_cb())")


def test_replay_after_a_fix_in_place_rereads_the_current_code(tmp_path):
    copy = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, copy)
    run = qlint("check", "seed000/before", "--format", "json", "-o", "before.json", cwd=str(copy))
    assert run.code == 1
    before = qlint("replay", "before.json", "--format", "json", cwd=str(copy))
    assert before.json["replays"][0]["confirmation"]["status"] == "confirmed"
    shutil.copy(copy / "seed000/after/linux-aio.c", copy / "seed000/before/linux-aio.c")
    after = qlint("replay", "before.json", "--format", "json", cwd=str(copy))
    assert after.code == 0
    c = after.json["replays"][0]["confirmation"]
    assert (c["status"], c["coverage"]["states"], c["coverage"]["schedules"]) == (
        "not-reproduced",) + EXPLORED_AFTER["seed000"]


def test_saved_schedule_reproduces_and_stops_at_the_fix(confirmed, tmp_path):
    found = tmp_path / "before.json"
    found.write_text(json.dumps(confirmed["seed000"]))
    sched = tmp_path / "s.json"
    first = qlint("replay", str(found), "--save-schedule", str(sched), "--format", "json")
    assert first.code == 1
    saved = json.loads(sched.read_text())["schedules"][0]
    assert saved["steps"] == [["iothread", 12], ["main", 12]]
    assert saved["invariant"] == "counter-wrap" and "choices" not in saved
    assert saved["start"] == [[["LinuxAioState", "event_idx"], 0],
                              [["LinuxAioState", "io_q.in_flight"], 1], [["ring", ""], 1]]
    again = qlint("replay", str(found), "--schedule", str(sched), "--format", "json")
    assert again.code == 1
    a, b = first.json["replays"][0]["confirmation"], again.json["replays"][0]["confirmation"]
    assert b["mode"] == "schedule" and a["schedule"] == b["schedule"] and a["values"] == b["values"]
    fixed = qlint("replay", as_after(confirmed["seed000"], "seed000", tmp_path), "--schedule",
                  str(sched), "--format", "json")
    c = fixed.json["replays"][0]["confirmation"]
    assert (fixed.code, c["status"]) == (0, "not-reproduced")
    assert c["reason"] == "the schedule cannot be followed on the current code: at step 13 main cannot run"


def test_text_timeline_has_a_column_per_thread_and_marks_the_violation(confirmed, tmp_path):
    found = tmp_path / "r.json"
    found.write_text(json.dumps(confirmed["seed000"]))
    run = qlint("replay", str(found))
    lines = run.out.splitlines()
    assert lines[0].endswith("[confirmed]")
    assert lines[1:3] == [
        "  confirmed: counter-wrap: s->io_q.in_flight wraps: 0 → 0xffffffff (LaioQueue.in_flight "
        "is a 32-bit unsigned counter)",
        "  with AioContext held around the call of qemu_laio_process_completions() at line 49: "
        "not broken"]
    assert ("  explored: 2876 states, 280 schedules within 2 preemptions, 38 choice points "
            "explored every way (the whole bounded space: nothing cut); unknown to the model: "
            "string (1×); violations set aside: without interleaving (47×)") in lines
    assert "  counterexample: 24 steps, 1 preemption" in lines
    header = next(line for line in lines if line.lstrip().startswith("step |"))
    assert [c.strip() for c in header.split("|")] == ["step", "iothread", "main"]
    marked = [line for line in lines if "!! linux-aio.c:37" in line]
    assert len(marked) == 1 and marked[0].split("|")[1].strip() == ""


def test_pct_is_deterministic_for_a_seed(confirmed, tmp_path):
    found = tmp_path / "r.json"
    found.write_text(json.dumps(confirmed["seed000"]))
    runs = [qlint("replay", str(found), "--pct", "--seed", "3", "--runs", "40", "--format", "json")
            for _ in range(2)]
    assert runs[0].out == runs[1].out
    c = runs[0].json["replays"][0]["confirmation"]
    assert (c["mode"], c["seed"], c["runs"], c["status"]) == ("pct", 3, 40, "confirmed")
    assert 0 < c["hits"] <= 40 and 1 <= c["first_hit"] <= 40
    assert "preemptions" not in c["bound"] and c["bound"]["pct_depth"] == 3
    fixed = qlint("replay", as_after(confirmed["seed000"], "seed000", tmp_path), "--pct", "--seed",
                  "3", "--runs", "40", "--format", "json")
    c = fixed.json["replays"][0]["confirmation"]
    assert (c["status"], c["hits"], c["first_hit"]) == ("not-reproduced", 0, 0)


def test_html_swimlanes_are_written_deterministically(confirmed, tmp_path):
    found = tmp_path / "r.json"
    found.write_text(json.dumps(confirmed["seed003"]))
    pages = []
    for n in range(2):
        out = tmp_path / f"p{n}.html"
        assert qlint("replay", str(found), "--html", str(out)).code == 1
        pages.append(out.read_text())
    assert pages[0] == pages[1]
    assert pages[0].count("<svg") == 1
    assert '<text x="50" y="18" font-weight="bold">main</text>' in pages[0]
    assert '<text x="510" y="18" font-weight="bold">guest</text>' in pages[0]
    assert pages[0].count('fill="#f4b6b6"') == 1          # the violating event


def test_the_seed_needs_one_preemption(confirmed, tmp_path):
    found = tmp_path / "r.json"
    found.write_text(json.dumps(confirmed["seed000"]))
    # Without preemptions one thread processes every completion before the other looks: the
    # only violations are those one thread alone causes from a start state the code never
    # sees (more completions in the ring than requests counted in flight).
    zero = qlint("replay", str(found), "--bound", "0", "--format", "json")
    c = zero.json["replays"][0]["confirmation"]
    assert (zero.code, c["status"], c["coverage"]["states"], c["coverage"]["schedules"]) == \
        (0, "not-reproduced", 1099, 36)
    assert c["coverage"]["rejected"] == {"without interleaving": 12}
    one = qlint("replay", str(found), "--bound", "1", "--format", "json")
    c = one.json["replays"][0]["confirmation"]
    assert (one.code, c["invariant"], c["preemptions"], c["bound"]["preemptions"]) == \
        (1, "counter-wrap", 1, 1)


def test_findings_without_a_modelled_cause_say_why():
    data = qlint("check", "fixtures/sections/inside", "fixtures/core/two-entries", "--confirm",
                 "--format", "json", "--jobs", "1").json
    reasons = {f["rule"]: f["confirmation"] for f in data["findings"]}
    assert sorted(reasons) == ["QL101", "QL203"]
    assert reasons["QL101"] == {"status": "not-modelled", "reason": (
        "qemu_laio_process_completions() has no definition in the analysed code: what it does "
        "without the lock is unknown (analyse the file that defines it too)")}
    # A function that must run drained runs while a guest request is in flight; with the
    # section around the call, the drained section waits for the request first.
    c = reasons["QL203"]
    assert (c["status"], c["invariant"], c["values"]) == (
        "confirmed", "request-in-flight", {"BlockDriverState.in_flight": 1})
    assert c["message"] == ("blk_truncate() runs while a request of the node is in flight (no "
                            "drained section quiesces it)")
    assert c["satisfied"] == {"change": "drained held around the call of blk_truncate() at "
                                        "line 7", "invariant": None}


def test_text_report_of_check_shows_the_status():
    run = qlint("check", "fixtures/seed003/before", "--confirm", "--jobs", "1")
    assert run.out == ("fixtures/seed003/before/mirror.c:32:5: QL202 [section-across-deferral] "
                       "drained is open across the deferral of mirror_exit() without "
                       "iohandler-external-disabled [confirmed]\n")


def test_sarif_of_a_confirmed_finding_is_valid_with_a_thread_flow_per_thread():
    run = qlint("check", "fixtures/seed000/before", "--confirm", "--format", "sarif", "--jobs", "1")
    log = json.loads(run.out)
    with open(SARIF_SCHEMA) as f:
        assert list(jsonschema.Draft4Validator(json.load(f)).iter_errors(log)) == []
    [result] = log["runs"][0]["results"]
    c = result["properties"]["confirmation"]
    assert c["invariant"] == "counter-wrap" and c["coverage"]["states"] == 2876
    _path, counterexample = result["codeFlows"]
    assert [t["id"] for t in counterexample["threadFlows"]] == ["iothread", "main", "setup"]
    orders = sorted(loc["executionOrder"] for t in counterexample["threadFlows"]
                    for loc in t["locations"])
    assert orders == list(range(1, len(c["schedule"]) + 1))


def test_the_replay_reads_no_source_text(tmp_path, monkeypatch):
    """Everything the replay evaluates comes from the IR: with the analysed sources gone
    after the analysis, the seed is confirmed just the same."""
    from qlint.pipeline import Options, analyse
    from qlint.replay.run import Mode, replay_finding
    from qlint.report.jsonfmt import finding_dict
    copy = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, copy)
    monkeypatch.chdir(copy)
    result = analyse(Options(paths=["seed000/before"], jobs=1, cache_dir=str(tmp_path / "c")),
                     reuse=False)
    [finding] = [finding_dict(f) for f in result.findings]
    for header in (copy / "include").rglob("*.h"):
        header.unlink()
    (copy / "seed000/before/linux-aio.c").unlink()
    c = replay_finding(finding, result, Mode()).confirmation
    assert (c["status"], c["invariant"], c["values"]) == (
        "confirmed", "counter-wrap", {"LinuxAioState.io_q.in_flight": 0xffffffff})


def test_a_violation_that_happens_with_the_rule_satisfied_is_not_attributed(tmp_path):
    """The BH reads without the lock (the finding), but the race on the counter is the event
    handler's unlocked write, which the lock around the BH's call does not remove: the verdict
    says so, with both runs."""
    data = report("replay/not-attributable", "before", "--confirm")
    [finding] = data["findings"]
    c = finding["confirmation"]
    message = ("race on Credit.left: iothread, main access it, main writing, with no lock "
               "common to all the accesses")
    assert (c["status"], c["invariant"], c["message"]) == (
        "violation-not-attributable", "race", message)
    satisfied = c["satisfied"]
    assert (satisfied["change"], satisfied["invariant"], satisfied["message"]) == (
        "AioContext held around the call of credit_peek() at line 27", "race", message)
    assert satisfied["schedule"][-1]["violation"] is True
    assert ("(rule satisfied) begin AioContext: takes AioContext lock of iothread0 (count 2)"
            in [e["event"] for e in satisfied["schedule"]])
    assert c["complete"] is True
    assert c["coverage"]["rejected"] == {"also with the rule satisfied": 37}
    text = qlint("check", "fixtures/replay/not-attributable/before", "--confirm", "--jobs", "1")
    assert text.code == 1 and text.out.endswith("[violation-not-attributable]\n")


def test_check_text_says_what_a_not_reproduced_verdict_explored():
    run = qlint("check", "fixtures/replay/enum-macro/before", "--confirm", "--jobs", "1")
    assert run.code == 1
    assert run.out == (
        "fixtures/replay/enum-macro/before/queue.c:32:9: QL101 [lock-required] queue_pop() "
        "requires AioContext, which is not held on this path from bh queue_bh() "
        "[not-reproduced]\n"
        "    not reproduced; explored: 1359 states, 6990 schedules within 2 preemptions, "
        "18 choice points explored every way (the whole bounded space: nothing cut); unknown "
        "to the model: string (1×)\n")

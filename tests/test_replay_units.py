"""The replay's parts without clang: evaluating the IR's expression trees, the model data,
schedule files and the SARIF form of a confirmation."""
from __future__ import annotations

import json

import jsonschema
import pytest

from conftest import SARIF_SCHEMA
from qlint.facts.ir import Arg, Call
from qlint.replay import schedule
from qlint.replay.evaluate import Evaluator
from qlint.replay.model import load_model
from qlint.replay.values import UNKNOWN
from qlint.report import sarif as report_sarif
from qlint.report.model import Finding, Step, finalize
from qlint.rules.registry import all_rules


class Env:
    """Locals, recorded reads and call results, as the interpreter would give them."""

    def __init__(self, names=None, seen=None, calls=None):
        self.names, self.seen, self.calls = names or {}, seen or {}, calls or {}
        self.unknowns = []

    def var(self, name):
        return self.names.get(name, UNKNOWN)

    def global_value(self, name):
        return self.names.get(name, UNKNOWN)

    def read(self, tree):
        return self.seen.get(tree, UNKNOWN)

    def address(self, tree):
        return ("addr", "S", tree[3].split(".")[-1]) if tree[0] == "field" else ("local", tree[2])

    def call(self, name, line, col):
        return self.calls.get((name, line, col), UNKNOWN)

    def stored(self, tree):
        return self.seen.get(tree, UNKNOWN)

    def unknown(self, what, tree):
        self.unknowns.append(what)


def i(v, t="i32"):
    return ("int", t, v)


def var(name, t="i32"):
    return ("var", t, name)


S = var("s", "p:S")
N = ("field", "u32", S, "S.n", True)


def value(tree, **env):
    return Evaluator(Env(**env)).value(tree)


@pytest.mark.parametrize("tree, expected", [
    (("/", "i32", i(-7), i(2)), -3), (("%", "i32", i(-7), i(2)), -1),
    (("|", "i32", ("<<", "i32", i(1), i(4)), i(1)), 17),
    (("-", "u32", ("cast", "u32", i(5)), i(6, "u32")), 0xffffffff),    # (unsigned)5 - 6
    (("-", "i32", i(5), i(6)), -1),
    (("<", "i32", i(-1), i(1, "u32")), 0),                   # -1 < 1u: -1 converts to UINT_MAX
    (("<", "i32", i(-1), i(1, "i64")), 1),
    (("cast", "u8", i(300)), 44), (("cast", "b", i(7)), 1), (("cast", "i8", i(200)), -56),
    (("+", "u64", i(0xffffffffffffffff, "u64"), i(1, "u64")), 0),
    (("!", "i32", i(0)), 1), (("&&", "i32", var("x"), i(0)), 0), (("||", "i32", var("x"), i(1)), 1),
    (("&&", "i32", var("x"), i(1)), UNKNOWN), (("==", "i32", var("x"), i(1)), UNKNOWN),
    (("?:", "i32", var("x"), i(4), i(4)), 4), (("?:", "i32", var("x"), i(4), i(5)), UNKNOWN),
    (("<<", "i32", i(1), i(70)), UNKNOWN), (("/", "i32", i(1), i(0)), UNKNOWN),
])
def test_c_arithmetic_on_typed_trees(tree, expected):
    assert value(tree) == expected


def test_trees_see_what_the_block_recorded():
    seen = {N: 1, ("field", "i32", S, "S.max", True): 2}
    assert value(("<", "i32", N, ("field", "i32", S, "S.max", True)), seen=seen) == 1
    # An assignment in a condition is the value the interpreter stored, not a new call.
    assert value(("=", "u32", N, ("call", "u32", "f", 3, 9)), seen={N: 3}) == 3
    # A call node is the result of the call event at its line and column.
    assert value(("-", "i32", ("call", "i32", "f", 3, 4), ("call", "i32", "f", 3, 12)),
                 calls={("f", 3, 4): 10, ("f", 3, 12): 4}) == 6
    # x++ in a condition is the old value: the increment's event already ran.
    assert value(("post++", "u32", var("k", "u32")), names={"k": 0}) == 0xffffffff
    assert value(("post--", "i32", var("k")), names={"k": 2}) == 3


def test_container_of_is_pointer_arithmetic_on_the_member_address():
    e = ("&", "p:EventNotifier", ("field", "s:EventNotifier", S, "S.e", True))
    tree = ("cast", "p:S", ("-", "p", ("cast", "p", e), i(8, "u64")))
    assert value(tree) == ("obj", "S")


def test_what_a_tree_does_not_represent_is_an_explicit_counted_unknown():
    env = Env()
    tree = ("+", "i32", ("?", "", "statement expression"), i(1))
    assert Evaluator(env).value(tree) is UNKNOWN
    assert env.unknowns == ["statement expression"]


def test_an_unsigned_subtraction_below_zero_is_noticed():
    ev = Evaluator(Env(seen={N: 0}))
    assert ev.value(("-", "u32", N, i(1, "u32"))) == 0xffffffff and ev.wrapped


def test_model_eras_and_primitive_signatures():
    model = load_model()
    assert [e.name for e in model.eras] == ["7.2", "2.x"]
    assert model.era({"aio_bh_new_full"}).name == "7.2"
    assert model.era({"aio_bh_new_full", "block_job_defer_to_main_loop"}).name == "2.x"
    assert model.era(set()).name == "2.x"

    def call(n):
        return Call("aio_set_event_notifier", 1, 1, args=tuple(Arg(str(i)) for i in range(n)))
    seven = model.primitive(call(6), {"aio_disable_external"})
    two = model.primitive(call(5), {"aio_disable_external"})
    eight = model.primitive(call(5), set())
    assert (seven.args["io_poll_ready"], two.args.get("io_poll_ready"), eight.args["io_read"]) == (5, None, 2)
    assert model.primitive(Call("aio_bh_new_full", 1, 1, macro="aio_bh_new"), set()).op == "bh_new"
    assert model.primitive(Call("frobnicate", 1, 1), set()) is None


def test_schedule_runs_round_trip():
    names = ["iothread"] * 3 + ["main"] * 2 + ["iothread"]
    assert schedule.compress(names) == [["iothread", 3], ["main", 2], ["iothread", 1]]
    steps = schedule.expand(schedule.compress(names), [[4, [1, 0]]])
    assert [name for name, _c in steps] == names
    assert [c for _n, c in steps] == [(), (), (), (1, 0), (), ()]
    item = {"start": [[[["Req", "ReqQueue", "head"], "next"], 0], [["ring", ""], 1]]}
    assert schedule.starts_of(item) == {(("Req", "ReqQueue", "head"), "next"): 0,
                                        ("ring", ""): 1}


CONFIRMATION = {
    "status": "confirmed", "invariant": "counter-wrap", "message": "s->n wraps",
    "schedule": [
        {"step": 1, "thread": "iothread", "function": "f", "event": "s->n-- (1 → 0)",
         "path": "a.c", "line": 7},
        {"step": 2, "thread": "main", "function": "bdrv_drain", "event": "takes the lock"},
        {"step": 3, "thread": "main", "function": "f", "event": "s->n wraps", "path": "a.c",
         "line": 7, "violation": True}]}


def sarif_result(confirmation: dict) -> dict:
    finding = Finding("QL101", "lock-required", "a.c", 7, 5, "f", "m",
                      trace=[Step("f", "a.c", 7, "calls g()")], confirmation=confirmation)
    log = json.loads(report_sarif.render(finalize([finding], "/src"), all_rules(), [], "qlint/", "/src"))
    with open(SARIF_SCHEMA) as f:
        errors = list(jsonschema.Draft4Validator(json.load(f)).iter_errors(log))
    assert errors == []
    return log["runs"][0]["results"][0]


def test_sarif_result_carries_the_confirmation_and_a_thread_flow_per_thread():
    r = sarif_result(CONFIRMATION)
    assert r["properties"] == {"confirmation": CONFIRMATION}
    path, counterexample = r["codeFlows"]
    assert len(path["threadFlows"]) == 1
    assert counterexample["message"]["text"] == "counterexample (counter-wrap): s->n wraps"
    flows = counterexample["threadFlows"]
    assert [t["id"] for t in flows] == ["iothread", "main"]
    assert [[loc["executionOrder"] for loc in t["locations"]] for t in flows] == [[1], [2, 3]]
    assert flows[1]["locations"][1]["importance"] == "essential"
    assert flows[1]["locations"][0]["location"] == {"message": {"text": "bdrv_drain: takes the lock"}}
    assert flows[0]["locations"][0]["location"]["physicalLocation"]["region"] == {"startLine": 7}


def test_sarif_result_of_an_unconfirmed_finding_has_no_counterexample():
    r = sarif_result({"status": "not-reproduced", "states": 9})
    assert len(r["codeFlows"]) == 1 and r["properties"]["confirmation"]["states"] == 9

"""The replay's parts without clang: C expressions, what is read from the source, the model
data, schedule files and the SARIF form of a confirmation."""
from __future__ import annotations

import json
import os

import jsonschema
import pytest

from conftest import SARIF_SCHEMA
from qlint.facts.ir import Arg, Call
from qlint.replay import schedule, source
from qlint.report import sarif as report_sarif
from qlint.report.model import Finding, Step, finalize
from qlint.rules.registry import all_rules
from qlint.replay.expr import Evaluator, normalize, parse
from qlint.replay.model import load_model
from qlint.replay.values import UNKNOWN


class Env:
    """Locals, recorded reads and call results, as the interpreter would give them."""

    def __init__(self, names=None, seen=None, calls=None):
        self.names, self.seen, self.calls = names or {}, seen or {}, calls or {}

    def name(self, name):
        return self.names.get(name, UNKNOWN)

    def read(self, node):
        return self.seen.get(node[1], UNKNOWN)

    def address(self, node):
        return ("addr", "S", node[1])

    def call(self, name, back):
        results = self.calls.get(name, ())
        return results[-back] if len(results) >= back else UNKNOWN

    def assigned(self, node):
        return self.seen.get(node[1])

    @staticmethod
    def container(pointer, record):
        return ("obj", pointer[1]) if isinstance(pointer, tuple) and pointer[0] == "addr" else ("obj", record)


def value(text, **env):
    return Evaluator(Env(**env)).evaluate(parse(text))


@pytest.mark.parametrize("text, expected", [
    ("-7 / 2", -3), ("-7 % 2", -1), ("1 << 4 | 1", 17), ("3 > 2 && 2 > 3", 0),
    ("0x10 + 010", 24), ("'a'", 97), ("(unsigned int)5 - 6", -1), ("!0", 1),
    ("x && 0", 0), ("x || 1", 1), ("0 && x", 0), ("x && 1", UNKNOWN), ("x == 1", UNKNOWN),
    ("x ? 4 : 4", 4), ("x ? 4 : 5", UNKNOWN), ("sizeof(int) + 1", UNKNOWN),
])
def test_c_expressions_with_unknown_operands(text, expected):
    assert value(text) == expected


def test_conditions_see_what_their_block_recorded():
    seen = {"s->event_idx": 1, "s->event_max": 2, "s->event_max=f(s,&events)": None}
    assert value("s->event_idx < s->event_max", seen=seen) == 1
    # An assignment in a condition is the value the interpreter stored, not a new call.
    assert value("(s->event_max = f(s, &events))", seen={"s->event_max": 3}) == 3
    # Calls pair with their most recent results, in order of appearance.
    assert value("f(a) - f(b)", calls={"f": (10, 4)}) == 6
    assert value("container_of(e, LinuxAioState, e)", names={"e": ("addr", "S", "e")}) == ("obj", "S")
    assert value("container_of(p, struct qemu_laiocb, iocb)", names={"p": 0}) == ("obj", "qemu_laiocb")


def test_normalized_spellings_match_the_ir():
    assert normalize("(&s->io_q.pending)->sqh_first") == "(&s->io_q.pending)->sqh_first"
    assert normalize("s -> io_q . in_flight /* x */") == "s->io_q.in_flight"
    assert parse("a +") is None and parse("f(a b)") is None
    assert parse("f(struct x *)")[3][0][2] == "x"          # a type as a macro argument


SOURCE = """\
#define MAX_EVENTS 1024
#define NAME "x"
typedef struct {
    unsigned int in_flight;   /* counted */
    int plugged;
    uint64_t bytes, more;
    struct Inner *p;
} LaioQueue;
struct Tagged { unsigned char flag; size_t n; };
static int f(LinuxAioState *s)
{
    struct qemu_laiocb *laiocb =
        container_of(iocb, struct qemu_laiocb, iocb);
    s->io_q.in_flight -= ret + 1;
    s->event_idx++;
    return s->event_max > 0;
}
"""


def test_values_read_from_the_source(tmp_path):
    path = str(tmp_path / "a.c")
    with open(path, "w") as f:
        f.write(SOURCE)
    assert source.defines(path) == {"MAX_EVENTS": 1024}
    assert source.unsigned_fields(path) == {"LaioQueue.in_flight": 32, "LaioQueue.bytes": 64,
                                            "LaioQueue.more": 64, "Tagged.flag": 8, "Tagged.n": 64}
    assert source.assigned_at(path, 12, "laiocb")[2] == "container_of"
    op, expr = source.write_at(path, 14, 13)
    assert (op, expr[1]) == ("-=", "ret+1")
    assert source.write_at(path, 15, 8) == ("++", None)
    assert source.returned_at(path, 16, 5)[1] == "s->event_max>0"
    assert source.write_at(path, 99, 1) is None
    # The file changed: what is read follows the current text.
    with open(path, "w") as f:
        f.write(SOURCE.replace("ret + 1", "2"))
    os.utime(path, ns=(1, 1))
    assert source.write_at(path, 14, 13)[1][1] == "2"


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
    assert schedule.expand(schedule.compress(names)) == names


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

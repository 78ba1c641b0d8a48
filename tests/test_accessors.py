"""Accessors (qlint/facts/accessors.py): which functions are seen through at their calls, and
what a getter's call is keyed as in a condition."""
from __future__ import annotations

from qlint.facts.accessors import Getter, Setter, accessors
from qlint.facts.conditions import decision
from qlint.frontend.compdb import CompileJob
from qlint.frontend.parse import TUTask

SOURCE = """
typedef struct P { long addr[2]; int n; struct P *next; } P;
int log_it(int);
static inline long addr0(const P *p) { return p->addr[0]; }
static inline int next_n(const P *p) { return p->next->n + 1; }
static inline void set_addr0(P *p, long a) { p->addr[0] = a; }
static inline void set_n(P *p, int v) { p->n = v; }
static inline int logged(const P *p) { return log_it(p->n); }
static inline int either(const P *p) { if (p->n) return 1; return 0; }
static inline void set_two(P *p, int v) { p->n = v; p->addr[1] = v; }
static inline void bump(P *p) { p->n += 1; }
static inline int global_n(void) { extern int g; return g; }
int test(P *p) { if (addr0(p) == -1 && next_n(p)) return 1; return 0; }
"""


def functions(tmp_path):
    path = tmp_path / "p.c"
    path.write_text(SOURCE)
    job = CompileJob(file=str(path), args=("-std=gnu11",), directory=str(tmp_path))
    return {f.name: f for f in TUTask(job).run().functions}


def test_getters_and_setters_and_what_is_neither(tmp_path):
    fns = functions(tmp_path)
    found = {fns[k].name: a for k, a in accessors({k: f for k, f in fns.items()}).items()}
    assert sorted(found) == ["addr0", "next_n", "set_addr0", "set_n"]
    assert found["addr0"] == Getter(("p",), (
        "[]", "i64", ("field", "p", ("var", "p:P", "p"), "P.addr", True), ("int", "i32", 0)))
    assert type(found["next_n"]) is Getter
    assert found["set_addr0"] == Setter(
        ("p", "a"),
        ("[]", "i64", ("field", "p", ("var", "p:P", "p"), "P.addr", True), ("int", "i32", 0)),
        ("var", "i64", "a"))
    assert found["set_n"].value == ("var", "i32", "v")


def test_a_getters_call_in_a_condition_is_keyed_as_what_it_returns(tmp_path):
    fns = functions(tmp_path)
    inline = {f.key: a for f in fns.values() for a in [accessors({f.key: f}).get(f.key)] if a}
    test = fns["test"]
    branches = [(b, e) for b in test.blocks for e in b.succs
                if b.cond is not None and e.value == "true"]
    assert [decision(b, e, inline=inline) for b, e in branches] == [
        (("p->addr[0]", "==", -1),), (("(1 + p->next->n)", "!=", 0),)]
    # Without the accessors, the calls are keyed with their arguments.
    assert [decision(b, e) for b, e in branches] == [
        (("addr0(p)", "==", -1),), (("next_n(p)", "!=", 0),)]

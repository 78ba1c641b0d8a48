"""What the libclang front end extracts from C."""
from __future__ import annotations

import textwrap

import pytest

from qlint.facts.ir import Access, Assign, Call
from qlint.frontend.compdb import CompileJob
from qlint.frontend.parse import TUTask

INCLUDE = "fixtures/include"


@pytest.fixture
def extract(tmp_path):
    import os

    def run(source: str):
        path = tmp_path / "t.c"
        path.write_text('#include "qemu/qemu-like.h"\n' + textwrap.dedent(source))
        job = CompileJob(file=str(path), args=("-I", os.path.abspath(INCLUDE), "-std=gnu11"),
                         directory=str(tmp_path))
        tu = TUTask(job).run()
        assert tu.errors == [], tu.errors
        return tu
    return run


def events(tu, name):
    fn = next(f for f in tu.functions if f.name == name)
    return [e for b in fn.blocks for e in b.events]


def test_field_accesses_with_modes_and_paths(extract):
    tu = extract("""
        typedef struct Q { unsigned in_flight; } Q;
        typedef struct St { Q io_q; int idx; int *p; } St;
        void f(St *s) { s->io_q.in_flight--; s->idx += 2; s->idx = *s->p; }
    """)
    acc = [(e.field, e.path, e.mode, e.text) for e in events(tu, "f") if isinstance(e, Access)]
    assert acc == [("Q.in_flight", "St.io_q.in_flight", "dec", "s->io_q.in_flight"),
                   ("St.idx", "St.idx", "inc", "s->idx"),
                   ("St.p", "St.p", "r", "s->p"),
                   ("St.idx", "St.idx", "w", "s->idx")]


def test_calls_through_macros_fields_and_pointers(extract):
    tu = extract("""
        typedef struct S { QemuMutex lock; void (*cb)(int); } S;
        int g(int);
        void f(S *s) {
            qemu_mutex_lock(&s->lock);
            s->cb(g(1));
            aio_bh_new(qemu_get_aio_context(), (QEMUBHFunc *)f, s);
        }
    """)
    calls = [(e.name, e.via, e.macro, tuple(a.text for a in e.args), tuple(a.key for a in e.args))
             for e in events(tu, "f") if isinstance(e, Call)]
    assert calls[0] == ("qemu_mutex_lock_func", "*_f", "qemu_mutex_lock",
                        ("&s->lock", '"' + tu.path + '"', "6"), ("S.lock", "", ""))
    assert calls[1][:3] == ("g", "", "")
    assert calls[2][:3] == ("cb", "S.cb", "")
    assert calls[3][0] == "qemu_get_aio_context"
    bh = next(e for e in events(tu, "f") if isinstance(e, Call) and e.name == "aio_bh_new_full")
    assert bh.macro == "aio_bh_new"
    assert bh.args[1].funcs == ("f",)


def test_designated_and_positional_initializers(extract):
    tu = extract("""
        typedef struct Ops { const char *name; void (*run)(void); void (*stop)(void); } Ops;
        static void r(void) {}
        static void s(void) {}
        static Ops a = { .run = r, .stop = &s };
        Ops b = { "b", r, s };
    """)
    stores = sorted((st.field, st.func.split("@")[0], st.where) for st in tu.field_stores)
    assert stores == [("Ops.run", "r", "a"), ("Ops.run", "r", "b"),
                      ("Ops.stop", "s", "a"), ("Ops.stop", "s", "b")]


def test_cleanup_guard_and_null_assignment(extract):
    tu = extract("""
        typedef struct S { QemuMutex lock; } S;
        void f(S *s) { WITH_QEMU_LOCK_GUARD(&s->lock) { } }
    """)
    ev = events(tu, "f")
    acquire = next(e for e in ev if isinstance(e, Call) and e.name == "qemu_lockable_auto_lock")
    assert acquire.macro == "WITH_QEMU_LOCK_GUARD" and acquire.args[0].key == "S.lock"
    assert acquire.result.startswith("qemu_lockable_auto")
    assert any(isinstance(e, Assign) and e.null and e.names == (acquire.result,) for e in ev)
    cleanup = [e for e in ev if isinstance(e, Call) and e.cleanup]
    assert [(c.name, c.args[0].text) for c in cleanup] == [
        ("glib_autoptr_cleanup_QemuLockable", "&" + acquire.result)]


def test_noreturn_ends_the_path_and_constant_loops(extract):
    tu = extract("""
        void g(void);
        void f(int x) { if (x) { abort(); g(); } do { g(); } while (0); }
    """)
    fn = next(f for f in tu.functions if f.name == "f")
    reach = {0}
    stack = [0]
    while stack:
        for e in fn.blocks[stack.pop()].succs:
            if e.target not in reach:
                reach.add(e.target)
                stack.append(e.target)
    live = [e.name for i in sorted(reach) for e in fn.blocks[i].events if isinstance(e, Call)]
    assert live == ["abort", "g"]          # g() after abort() is dead; do-while(0) runs once
    back_edges = [e for b in fn.blocks for e in b.succs if e.cond == "0"]
    assert back_edges == []


def test_cache_codec_round_trips_real_facts(extract):
    from qlint.facts.codec import decode_tu, encode_tu
    tu = extract("""
        typedef struct S { QemuMutex lock; int n; void (*cb)(int); } S;
        static void g(int x) {}
        static struct { void (*f)(int); } ops = { .f = g };
        /* Called with s->lock held. */
        void f(S *s, int k);
        void f(S *s, int k) {
            Coroutine *co = qemu_coroutine_create((CoroutineEntry *)g, s);
            WITH_QEMU_LOCK_GUARD(&s->lock) { s->n += k; }
            if (k == 0) { return; }
            switch (k) { case 1: s->cb(2); break; default: aio_co_enter(0, co); }
            int v = k;
            v |= 4;                      /* an Assign with its operator and tree */
            if (v & 1) { g(v); }
        }
    """)
    assigns = [e for fn in tu.functions for b in fn.blocks for e in b.events
               if type(e).__name__ == "Assign" and e.op == "|=" and e.expr is not None]
    assert len(assigns) == 1            # every field of every record kind is round-tripped
    assert [c.text for c in tu.comments] == ["Called with s->lock held."]
    data = encode_tu(tu)
    again = decode_tu(data)
    assert encode_tu(again) == data
    assert again == tu


def test_decoding_in_path_order_leaves_out_the_static_functions_an_earlier_tu_brought():
    # A header's static inline function repeats in every TU that includes it; Program keeps
    # the first TU's copy (in path order). Decoding with one `seen` keeps the same functions.
    from qlint.facts.codec import decode_tu, encode_tu
    from qlint.facts.ir import Function, TUFacts
    from qlint.graph.program import Program

    def fn(key, file, static, line):
        return Function(key, key.split("@")[0], file, line, 1, line + 1, static)
    inline = "h_inline@/src/h.h"
    a = TUFacts("/src/a.c", [fn(inline, "/src/h.h", True, 1), fn("a_run", "/src/a.c", False, 5)])
    b = TUFacts("/src/b.c", [fn(inline, "/src/h.h", True, 2), fn("stub", "/src/b.c", False, 5)])
    c = TUFacts("/src/c.c", [fn("stub", "/src/c.c", False, 7)])
    seen: set = set()
    decoded = [decode_tu(encode_tu(tu), seen) for tu in (a, b, c)]
    assert [[f.key for f in tu.functions] for tu in decoded] == \
        [[inline, "a_run"], ["stub"], ["stub"]]
    whole, lean = Program([a, b, c]), Program(decoded)
    assert {k: (f.file, f.line) for k, f in lean.functions.items()} == \
        {k: (f.file, f.line) for k, f in whole.functions.items()} == {
            inline: ("/src/h.h", 1), "a_run": ("/src/a.c", 5), "stub": ("/src/b.c", 5),
            "stub@/src/c.c": ("/src/c.c", 7)}


def test_decoded_trees_and_line_numbers_share_their_repeated_values():
    # Every TU's trees repeat the same types, operators and names, and its events the same
    # line numbers: decoded twice from fresh JSON, they are one object each (a whole
    # program's facts take a third less memory so).
    import json

    from qlint.facts.codec import decode
    from qlint.facts.ir import Call
    text = '["f", 300, 1000, "", "", [["s->lock", "", [], "", [], ["&", "p", ["var", "p:S", "s"]]]]]'
    one, two = decode(Call, json.loads(text)), decode(Call, json.loads(text))
    assert one == two and one.args[0].expr == ("&", "p", ("var", "p:S", "s"))
    assert one.args[0].expr[2][1] is two.args[0].expr[2][1]
    assert one.args[0].expr[2][2] is two.args[0].expr[2][2]
    assert (one.line, one.col) == (300, 1000) and one.col is two.col and one.line is two.line


def test_expression_trees_resolve_types_and_fold_constants(extract, tmp_path):
    (tmp_path / "types.h").write_text("typedef unsigned int qcount_t;\ntypedef qcount_t pending_t;\n")
    tu = extract("""
        #include "types.h"
        enum { SLOTS = 4 };
        #define FULL(q) ((q)->pending >= SLOTS * 2)
        typedef struct Q { pending_t pending; struct Q *next; unsigned busy:1; } Q;
        int pick(Q *q);
        int f(Q *q, int k) {
            for (k = 0; k < sizeof(Q); k++) {
                q->pending--;
            }
            if (!FULL(q) && k == SLOTS) {
                q->next->next->busy = pick(q) + 1;
            }
            return q->pending;
        }
    """)
    fn = next(f for f in tu.functions if f.name == "f")
    conds = [b.cond for b in fn.blocks if b.cond is not None]
    q = ("var", "p:Q", "q")
    pending = ("field", "u32", q, "Q.pending", True)
    assert conds == [
        ("<", "i32", ("var", "i32", "k"), ("int", "u64", 24)),
        ("&&", "i32", ("!", "i32", (">=", "i32", pending, ("int", "i32", 8))),
         ("==", "i32", ("var", "i32", "k"), ("int", "i32", 4)))]
    writes = [(e.text, e.op, e.lvalue, e.value) for e in events(tu, "f")
              if isinstance(e, Access) and e.mode != "r"]
    chain = ("field", "p:Q", ("field", "p:Q", q, "Q.next", True), "Q.next", True)
    assert writes == [
        ("q->pending", "--", pending, None),
        ("q->next->next->busy", "=", ("field", "u1", chain, "Q.busy", True),
         ("+", "i32", ("call", "i32", "pick", 13, 31), ("int", "i32", 1)))]
    assigns = [(e.names, e.op, e.expr) for e in events(tu, "f") if isinstance(e, Assign)]
    assert assigns == [(("k",), "=", ("int", "i32", 0)), (("k",), "++", None)]
    [ret] = [e for b in fn.blocks for e in b.events if type(e).__name__ == "Return"]
    assert ret.expr == pending
    call = next(e for e in events(tu, "f") if isinstance(e, Call) and e.name == "pick")
    assert call.args[0].expr == q


def test_unknown_parts_of_a_tree_say_what_they_are(extract):
    tu = extract("""
        typedef struct R { const char *name; double w; } R;
        void use(const char *s, double d);
        void f(R *r) { use("x", r->w * 2.5); }
    """)
    call = next(e for e in events(tu, "f") if isinstance(e, Call) and e.name == "use")
    assert call.args[0].expr == ("?", "p", "string")
    assert call.args[1].expr[0] == "*" and call.args[1].expr[3] == ("?", "f", "float")


def test_switch_labels_are_folded(extract):
    tu = extract("""
        enum Mode { M_READ = 1, M_WRITE = 2 };
        #define M_FLUSH (M_WRITE + 2)
        int f(enum Mode m) {
            switch (m) { case M_READ: return 1; case M_FLUSH: return 2; default: return 0; }
        }
    """)
    fn = next(f for f in tu.functions if f.name == "f")
    cases = [(e.value, e.case) for b in fn.blocks for e in b.succs if e.cond]
    assert cases == [("case M_READ", 1), ("case ((M_WRITE + 2))", 4), ("default", None)]


def test_members_of_anonymous_unions_are_named_without_where_they_were_written(extract):
    # QEMUIOVector's `size` sits in an anonymous struct inside an anonymous union: libclang
    # spells the union member with its file and line, which must not reach a report.
    tu = extract("""
        typedef struct V { union { struct { int a; int size; }; int x[2]; }; int n; } V;
        int f(V *qiov, int bytes) { if (qiov->size == bytes) { return 1; } qiov->size = 0; return 0; }
    """)
    fn = next(f for f in tu.functions if f.name == "f")
    conds = {e.cond for b in fn.blocks for e in b.succs if e.cond}
    assert conds == {"qiov->size == bytes"}
    assert [(a.field, a.path, a.mode, a.text) for a in events(tu, "f") if isinstance(a, Access)] == [
        ("V.size", "V.size", "r", "qiov->size"), ("V.size", "V.size", "w", "qiov->size")]


def test_value_references_of_branches_stores_and_returns(extract):
    tu = extract("""
        int try_it(QemuMutex *m);
        int g(QemuMutex *m) {
            int busy = try_it(m);
            bool locked = !try_it(m);
            if (try_it(m) == -16) { return busy; }
            if (qemu_mutex_trylock(m) == 0) { return !locked; }
            return try_it(m);
        }
    """)
    fn = next(f for f in tu.functions if f.name == "g")
    refs = [e.ref.split(":")[0] for b in fn.blocks for e in b.succs if e.ref and e.value == "true"]
    assert refs == ["=try_it", "!qemu_mutex_trylock_func"]
    stores = [(a.names, a.ref.split(":")[0]) for a in events(tu, "g") if isinstance(a, Assign)
              and a.ref]
    assert stores == [(("busy",), "try_it"), (("locked",), "!try_it")]
    from qlint.facts.ir import Return
    returns = [r.ref.split(":")[0] for r in events(tu, "g") if isinstance(r, Return)]
    assert returns == ["busy", "!locked", "try_it"]


def test_value_references_are_read_from_the_trees_with_folded_constants(extract):
    """A comparison with an enum constant or a macro libclang folded decides one side of the
    value, as a literal does; a function or an enum constant is no value reference."""
    tu = extract("""
        enum { BUSY = 16, NONE = 0 };
        #define AGAIN (BUSY + 1)
        int try_it(int *m);
        void notify(void);
        int g(int *m, int flags) {
            void (*cb)(void) = notify;
            flags |= BUSY;
            if (try_it(m) != AGAIN) { return 0; }
            if (try_it(m) == NONE) { return 1; }
            return flags;
        }
    """)
    fn = next(f for f in tu.functions if f.name == "g")
    refs = [e.ref.split(":")[0] for b in fn.blocks for e in b.succs if e.value == "true"]
    assert refs == ["!=try_it", "!try_it"]
    stores = [(a.names, a.ref, a.accumulates) for a in events(tu, "g") if isinstance(a, Assign)]
    assert stores == [(("cb",), "", False), (("flags",), "", True)]

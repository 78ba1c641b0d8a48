"""Branch decisions as atoms (qlint/facts/conditions.py): what a decision establishes, read from
the condition's tree, and when two decisions contradict."""
from __future__ import annotations

import pytest

from qlint.analysis.paths import held_where_equal
from qlint.facts.conditions import contradicts, decision, equality, key
from qlint.pack.matcher import assumption_key
from qlint.facts.ir import Arg, Block, Call, Edge

S = ("var", "p:S", "s")


def field(name, t="u32", base=S):
    return ("field", t, base, f"S.{name}", True)


def const(v, t="i32"):
    return ("int", t, v)


def branch(tree, *events):
    return Block(events=list(events), succs=[Edge(2, "c", "true"), Edge(3, "c", "false")],
                 cond=tree)


def taken(tree, value, *events):
    block = branch(tree, *events)
    return decision(block, next(e for e in block.succs if e.value == value))


ALIGN = field("needs_alignment", "b")
BYTES = field("bytes")


def test_conjuncts_of_a_decision_taken_true_and_false():
    both = ("&&", "i32", ALIGN, ("!", "i32", BYTES))
    assert taken(both, "true") == (("s->needs_alignment", "!=", 0), ("s->bytes", "==", 0),
                                   ("(!s->bytes && s->needs_alignment)", "!=", 0))
    # Taken false, a conjunction says only that it does not hold as a whole.
    assert taken(both, "false") == (("(!s->bytes && s->needs_alignment)", "==", 0),)
    assert contradicts(taken(both, "true"), taken(both, "false"))
    either = ("||", "i32", ALIGN, BYTES)
    assert taken(either, "false") == (("s->needs_alignment", "==", 0), ("s->bytes", "==", 0),
                                      ("(s->bytes || s->needs_alignment)", "==", 0))
    # Through the negation around it: `!(a || b)` taken true is `a || b` taken false.
    assert taken(("!", "i32", either), "true") == taken(either, "false")


def test_the_needs_alignment_contradiction_is_caught_structurally():
    first = taken(ALIGN, "false")
    second = taken(("&&", "i32", ALIGN, (">", "i32", BYTES, const(0))), "true")
    assert contradicts(first, second)
    assert not contradicts(first, taken(("&&", "i32", ALIGN, BYTES), "false"))


@pytest.mark.parametrize("tree, value, atom", [
    (("==", "i32", BYTES, const(0)), "true", ("s->bytes", "==", 0)),
    (("!=", "i32", ("cast", "p", const(0)), S), "true", ("s", "!=", 0)),     # NULL != s
    ((">=", "i32", BYTES, const(16)), "false", ("s->bytes", "<", 16)),
    (("<", "i32", const(3), BYTES), "true", ("s->bytes", ">", 3)),
    (("cast", "b", BYTES), "true", ("s->bytes", "!=", 0)),
])
def test_comparisons_with_constants_are_atoms_on_the_other_side(tree, value, atom):
    assert taken(tree, value) == (atom,)


def test_ranges_and_values_that_leave_nothing_contradict():
    assert contradicts([("n", ">=", 16)], [("n", "<", 16)])
    assert contradicts([("n", ">", 3), ("n", "<", 5)], [("n", "!=", 4)])
    assert contradicts([("n", "==", 1)], [("n", "==", 2)])
    assert not contradicts([("n", ">", 3), ("n", "<", 6)], [("n", "!=", 4)])
    assert not contradicts([("n", "==", 0)], [("m", "!=", 0)])


def test_calls_are_keyed_with_their_arguments_or_abstracted():
    call = Call("bdrv_get_aio_context", 7, 9,
                args=(Arg("s->bs", expr=field("bs", "p:BlockDriverState")),))
    main = Call("qemu_get_aio_context", 7, 30)
    tree = ("==", "i32", ("call", "p:AioContext", "bdrv_get_aio_context", 7, 9),
            ("call", "p:AioContext", "qemu_get_aio_context", 7, 30))
    block = branch(tree, call, main)
    assert decision(block, block.succs[0]) == (
        ("(bdrv_get_aio_context(s->bs) == qemu_get_aio_context())", "!=", 0),)
    assert decision(block, block.succs[1], abstract=True) == (
        ("(bdrv_get_aio_context(*) == qemu_get_aio_context(*))", "==", 0),)


def test_switch_cases_use_the_folded_label_values():
    block = Block(succs=[Edge(2, "k", "case MODE_A", case=3), Edge(3, "k", "case MODE_B", case=4),
                         Edge(4, "k", "default")], cond=("var", "i32", "k"))
    atoms = [decision(block, e) for e in block.succs]
    assert atoms == [(("k", "==", 3),), (("k", "==", 4),), (("k", "!=", 3), ("k", "!=", 4))]
    assert contradicts(atoms[0], atoms[2]) and not contradicts(atoms[0], [("k", "<", 4)])


def test_what_decides_nothing_says_so():
    assert decision(Block(succs=[Edge(2)]), Edge(2)) is None
    assert taken(("?", "", "statement expression"), "true") is None
    assert taken(const(1), "true") is None
    assert key(("&&", "i32", ALIGN, ("?", "", "x"))) is None


def test_decisions_read_from_extracted_code_contradict_structurally(tmp_path):
    """Decisions a text comparison misses: `s->needs_alignment` taken false, then
    `s->needs_alignment && bytes > 0` taken true, on one path."""
    from qlint.frontend.compdb import CompileJob
    from qlint.frontend.parse import TUTask
    path = tmp_path / "t.c"
    path.write_text("""
        typedef struct S { _Bool needs_alignment; } S;
        void pad(S *s);
        void io(S *s, unsigned bytes)
        {
            if (s->needs_alignment) {
                return;
            }
            if (s->needs_alignment && bytes > 0) {
                pad(s);
            }
        }
    """)
    job = CompileJob(file=str(path), args=("-std=gnu11",), directory=str(tmp_path))
    fn = next(f for f in TUTask(job).run().functions if f.name == "io")
    branches = [(b, e) for b in fn.blocks for e in b.succs if b.cond is not None]
    first = next(decision(b, e) for b, e in branches
                 if e.value == "false" and e.cond == "s->needs_alignment")
    second = next(decision(b, e) for b, e in branches
                  if e.value == "true" and e.cond.startswith("s->needs_alignment &&"))
    assert first == (("s->needs_alignment", "==", 0),)
    assert second == (("s->needs_alignment", "!=", 0), ("bytes", ">", 0),
                      ("((0 < bytes) && s->needs_alignment)", "!=", 0))
    assert contradicts(first, second)


def test_calls_a_condition_tests_after_branching_are_found_in_the_function(tmp_path):
    """`!f() || !g() || s->dst` branches on `!f()` first; the whole condition is then tested
    in a later block, with g() evaluated in between: its atoms name g() all the same."""
    from qlint.facts.conditions import calls_of
    from qlint.frontend.compdb import CompileJob
    from qlint.frontend.parse import TUTask
    path = tmp_path / "t.c"
    path.write_text("""
        typedef struct S { int dst; } S;
        int f(void);
        int g(void);
        void h(void);
        void loop(S *s)
        {
            do {
                if (!f() || !g() || s->dst) {
                    break;
                }
                h();
            } while (1);
        }
    """)
    job = CompileJob(file=str(path), args=("-std=gnu11",), directory=str(tmp_path))
    fn = next(f for f in TUTask(job).run().functions if f.name == "loop")
    block, edge = next((b, e) for b in fn.blocks for e in b.succs
                       if e.value == "false" and e.cond.endswith("|| s->dst"))
    assert decision(block, edge, calls=calls_of(fn.blocks)) == (
        ("f()", "!=", 0), ("g()", "!=", 0), ("s->dst", "==", 0),
        ("((!f() || !g()) || s->dst)", "==", 0))
    assert decision(block, edge) == (("s->dst", "==", 0),)


def test_a_comparison_of_two_expressions_is_split_at_its_own_operator():
    assert equality("(ctx != qemu_get_aio_context())") == ("ctx", "!=", "qemu_get_aio_context()")
    assert equality("((a == b) == f(c != d))") == ("(a == b)", "==", "f(c != d)")
    assert [equality(k) for k in ("(a < b)", "ctx", "(a && b)", "((a == b) && (c == d))")] == \
        [None, None, None, None]


def test_an_assumed_equality_holds_where_a_variable_or_field_is_found_equal():
    assumptions = {assumption_key("qemu_get_aio_context() == *"): ("AioContext",)}
    assert list(assumptions) == ["*==qemu_get_aio_context()"]
    main = "(ctx != qemu_get_aio_context())"
    assert held_where_equal(assumptions, main, False) == ("AioContext",)     # taken false
    assert held_where_equal(assumptions, main, True) == ()
    field_main = "(job->job.aio_context == qemu_get_aio_context())"
    assert held_where_equal(assumptions, field_main, True) == ("AioContext",)
    thread = "(qemu_get_aio_context() == qemu_get_current_aio_context())"
    assert held_where_equal(assumptions, thread, True) == ()
    assert held_where_equal(assumptions, "(ctx == other)", True) == ()

"""The analysis runs on plain IR: no libclang here."""
from __future__ import annotations

from dataclasses import replace

from qlint.analysis.locks import LockAnalysis
from qlint.analysis.paths import never_taken, normalize_cond, or_keeps
from qlint.config import Config, build_pack
from qlint.facts.codec import decode_tu, encode_tu
from qlint.facts.conditions import decision
from qlint.facts.ir import Arg, Assign, Block, Call, Edge, Function, TUFacts
from qlint.graph.callgraph import CallGraph
from qlint.graph.program import Program
from qlint.pack.model import Origin, Requirement
from qlint.rules.base import Context
from qlint.rules.lock_rules import LockRequired
from qlint.rules.section_rules import UnbalancedSection


def fn(key, blocks, params=("s",), file="/src/x.c", line=1):
    return Function(key=key, name=key.split("@")[0], file=file, line=line, col=1, end_line=line + 9,
                    static="@" in key, params=params, blocks=blocks)


def straight(*events):
    """entry -> one block with the events -> exit."""
    return [Block(succs=[Edge(2)]), Block(), Block(events=list(events), succs=[Edge(1)])]


def call(name, line, *args, funcs=()):
    return Call(name=name, line=line, col=5, callee=name,
                args=tuple(Arg(a, funcs=funcs if i == 1 else ()) for i, a in enumerate(args)))


def analyse(functions, declared=()):
    tu = TUFacts(path="/src/x.c", functions=functions,
                 declared=("qemu_bh_schedule", "aio_context_acquire", *declared))
    program = Program([decode_tu(encode_tu(tu))])           # through the cache format
    pack = build_pack(Config()).active(program.declared)
    graph = CallGraph(program, pack)
    return Context(program, graph, pack)


def test_requirement_reaches_a_bh_through_a_helper():
    helper = fn("helper", straight(call("qemu_laio_process_completions", 3, "s")))
    bh = fn("bh", straight(call("helper", 12, "opaque")), params=("opaque",), line=10)
    init = fn("init", straight(call("aio_bh_new_full", 22, "ctx", "bh", "s", '"bh"', funcs=("bh",))),
              line=20)
    ctx = analyse([helper, bh, init])
    found = list(LockRequired().check(ctx))
    assert [(f.function, f.line, [(s.function, s.line) for s in f.trace]) for f in found] == [
        ("helper", 3, [("bh", 10), ("bh", 12), ("helper", 3)])]


def test_branch_correlation_removes_the_impossible_path():
    # if (ctx) acquire; if (ctx) required; -- the path "false then true" cannot happen.
    blocks = [Block(succs=[Edge(2)]), Block(),
              Block(succs=[Edge(3, "ctx", "true", 2, ("ctx",)), Edge(4, "ctx", "false", 2, ("ctx",))]),
              Block(events=[call("aio_context_acquire", 3, "ctx")], succs=[Edge(4)]),
              Block(succs=[Edge(5, "ctx", "true", 4, ("ctx",)), Edge(6, "ctx", "false", 4, ("ctx",))]),
              Block(events=[call("qemu_laio_process_completions", 5, "s")], succs=[Edge(6)]),
              Block(succs=[Edge(1)])]
    handler = fn("handler", blocks, params=("opaque",))
    init = fn("init", straight(call("aio_bh_new_full", 22, "ctx", "handler", "s", '"h"',
                                    funcs=("handler",))), line=20)
    ctx = analyse([handler, init])
    assert list(LockRequired().check(ctx)) == []
    # Reassigning ctx in between breaks the correlation: now the path exists.
    blocks[4].events.insert(0, Assign(("ctx",), 4))
    ctx = analyse([fn("handler", blocks, params=("opaque",)), init])
    assert [f.line for f in LockRequired().check(ctx)] == [5]


def test_condition_normalization():
    assert normalize_cond("!(s->ctx)") == ("s->ctx", False)
    assert normalize_cond("ret == 0") == ("ret", False)
    assert normalize_cond("bs != NULL") == ("bs", True)
    assert normalize_cond("!!x") == ("x", True)
    # `!` binds to its operand: `!a || b` is not the negation of `a || b`.
    assert normalize_cond("!qemu_in_coroutine() || mis->dst") == (
        "!qemu_in_coroutine() || mis->dst", True)
    assert normalize_cond("!(a || b)") == ("a || b", False)



def test_a_false_disjunction_decides_each_disjunct():
    """Here that the code runs in a coroutine: an [[assume]]d condition is found in it."""
    preempt = Call("migrate_postcopy_preempt", 9, 10)
    in_co = Call("qemu_in_coroutine", 9, 45)
    tree = ("||", "i32", ("||", "i32",
                          ("!", "i32", ("call", "b", "migrate_postcopy_preempt", 9, 10)),
                          ("!", "i32", ("call", "b", "qemu_in_coroutine", 9, 45))),
            ("field", "b", ("var", "p:M", "mis"), "M.dst", True))
    block = Block(events=[preempt, in_co], succs=[Edge(2, "c", "true"), Edge(3, "c", "false")],
                  cond=tree)
    assert decision(block, block.succs[1]) == (
        ("migrate_postcopy_preempt()", "!=", 0), ("qemu_in_coroutine()", "!=", 0),
        ("mis->dst", "==", 0),
        ("((!migrate_postcopy_preempt() || !qemu_in_coroutine()) || mis->dst)", "==", 0))


def test_which_flags_added_leave_a_decision_true():
    type_ = ("var", "i32", "type")
    bits = ("&", "i32", type_, ("int", "i32", 5))
    n = ("var", "i32", "n")
    assert or_keeps(("&&", "i32", bits, n), True) == {"type"}
    # type read otherwise than as a bit test, or the conjunction taken false: nothing kept
    assert or_keeps(("&&", "i32", bits, (">", "i32", type_, ("int", "i32", 3))), True) == set()
    assert or_keeps(("&", "i32", type_, ("-", "i32", type_, ("int", "i32", 1))), True) == set()
    assert or_keeps(("&&", "i32", bits, n), False) == set()
    assert or_keeps(("!", "i32", bits), True) == set()


def test_a_call_through_a_forwarded_parameter_is_an_edge_of_the_function_making_it():
    # bh -> foreach(cb) -> do_foreach(fn) -> fn(): cb's requirement is met in do_foreach's
    # call, not in foreach, which only passes the pointer on.
    cb = fn("cb", straight(call("qemu_laio_process_completions", 3, "s")))
    through = Call(name="fn", line=34, col=5, via="*fn", args=(Arg("s"),))
    do_foreach = fn("do_foreach", straight(through), params=("s", "fn"), line=30)
    foreach = fn("foreach", straight(call("do_foreach", 44, "s", "fn")), params=("s", "fn"),
                 line=40)
    bh = fn("bh", straight(call("foreach", 12, "opaque", "cb", funcs=("cb",))),
            params=("opaque",), line=10)
    init = fn("init", straight(call("aio_bh_new_full", 22, "ctx", "bh", "s", '"bh"', funcs=("bh",))),
              line=20)
    ctx = analyse([cb, do_foreach, foreach, bh, init])
    assert [(e.caller, e.kind, e.call.line) for e in ctx.graph.callers_of("cb")] == [
        ("do_foreach", "param", 34)]
    found = list(LockRequired().check(ctx))
    assert [(f.function, f.line, [(s.function, s.line) for s in f.trace]) for f in found] == [
        ("cb", 3, [("bh", 10), ("bh", 12), ("foreach", 44), ("do_foreach", 34), ("cb", 3)])]


def recursive_queue(name):
    """`name`(bs): begins a drained section when `new`, then calls itself for each child, as
    bdrv_reopen_queue_child() does: a count that depends on the recursion's depth."""
    return fn(name, [
        Block(succs=[Edge(2)]), Block(),
        Block(succs=[Edge(3, "new", "true", 2, ("new",)), Edge(4, "new", "false", 2, ("new",))]),
        Block(events=[call("bdrv_drained_begin", 3, "bs")], succs=[Edge(4)]),
        Block(succs=[Edge(5, "child", "true", 4, ("child",)), Edge(1, "child", "false", 4, ("child",))]),
        Block(events=[call(name, 5, "child")], succs=[Edge(4)])], params=("bs",))


def test_a_recursion_whose_effect_flips_between_rounds_settles_on_either():
    # Round 1 (the recursive call returns on no path yet): 0 or +1, taken as a conditional
    # wrapper's +1; round 2: 0 to +3 through that (its own instance and the callee's, each
    # counted up to 2), no single effect; round 3 would be round 1 again. It settles with
    # all of them: inconsistent, no effect for its callers.
    ctx = analyse([recursive_queue("queue_child")], declared=("bdrv_drained_begin",))
    locks = ctx.locks
    summary = locks.summary("queue_child")
    drained = lambda n: (("drained", n),)  # noqa: E731
    assert (summary.path_effects, summary.consistent, summary.effect) == (
        frozenset({(), drained(1), drained(2), drained(3)}), False, ())
    assert locks.unsettled == set()
    assert locks.analyze("queue_child").path_effects <= summary.path_effects


def test_entry_points_that_leave_a_section_open():
    bh = fn("bh", straight(call("bdrv_drained_begin", 12, "bs")), params=("opaque",), line=10)
    init = fn("init", straight(call("aio_bh_new_full", 22, "ctx", "bh", "s", '"bh"', funcs=("bh",))),
              line=20)
    hmp = fn("hmp_drain", straight(call("bdrv_drained_begin", 32, "bs")), params=("mon",), line=30)
    ctx = analyse([bh, init, hmp], declared=("bdrv_drained_begin",))
    assert [(f.function, f.line, f.message) for f in UnbalancedSection().check(ctx)] == [
        ("bh", 12, "bh() leaves the drained section of bs open on every path, but as a bh entry point "
                   "it has no caller to close it"),
        ("hmp_drain", 32, "hmp_drain() leaves the drained section of bs open on every path, but as an "
                          "entry point it has no caller to close it")]


def test_a_result_that_tells_whether_the_lock_was_taken_is_decided_where_it_is_tested():
    # take(): `if (!locked()) { lock; taken = 1 } return taken;` -- its summary says it
    # returns true where it took the BQL. user(): `t |= take(); ...; if (t) unlock;`.
    from qlint.facts.ir import Return
    from qlint.rules.section_rules import UnbalancedLock
    take = fn("take", [
        Block(succs=[Edge(2)]), Block(),
        Block(events=[Assign(("taken",), 2, 0), call("qemu_mutex_iothread_locked", 3)],
              succs=[Edge(3, "!qemu_mutex_iothread_locked()", "true", 3),
                     Edge(4, "!qemu_mutex_iothread_locked()", "false", 3)]),
        Block(events=[call("qemu_mutex_lock_iothread_impl", 4), Assign(("taken",), 5, 1)],
              succs=[Edge(4)]),
        Block(events=[Return(7, 5, None, "taken")], succs=[Edge(1)])], params=("mr",))
    user = fn("user", [
        Block(succs=[Edge(2)]), Block(),
        Block(events=[Assign(("t",), 12, 0), call("take", 13, "mr"),
                      Assign(("t",), 13, None, "take:13:5", accumulates=True)],
              succs=[Edge(3, "t", "true", 14, ("t",)), Edge(4, "t", "false", 14, ("t",))]),
        Block(events=[call("qemu_mutex_unlock_iothread", 15)], succs=[Edge(4)]),
        Block(succs=[Edge(1)])], params=("mr",), line=11)
    ctx = analyse([take, user], declared=("qemu_mutex_iothread_locked",))
    summary = ctx.locks.summary("take")
    assert summary.on_return == (((("BQL", 1),), ()), ((), ("BQL",)))
    assert ctx.locks.summary("user").path_effects == frozenset({()})
    assert list(UnbalancedLock().check(ctx)) == []
    # Without the test the lock may stay held: the two outcomes differ.
    user.blocks[2].succs = [Edge(4)]
    ctx = analyse([take, user], declared=("qemu_mutex_iothread_locked",))
    assert ctx.locks.summary("user").path_effects == frozenset({(), (("BQL", 1),)})


def test_edges_a_constant_part_rules_out():
    ctx = ("var", "p:AioContext", "ctx_")
    never = ("&&", "i32", ("int", "i32", 0), ctx)
    assert never_taken(never, True) and not never_taken(never, False)
    assert never_taken(("int", "i32", 1), False)            # `while (1)` has no exit edge
    assert not never_taken(("&&", "i32", ("int", "i32", 1), ctx), True)
    assert not never_taken(None, True)


def test_an_analysis_with_one_more_requirement_analyses_again_only_what_it_touches():
    # The check after observed contracts: frob() gains a [[requires]] entry. What asks for
    # frob's entries is analysed again; so are the callers of what now requires something
    # new (top_bare); the rest keeps the first analysis's summaries (top_held: held_user()
    # still requires nothing of its callers), and every summary is what a fresh analysis gives.
    frob = fn("frob", straight())
    held_user = fn("held_user", straight(call("aio_context_acquire", 3, "s->ctx"),
                                         call("frob", 4, "s"),
                                         call("aio_context_release", 5, "s->ctx")))
    bare_user = fn("bare_user", straight(call("frob", 13, "s")), line=10)
    top_held = fn("top_held", straight(call("held_user", 23, "s")), line=20)
    top_bare = fn("top_bare", straight(call("bare_user", 33, "s")), line=30)
    other = fn("other", straight(call("top_held", 43, "s")), line=40)
    ctx = analyse([frob, held_user, bare_user, top_held, top_bare, other],
                  declared=("aio_context_release",))
    before = ctx.locks
    first = dict(before.summaries)
    entry = Requirement(lock="AioContext", kind="requires", function="frob",
                        origin=Origin("/src/x.c", 1, "test"))
    pack = replace(ctx.pack, requirements=ctx.pack.requirements + [entry])
    again = LockAnalysis(ctx.program, ctx.graph, pack, before)
    fresh = LockAnalysis(ctx.program, ctx.graph, pack)
    assert sorted(k for k, s in again.summaries.items() if s is not first[k]) == [
        "bare_user", "held_user", "top_bare"]
    assert before.summaries == {}          # used up: taken or dropped
    assert {k: s.interface() for k, s in again.summaries.items()} == \
        {k: s.interface() for k, s in fresh.summaries.items()}
    assert [(w.caller, w.call.line, w.target) for w in again.summary("top_bare").requires[
        "AioContext"]] == [("top_bare", 33, "bare_user")]
    assert again.summary("top_held").requires == {}

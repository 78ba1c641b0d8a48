"""Inter-procedural lock analysis.

Each function gets a summary, computed bottom-up over the call graph's strongly connected
components (iterated to a fixpoint inside a component, so recursion is handled):

  requires[L]  calls in this function that need lock L and, on some path, run without this
               function having taken L: so L must be held by whoever calls this function.
               Each is a Witness: the call, and the callee whose requirement it inherits (or the
               pack's [[requires]] entry that names the callee: a terminal witness).
  excludes[L]  likewise for locks that must NOT be held ([[excludes]]).
  effect       what the function leaves changed for its caller on every path (a lock wrapper
               takes or drops a lock), applied at its call sites.
  local        definite violations inside the function: a lock this function released is
               required, or a lock it holds is excluded.

The lock state at a function's entry is unknown and never invented. Entry points (registered
callbacks, functions named by [[entry]]) start with the locks their kind holds; a requirement
that is not satisfied there is a finding, reported at the violating call with the chain of calls
from the entry point. A function with no known caller that is not an entry point (an exported
API) keeps its requirements: its callers are checked where they are known, and the unsatisfied
requirement is listed by `qlint graph requirements` and counted in the JSON stats.
"""
from __future__ import annotations

import fnmatch
import heapq
from collections import deque
from dataclasses import dataclass, field

from ..facts import conditions
from ..facts.accessors import accessors
from ..facts.ir import Call, call_ref
from ..pack.matcher import squash
from .params import condition_guard, contradicts, parameter_names
from .paths import (Explorer, State, add_pending, all_conditions, ambient_effect, begin,
                    calls_in, clear, correlated_conditions, decide, end, give_away,
                    guarded_cleanup, hand_over, held_where_equal, known_nonnull, loop_blocks,
                    net_effect, normalize_cond, outcomes, resolve, returned_locals, switch,
                    tested_variables)
from .scc import postorder, sccs
from .semantics import Semantics
from .sites import note


@dataclass(slots=True)
class Witness:
    caller: str          # the function whose body holds the call
    call: Call
    target: str          # the callee whose own requirement this inherits ("" if terminal)
    required: str        # the function named by the pack's requirement (terminal witnesses)
    lock: str
    guards: tuple = ()   # what the path assumed of the parameters (analysis/params.py)
    by_attribute: bool = False   # terminal: the requirement comes from the callee's attributes

    @property
    def terminal(self) -> bool:
        return not self.target

    def feasible_for(self, call: Call) -> bool:
        """False if `call` passes a constant that contradicts one of the guards, as
        `blk_do_set_aio_context(blk, ctx, false, ...)` does for `if (update_root_node)`, or
        names other functions than the one a call through that parameter reaches here."""
        for index, expected in self.guards:
            if index >= len(call.args):
                continue
            arg = call.args[index]
            if isinstance(expected, tuple):
                continue             # a field's value: no constant argument says it
            if isinstance(expected, str):
                if arg.funcs and expected not in arg.funcs:
                    return False
                continue
            value = constant(arg.text)
            if value is not None and bool(value) != expected:
                return False
        return True


def constant(text: str):
    try:
        return int(text, 0)
    except ValueError:
        return {"true": 1, "false": 0, "NULL": 0}.get(text)


@dataclass(slots=True)
class Local:
    """A definite violation inside one function."""
    kind: str            # "released" (required lock released here) | "held" (excluded lock held)
    witness: Witness


@dataclass
class Summary:
    requires: dict = field(default_factory=dict)     # lock -> [Witness]
    excludes: dict = field(default_factory=dict)
    effect: tuple = ()
    ambient: tuple = ()                              # locks held by context after it returns
    consistent: bool = True
    local: list = field(default_factory=list)
    exits: list = field(default_factory=list)        # [(node, State)] of the explored paths
    path_effects: frozenset = frozenset()            # net effects of its paths, every round
    explorer: Explorer | None = None
    problems: list = field(default_factory=list)     # (kind, node, call, section) for section rules
    handoffs: list = field(default_factory=list)     # (node, call, State before, callbacks)
    held_at: dict = field(default_factory=dict)      # id(call) -> sites.note's record
    begins: set = field(default_factory=set)         # sections some path begins here
    on_return: tuple = ()    # (effect if it returns true, effect if false): what its result
                             # tells (a lock taken only when not held, and `return taken;`)
    actions: frozenset = frozenset()   # (parameter index, driver): actions it adds to the
                                       # transaction its caller passes there

    def changes(self):
        """(section, delta) a call of the function may make: its effect, and the effects its
        result tells."""
        yield from self.effect
        for side in self.on_return:
            yield from side[0]

    def interface(self) -> tuple:
        """What its callers' analyses read of it (LockAnalysis._needs, _callee_effects,
        _actions): the locks it requires or excludes under which guards, its effects, what its
        result tells, the actions it adds, in the order callers meet them. Two summaries with
        one interface give its callers the same summaries."""
        guarded = lambda table: tuple((lock, frozenset(w.guards for w in witnesses))  # noqa: E731
                                      for lock, witnesses in table.items())
        return (guarded(self.requires), guarded(self.excludes), self.effect, self.ambient,
                self.on_return, self.actions)

    def signature(self):
        return ({k: tuple(sorted(((id(w.call), w.target, w.guards) for w in v), key=repr))
                 for k, v in self.requires.items()},
                {k: tuple(sorted(((id(w.call), w.target, w.guards) for w in v), key=repr))
                 for k, v in self.excludes.items()},
                self.effect, self.ambient, self.consistent, self.on_return, self.actions)


@dataclass(slots=True)
class EntryPoint:
    func: str
    kind: str                 # entry kind, or "entry" for roots named by [[entry]] functions
    holds: tuple
    registration: object = None   # graph.Registration, or the pack Entry for named roots
    maybe: tuple = ()             # locks it may or may not hold (nothing is said of them)


class LockAnalysis:
    def __init__(self, program, graph, pack, before: LockAnalysis | None = None):
        """`before`: an analysis of the same program and call graph with a pack that differs
        in its requirements by name at most (inferred contracts added): the summaries of the
        functions that did not ask for a changed requirement, and whose callees kept what
        callers read of them (Summary.interface), are taken from it, as analysing them again
        would give them. `before` is used up: its summaries are taken or dropped component by
        component, so the two analyses are never held whole at once."""
        self.program = program
        self.graph = graph
        self.pack = pack
        self.sem = Semantics(pack, program)
        self.assumptions = pack.assumptions()
        self.deferred = {r.func for r in graph.registrations if r.deferral}
        self.summaries: dict[str, Summary] = {}
        self._reads: dict[str, set] = {}     # the requirement names each analysis asked for
        self._same: set[str] = set()        # functions whose interface is before's
        self._before = before if before is not None and before.graph is graph and \
            before.assumptions == self.assumptions else None
        if self._before is not None:          # what does not depend on the pack
            self.inline = before.inline
            self._calls, self._tested = before._calls, before._tested
        else:
            self.inline = accessors(program.functions)
            self._calls, self._tested = {}, {}
        self._looped: dict[str, set] = {}
        self.truncated: list[str] = []
        self.unsettled: set[str] = set()
        self._unanalysed: set[str] = set()
        self._callees: dict[str, list[str]] = {}
        self._entry_points: list | None = None
        self._parameter_names: dict[str, dict] = {}
        self._driver_funcs: dict[str, list[str]] = {}
        for stores in program.field_funcs.values():
            for store in stores:
                if store.func in program.functions:
                    self._driver_funcs.setdefault(store.where, []).append(store.func)
        self._run()

    # ---- driver -------------------------------------------------------------------------

    def _run(self) -> None:
        self._callees = call_successors(self.program, self.graph)
        self._dependents: dict[str, set] = {}
        for key, needed in self._action_dependencies().items():
            self._callees[key] = sorted(set(self._callees[key]) | needed)
            for callback in needed:
                self._dependents.setdefault(callback, set()).add(key)
        reusable = self._reusable()
        for scc in sccs(sorted(self.program.functions), self._callees.__getitem__):
            if reusable is not None and self._reuse(scc, reusable):
                continue
            if len(scc) == 1 and not self._calls_itself(scc[0]):
                self.summaries[scc[0]] = self.analyze(scc[0])   # callees are final: one pass
            else:
                self._fixpoint(scc)
            if reusable is not None:
                self._same.update(key for key in scc if key in self._before.summaries and
                                  self.summaries[key].interface() ==
                                  self._before.summaries[key].interface())
                for key in scc:
                    self._before.summaries.pop(key, None)
        self._before = None
        self.truncated = sorted(k for k, s in self.summaries.items()
                                if s.explorer is not None and s.explorer.truncated)

    def _reusable(self) -> set[str] | None:
        """The functions `before` analysed whose summaries no changed requirement touches
        (None: nothing is reused). A summary reads the pack's requirements only by name
        (Semantics.pack_requirements), and its callees' summaries."""
        before = self._before
        if before is None:
            return None
        changed = before.sem.changed_requirements(self.sem)
        if changed is None:
            return None
        return {key for key in before.summaries if not before._reads.get(key, set()) & changed}

    def _reuse(self, scc: list[str], reusable: set[str]) -> bool:
        """Take the component's summaries from `before` if none of its members asked for a
        changed requirement and every callee outside it kept its interface."""
        before = self._before
        if not all(key in reusable for key in scc):
            return False
        members = set(scc)
        if any(c not in self._same for key in scc for c in self._callees[key]
               if c not in members):
            return False
        for key in scc:
            self.summaries[key] = before.summaries.pop(key)
            self._same.add(key)
            self._reads[key] = before._reads.get(key, set())
            if key in before.unsettled:
                self.unsettled.add(key)
        return True

    def _fixpoint(self, scc: list[str], rounds: int = 8) -> None:
        """Summaries of a recursive component, in rounds over its members in depth-first
        postorder (callees first): a member is analysed again when a callee's summary changed,
        later in the same round if it comes after that callee, else in the next round. A member
        starts as returning on no path (_unreturned). A member whose effect comes back to one
        it had before, but not last round, oscillates (a drained section begun in a recursion
        and ended by a transaction's callbacks): from then on its paths' effects accumulate,
        so it can settle, on "either". `rounds` re-analyses per member, on average, bound the
        work; a member left waiting when they are spent is unsettled (stats)."""
        order = postorder(scc, self._callees.__getitem__)
        rank = {key: i for i, key in enumerate(order)}
        self._unanalysed = set(scc)
        budget = rounds * len(scc)               # analyses after the first of each member
        this_round, next_round = list(range(len(order))), []   # heaps of ranks
        queued = set(scc)
        had: dict[str, set] = {key: set() for key in scc}    # effects each member has had
        widened: set[str] = set()
        while this_round or next_round:
            if not this_round:
                this_round, next_round = next_round, []
            key = order[heapq.heappop(this_round)]
            queued.discard(key)
            previous = self.summaries.get(key)
            if previous is not None:
                if budget == 0:
                    self.unsettled.add(key)
                    continue
                budget -= 1
            summary = self.summaries[key] = self.analyze(key)
            self._unanalysed.discard(key)
            if previous is not None and (key in widened or _returns_to(summary, previous,
                                                                      had[key])):
                widened.add(key)
                _set_effects(summary, summary.path_effects | previous.path_effects)
            had[key].add((summary.effect, summary.consistent))
            if previous is not None and summary.signature() == previous.signature():
                continue
            waiting = [e.caller for e in self.graph.callers_of(key)]
            for caller in waiting + sorted(self._dependents.get(key, ())):
                if caller in rank and caller not in queued:
                    # Later in the order: still this round; earlier: the next one.
                    heapq.heappush(this_round if rank[caller] > rank[key] else next_round,
                                   rank[caller])
                    queued.add(caller)

    def _unreturned(self, call: Call) -> bool:
        """Whether every function the call reaches is a member of the recursive component
        being analysed that has no summary yet. Paths through such a call end for this round,
        as the least fixpoint starts from "returns on no path" and adds paths: assuming "no
        effect" instead gives the caller effects the callee may not have, and rounds to undo
        them. (A call that runs a transaction runs its actions, not its body.)"""
        if self._runs_transaction(call):
            return False
        targets = self.graph.callees(call)
        return bool(targets) and all(t in self._unanalysed for t in targets)

    def sections_in_loops(self, fn) -> set[str]:
        """Sections the function begins or ends inside a loop, itself or by a call whose
        callees change them (`goto restart` after `tb_unlock_page1()`): once per function,
        after the summaries are final."""
        found = self._looped.get(fn.key)
        if found is None:
            found = set()
            for b in loop_blocks(fn):
                for event in fn.blocks[b].events:
                    if isinstance(event, Call):
                        found |= self._sections_changed(event)
            self._looped[fn.key] = found
        return found

    def _sections_changed(self, call: Call) -> set[str]:
        found = {op.section for op in self.sem.section_ops(call) if op.counts}
        for target in self.graph.callees(call):
            found.update(section for section, _delta in self.summary(target).changes())
        return found

    def tested(self, fn) -> frozenset:
        tested = self._tested.get(fn.key)
        if tested is None:
            tested = self._tested[fn.key] = tested_variables(fn)
        return tested

    def _calls_itself(self, key: str) -> bool:
        return any(e.callee == key for e in self.graph.edges_from.get(key, ()))

    def calls(self, fn) -> tuple:
        """The reachable calls of a function, computed once per run."""
        calls = self._calls.get(fn.key)
        if calls is None:
            calls = self._calls[fn.key] = calls_in(fn)
        return calls

    def summary(self, key: str) -> Summary:
        return self.summaries.get(key) or Summary()

    def analyze(self, key: str) -> Summary:
        """The summary of one function from its callees' current summaries."""
        self.sem.looked_up = self._reads.setdefault(key, set())
        try:
            return self._analyze(key)
        finally:
            self.sem.looked_up = None

    def _analyze(self, key: str) -> Summary:
        fn = self.program.functions[key]
        summary = Summary()
        seen: set = set()
        added, summary.actions = self._actions(fn)
        generic = self.sem.runs_actions(fn.name)
        needs = {id(call): () if generic else self._needs(fn, call, added)
                 for _b, _i, call in self.calls(fn)}
        effects = {id(call): self._callee_effects(call) for _b, _i, call in self.calls(fn)}
        unreturned = {id(call) for _b, _i, call in self.calls(fn) if self._unreturned(call)}
        stops = {id(call) for _b, _i, call in self.calls(fn) if self.sem.noreturn(call)}

        def step(state, event, node):
            if isinstance(event, Call):
                if id(event) in unreturned:
                    return None
                need, effect = needs[id(event)], effects[id(event)]
                guard = guarded_cleanup(state, event)
                if guard:
                    # A guard's cleanup runs for a non-NULL guard only (g_autoptr): where the
                    # pending result it holds is false, it does nothing.
                    return [self.apply_call(fn, resolve(state, guard, True), event, node,
                                            summary, seen, need, effect),
                            resolve(state, guard, False)]
                forked = decide(state, self._concerns(event, need, effect)) \
                    if state.pending else None
                if forked and need and not decide(state, self._concerns(event, (), effect)):
                    # Only what the call needs concerns the pending result: it is checked on
                    # both decisions, and the path goes on undecided, for the branch that
                    # tests the result (`release_lock |= prepare_mmio_access(mr); ...
                    # dispatch(mr); if (release_lock) unlock`).
                    for st in forked:
                        self.apply_call(fn, st, event, node, summary, seen, need, effect)
                    after = self.apply_call(fn, state, event, -1, summary, seen, (), effect)
                    return None if id(event) in stops else after
                if forked:
                    return [self.apply_call(fn, st, event, node, summary, seen, need, effect)
                            for st in forked]
                after = self.apply_call(fn, state, event, node, summary, seen, need, effect)
                return None if id(event) in stops else after
            return state

        contract = self.sem.contract_holds(fn.name, self.program.attrs(key))
        if contract or self._needs_paths(fn):
            tracked = correlated_conditions(fn, self.inline) | (self.tested(fn) & set(fn.params)) | \
                self._exemption_conditions(fn) | returned_locals(fn)
            if key in self.deferred or any(self.sem.deferral(c) for _b, _i, c in self.calls(fn)):
                # Handoffs compare the deferring path's conditions with the callback's paths.
                tracked |= all_conditions(fn)
            explorer = Explorer(fn, step, tracked, assumptions=self.assumptions,
                                inline=self.inline)
            summary.exits = [(node, o) for node, st in explorer.run(State(ambient=contract))
                             for o in outcomes(st)]
            explorer.step = None      # its closure holds the summary: no cycle to collect
            summary.explorer = explorer
            _set_effects(summary, {net_effect(st) for _n, st in summary.exits})
            summary.on_return = _on_return(summary.exits, contract)
            # What the contract let it assume at entry is its callers' to provide, not an
            # effect of calling it.
            summary.ambient = tuple(a for a in ambient_effect(summary.exits) if a not in contract)
        else:
            empty = State()
            for _b, _i, call in self.calls(fn):
                step(empty, call, -1)
        return summary

    # ---- transactions ([[transaction]]) ------------------------------------------------------

    def _runs_transaction(self, call: Call) -> bool:
        op = self.sem.transaction(call)
        return op is not None and op[0] == "run"

    def _action_dependencies(self) -> dict[str, set]:
        """Functions that add an action to a transaction depend on the action's callbacks
        (what they end is handed over at the add): analysed after them, like callees."""
        out: dict[str, set] = {}
        if not self.pack.transactions:
            return out
        for key, fn in self.program.functions.items():
            for _b, _i, call in self.calls(fn):
                op = self.sem.transaction(call)
                if op is not None and op[0] == "add" and op[1].driver_arg < len(call.args):
                    funcs = self._action_functions([call.args[op[1].driver_arg].key])
                    out.setdefault(key, set()).update(funcs)
        return out

    def _actions(self, fn) -> tuple[set, frozenset]:
        """The drivers of the actions `fn` adds to transactions, itself or through its callees
        (what its own runs of a transaction may run), and those it adds to a transaction its
        caller passes: (parameter index, driver)."""
        added, passed = set(), set()
        for _b, _i, call in self.calls(fn):
            found = [(index, driver) for t in self.graph.callees(call)
                     for index, driver in self.summary(t).actions]
            op = self.sem.transaction(call)
            if op is not None and op[0] == "add" and op[1].driver_arg < len(call.args):
                found.append((op[1].transaction_arg, call.args[op[1].driver_arg].key))
            for index, driver in found:
                if not driver:
                    continue
                added.add(driver)
                if index < len(call.args) and call.args[index].text in fn.params:
                    passed.add((fn.params.index(call.args[index].text), driver))
        return added, frozenset(passed)

    def _action_functions(self, drivers) -> list[str]:
        """The callbacks of these drivers (commit, abort, clean: every field of the struct)."""
        return sorted({f for d in drivers for f in self._driver_funcs.get(d, ())})

    def _hand_to_transaction(self, state: State, call: Call, transaction) -> State:
        """An action added to a transaction whose callbacks end a section takes over one open
        instance of it (`bdrv_drained_begin(bs); tran_add(tran, &set_aio_context, state)`,
        ended by the action's clean callback when the transaction runs)."""
        if transaction.driver_arg >= len(call.args):
            return state
        funcs = self._action_functions([call.args[transaction.driver_arg].key])
        ended = {section for f in funcs for section, delta in self.summary(f).effect
                 if delta < 0}
        for section in sorted(ended & state.open_sections()):
            state = give_away(state, section)
        return state

    def _needs_paths(self, fn) -> bool:
        if fn.key in self.deferred:
            return True
        if self.tested(fn) & set(fn.params) and any(
                self._has_requirement(call) for _b, _i, call in self.calls(fn)):
            return True
        if self.assumptions and _assumed(self.assumptions, fn):
            return True
        sem = self.sem
        for _b, _i, call in self.calls(fn):
            if sem.section_ops(call) or sem.deferral(call):
                return True
            if any(self.summary(t).effect or self.summary(t).ambient or self.summary(t).on_return
                   for t in self.graph.callees(call)):
                return True
        return False

    def _exemption_conditions(self, fn) -> set[str]:
        """Branch conditions of `fn` that an [[across-deferral]] `unless` names: kept on the
        path so the deferral check can see them."""
        patterns = [p for a in self.pack.across_deferral for p in a.patterns()]
        if not patterns:
            return set()
        out = set()
        for block in fn.blocks:
            for edge in block.succs:
                if edge.cond:
                    base = normalize_cond(edge.cond)[0]
                    if any(fnmatch.fnmatchcase("".join(base.split()), p) for p in patterns):
                        out.add(base)
        return out

    def _has_requirement(self, call: Call) -> bool:
        if any(self.sem.call_requirements(call, self.graph.callees(call), k)
               for k in ("requires", "excludes")):
            return True
        if any(self.sem.attribute_requirements(attrs, k)
               for _n, attrs, _t in self._declared_attrs(call, self.graph.callees(call))
               for k in ("requires", "excludes")):
            return True
        return any(self.summary(t).requires or self.summary(t).excludes
                   for t in self.graph.callees(call))

    # ---- one call -----------------------------------------------------------------------

    def apply_call(self, fn, state: State, call: Call, node: int, summary: Summary, seen: set,
                   needs: tuple, effects: tuple):
        if node >= 0:
            note(summary.held_at, call, state)
        for kind, target, required, lock, by_attr, forwarded in needs:
            self._need(fn, state, call, target, required, lock, summary, seen, kind, by_attr,
                       forwarded)
        ops = self.sem.section_ops(call)
        if effects and any(op.op == "switch" for op in ops) and \
                any(delta > 0 for _section, delta in effects[1]):
            # A callee that asserts a lock but really takes one (GRAPH_RDLOCK_GUARD_MAINLOOP's
            # TSA_ASSERT_SHARED, QEMU 8.0's GRAPH_RDLOCK_GUARD's TSA_ASSERT: TSA cannot see the
            # cleanup that releases it): its body is the truth, what it asserts is not, and
            # the release at scope exit pairs with what it took.
            ops = tuple(op for op in ops if op.op != "switch")
        for op in ops:
            if op.op == "switch":
                state = switch(state, op.section)
                continue
            if op.op == "clear":
                state = clear(state, op.section, call.line)
                continue
            if op.op == "try":
                taken = ((op.section, op.ident, 1, False),)
                state = add_pending(state, call_ref(call), taken if op.success else (),
                                    () if op.success else taken, call.line)
                continue
            if op.arg:
                state = known_nonnull(state, op.arg)
            if op.op == "begin":
                summary.begins.add(op.section)
                state = begin(state, op.section, op.ident, call.line, call.result)
            else:
                first = state.ended_at(op.section)
                state, problem = end(state, op.section, op.ident, call.line, op.handle,
                                     op.handle_only, self.sem.kinds.get(op.section) == "lock",
                                     self.sem.exclusive(op.section))
                if problem == "double":
                    summary.problems.append(("double", node, call, op.section, first))
        transaction = self.sem.transaction(call)
        if transaction is not None and transaction[0] == "add":
            state = self._hand_to_transaction(state, call, transaction[1])
        deferral = self.sem.deferral(call)
        if deferral is not None:
            callbacks = tuple(f for a in call.args[deferral.callback_arg:deferral.callback_arg + 1]
                              for f in a.funcs)
            summary.handoffs.append((node, call, state, callbacks))
            state = hand_over(state, state.open_sections(), call.line, callbacks)
        if not ops and effects:
            state = self._apply_effects(state, call, effects)
        return state

    def _concerns(self, call: Call, needs: tuple, effects: tuple) -> set[str]:
        """The sections a call begins, ends, needs or changes: a pending result that would
        change one of them must be decided first."""
        found = {op.section for op in self.sem.section_ops(call)}
        found.update(need[3] for need in needs)
        if effects:
            ambient, effect, told = effects
            found.update(ambient)
            if not told:       # a result that tells is pending too: decided with the others
                found.update(section for section, _delta in effect)
        return found

    def told(self, targets) -> tuple:
        """(effects if the call returns true, if false), when its callees agree that their
        result tells what they did (`release_lock |= prepare_mmio_access(mr)`)."""
        told = {self.summary(t).on_return for t in targets}
        if len(told) != 1 or not next(iter(told)):
            return ()
        kinds = self.sem.kinds
        return tuple(tuple((section, "", delta, kinds.get(section) == "lock")
                           for section, delta in effect) +
                     tuple((section, "", 0, False) for section in ambient)
                     for effect, ambient in told.pop())

    def _callee_effects(self, call: Call) -> tuple:
        """(ambient locks, effect, what the result tells) the call's callees all agree on;
        () if nothing (or if it runs a transaction: its actions' sections were handed over)."""
        targets = self.graph.callees(call)
        if not targets or self._runs_transaction(call):
            return ()
        ambient = tuple(sorted(set.intersection(*(set(self.summary(t).ambient) for t in targets))))
        effects = {self.summary(t).effect for t in targets}
        effect = effects.pop() if len(effects) == 1 else ()     # callees disagree: nothing
        told = self.told(targets)
        return (ambient, effect, told) if ambient or effect or told else ()

    def _apply_effects(self, state: State, call: Call, effects: tuple) -> State:
        ambient, effect, told = effects
        for section in ambient:
            state = switch(state, section)
        if told:
            # Decided where a branch tests the result; a caller that ignores it may hold
            # the lock or not (paths.outcomes).
            return add_pending(state, call_ref(call), *told, call.line)
        for section, delta in effect:
            for _ in range(abs(delta)):
                if delta > 0:
                    state = begin(state, section, "", call.line)
                else:
                    state, _problem = end(state, section, "", call.line,
                                          fallback=self.sem.kinds.get(section) == "lock",
                                          exclusive=self.sem.exclusive(section))
        return state

    def _needs(self, fn, call: Call, added=()) -> tuple:
        """(kind, target, required, lock) of every requirement the call meets: the pack's on
        what it calls (a function, or "Record.field" for calls through that field), and those
        its callees' summaries inherit, for the witnesses this call's constant arguments do
        not rule out. A call that runs a transaction reaches the callbacks of the actions
        `added` to transactions in this function. Callee summaries are final here, except
        inside a recursive component, whose functions are analysed again until nothing
        changes."""
        if self._runs_transaction(call):
            targets = self._action_functions(added)
            # The actions' callbacks need not be its callees: when one changes later in a
            # recursive component, this function is analysed again (_fixpoint).
            for callback in targets:
                self._dependents.setdefault(callback, set()).add(fn.key)
        else:
            targets = self.graph.callees(call)
        out = [(kind, "", name, r.lock, False, ()) for kind in ("requires", "excludes")
               for name, r in self.sem.call_requirements(call, targets, kind)]
        through = _through_parameter(fn, call)
        for name, attrs, target in self._declared_attrs(call, targets):
            provided = self.graph.provided(call, target) if target else ()
            for kind in ("requires", "excludes"):
                out += [(kind, "", name, r.lock, True, through(target))
                        for r in self.sem.attribute_requirements(attrs, kind)
                        if not (kind == "requires" and r.lock in provided)]
        for t in targets:
            if self.sem.is_boundary(self.program.name_of(t)):
                continue                  # [[boundary]]: what it reaches is not this call's
            callee = self.summary(t)
            provided = self.graph.provided(call, t)
            for kind, table in (("requires", callee.requires), ("excludes", callee.excludes)):
                for lock, witnesses in table.items():
                    if kind == "requires" and lock in provided:
                        continue
                    for guards in _forwarded(self.parameter_names(fn), call,
                                             [w for w in witnesses
                                                         if w.feasible_for(call)]):
                        out.append((kind, t, "", lock, False,
                                    _guard_set(set(guards) | set(through(t)))))
        return tuple(dict.fromkeys(out))

    def _declared_attrs(self, call: Call, targets) -> list:
        """(name, attributes, function key or "") of what the call reaches: the field it calls
        through (`GRAPH_RDLOCK_PTR`), the declared callee, the functions it may reach."""
        out = []
        if field_attrs := (self.program.field_attrs.get(call.via) if call.via else None):
            out.append((call.via, field_attrs, ""))
        if call.callee and not targets:
            out.append((call.name, self.sem.caller_attrs(call.callee), ""))
        elif call.via.startswith("*") and call.name != call.via[1:] and not targets:
            # a pointer loaded from a function defined elsewhere: its declaration's attributes
            out.append((call.name, self.sem.caller_attrs(call.name), ""))
        out += [(self.program.name_of(t), self.sem.caller_attrs(t), t) for t in targets]
        out += [(self.program.name_of(f), self.sem.caller_attrs(f), "")
                for f in self.graph.callees_outside(call)]
        return [(n, a, t) for n, a, t in out if a]

    def _need(self, fn, state, call, target, required, lock, summary, seen, kind,
              by_attr=False, forwarded=()) -> None:
        held = state.holds(lock)
        if kind == "requires":
            if held or lock in self.sem.contract_accepts(fn.name, self.program.attrs(fn.key)):
                return
            local = state.is_below(lock)
        else:
            if lock in state.denied:
                return          # a caller holding it tested it and does not come this way
            if not held and state.is_below(lock) and self.sem.exclusive(lock):
                return          # this path released it: what its caller holds is not held here
            local = held
        names = self.parameter_names(fn)
        guards = () if local else _guard_set(
            {g for d in state.conds if (g := condition_guard(names, d.cond, d.value))} |
            set(forwarded))
        ident = (kind, id(call), target, lock, local, guards)
        if ident in seen:
            return
        seen.add(ident)
        witness = Witness(fn.key, call, target, required, lock, guards, by_attr)
        if local:
            summary.local.append(Local("released" if kind == "requires" else "held", witness))
        elif kind == "requires" or not held:
            table = summary.requires if kind == "requires" else summary.excludes
            table.setdefault(lock, []).append(witness)

    # ---- entry points -----------------------------------------------------------------------

    def entry_points(self) -> list[EntryPoint]:
        if self._entry_points is None:
            self._entry_points = self._find_entry_points()
        return self._entry_points

    def _find_entry_points(self) -> list[EntryPoint]:
        out = []
        for reg in self.graph.registrations:
            out.append(EntryPoint(reg.func, reg.kind, self.pack.entry_holds(reg.kind), reg,
                                  self.pack.entry_maybe(reg.kind)))
        named = [e for e in self.pack.entries if e.functions]
        for key, fn in sorted(self.program.functions.items()):
            matches = [e for e in named if e.names(fn.name, self.program.attrs(key))]
            if matches:
                # Every matching [[entry]] applies: a coroutine QMP command is a QMP command too.
                holds = tuple(sorted({h for e in matches for h in e.holds}))
                maybe = tuple(sorted({h for e in matches for h in e.maybe} - set(holds)))
                most_specific = max(matches, key=lambda e: len(e.attrs))
                out.append(EntryPoint(key, "entry", holds, most_specific, maybe))
        return out

    def chains(self, start: str, lock: str, kind: str = "requires", via: Witness | None = None,
               assumed: tuple = ()):
        """Shortest witness chains from `start` to each terminal witness, breadth first; with
        `via` (the witness whose call enters `start`), only those its call can take: a call
        that passes `false` does not reach what `start` does under that parameter. `assumed`:
        guards known of `start`'s parameters where nothing calls it (an entry point's)."""
        table = "requires" if kind == "requires" else "excludes"
        best: dict[tuple, list] = {}
        queue = deque([(start, [])])
        visited = {start}
        while queue:
            key, chain = queue.popleft()
            for w in getattr(self.summary(key), table).get(lock, ()):
                before = chain[-1] if chain else via
                if before is not None and not self.follows(before, w) or \
                        not chain and not allows(assumed, w.guards):
                    continue
                path = chain + [w]
                if w.terminal:
                    best.setdefault((w.caller, id(w.call), w.required), path)
                elif w.target not in visited:
                    visited.add(w.target)
                    queue.append((w.target, path))
        return list(best.values())

    def follows(self, prev: Witness, w: Witness) -> bool:
        """Whether the callee's witness `w` can be on the path `prev` stands for: the call's
        constants allow its guards, and so do prev's guards on the parameters it forwards."""
        if not w.guards:
            return True
        if not w.feasible_for(prev.call):
            return False
        if not prev.guards:
            return True
        names = self.parameter_names(self.program.functions[prev.caller])
        forwarded = _forwarded(names, prev.call, [w])[0]
        return allows(prev.guards, forwarded)

    def parameter_names(self, fn) -> dict[str, int]:
        names = self._parameter_names.get(fn.key)
        if names is None:
            names = self._parameter_names[fn.key] = parameter_names(fn)
        return names

    def stored_only(self, key: str) -> list[tuple[str, str, int, bool]]:
        """(field, file, line, called through) of the struct fields `key` is stored into:
        why a function nothing calls may still run (a device's callback the core invokes, in
        files not analysed, when no analysed code calls through the field)."""
        stores = sorted({(s.field, s.file, s.line) for stores in self.program.field_funcs.values()
                         for s in stores if s.func == key})
        if not stores:
            return []
        called = {call.via for fn in self.program.functions.values()
                  for _b, _i, call in self.calls(fn) if call.via}
        return [(field, file, line, field in called) for field, file, line in stores]

    def unknown_callers(self) -> list[tuple[str, str]]:
        """(function, lock) requirements that stay unsatisfied at a function nobody is known to
        call and that is no entry point: the model's open ends (exported APIs)."""
        entries = {e.func for e in self.entry_points()}
        out = []
        for key, s in sorted(self.summaries.items()):
            if key in entries or self.graph.callers_of(key):
                continue
            for lock in sorted(s.requires):
                out.append((key, lock))
        return out


def _guard_set(guards) -> tuple:
    """Guards in a stable order (their values are truths or function keys)."""
    return tuple(sorted(guards, key=lambda g: (g[0], repr(g[1]))))


def _through_parameter(fn, call: Call):
    """For a call through one of `fn`'s parameters (`writefunc(...)`), a guard per function it
    may reach: a caller that passes another function there does not inherit what this one
    needs (context sensitivity for callbacks passed as arguments)."""
    var = call.via[1:] if call.via.startswith("*") else ""
    if not var or var not in fn.params:
        return lambda target: ()
    index = fn.params.index(var)
    return lambda target: ((index, target),) if target else ()


def _forwarded(names: dict[str, int], call: Call, witnesses) -> list[tuple]:
    """The callee's guards on parameters this call passes its own parameters to (`names`,
    analysis/params.py), as guards on those: `blk_dev_change_media_cb(blk, load)` forwards
    fd_change_cb's `if (!load)`. One guard set per distinct way; a witness with none makes the
    requirement unconditional."""
    found = set()
    for w in witnesses:
        found.add(_guard_set({(names[call.args[i].text], truth) for i, truth in w.guards
                              if i < len(call.args) and call.args[i].text in names}))
    return [()] if () in found else sorted(found, key=repr)


def allows(known, guards) -> bool:
    """Whether guards on a function's parameters are consistent with what is known of them."""
    return not any(i == j and contradicts(a, b) for i, a in known for j, b in guards)


def _on_return(exits, contract=()) -> tuple:
    """((effect, locks held by context) where it returns true, the same where false), if every
    path's return value is known and tells what it did: both values occur, each with one
    effect, and they differ. Held by context: a lock taken only when not held did not take it
    where it was held already."""
    effects: dict[bool, set] = {}
    ambient: dict[bool, set] = {}
    for _node, st in exits:
        if not st.ret or st.ret[0] != "truth":
            return ()
        truth = st.ret[1]
        effects.setdefault(truth, set()).add(net_effect(st))
        held = set(st.ambient) - set(contract)
        ambient[truth] = ambient[truth] & held if truth in ambient else held
    if set(effects) != {True, False} or any(len(e) != 1 for e in effects.values()):
        return ()
    told = tuple((next(iter(effects[t])), tuple(sorted(ambient[t]))) for t in (True, False))
    return told if told[0] != told[1] else ()


def _returns_to(summary: Summary, previous: Summary, had: set) -> bool:
    now = (summary.effect, summary.consistent)
    return now != (previous.effect, previous.consistent) and now in had


def _set_effects(summary: Summary, effects: set) -> None:
    summary.path_effects = frozenset(effects)
    summary.consistent = len(effects) <= 1
    summary.effect = next(iter(effects)) if len(effects) == 1 else _conditional(effects)


def _conditional(effects: set) -> tuple:
    """A wrapper that opens or closes only under a condition (`if (s->ctx) acquire`): its
    effect is the non-empty one, as callers pair it with the matching conditional wrapper."""
    nonempty = [e for e in effects if e]
    return nonempty[0] if len(nonempty) == 1 and () in effects else ()


def call_successors(program, graph) -> dict[str, list[str]]:
    """Each function's callees in the synchronous call graph, sorted."""
    return {k: sorted({e.callee for e in graph.edges_from.get(k, ()) if e.callee in program.functions})
            for k in program.functions}


def strongly_connected(program, graph) -> list[list[str]]:
    """SCCs of the synchronous call graph, callees before callers."""
    return sccs(sorted(program.functions), call_successors(program, graph).__getitem__)


def _assumed(assumptions, fn) -> bool:
    """Whether a branch of `fn` decides an [[assume]]d condition, itself or as a part of a
    conjunction or disjunction (`!migrate_postcopy_preempt() || !qemu_in_coroutine()`)."""
    calls = conditions.calls_of(fn.blocks)
    return any(squash(k) in assumptions or held_where_equal(assumptions, k, relation == "!=")
               for b in fn.blocks for e in b.succs if e.cond
               for k, relation, _constant in conditions.decision(b, e, calls=calls) or ())
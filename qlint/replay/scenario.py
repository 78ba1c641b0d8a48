"""From a finding and the current code to a scenario (a World): its actors and threads
(actors.py), where the state comes from, what the replay follows first (the finding's branch
decisions, the calls on its path), and what the machine asks while it runs: the value of a
field nobody set, which edge a branch takes, which reads a short-circuit operator skips.

  threads    lock findings (QL101-QL103): the node is in an IOThread's context: thread
             "iothread" runs iothread_run(); thread "main" does what the era's main thread does
             to that context (2.x: polls it inside bdrv_drain() holding its lock) and calls the
             module's functions as main-loop code does (holding the node's context lock), then
             runs the main loop. Section findings (QL201-QL203): the node is in the main
             context; "main" runs the main loop; a guest vCPU kicks a virtio host notifier
             (QL202) or has a request in flight (QL203). A thread's start routine
             (qemu_thread_create) gets a thread of its own.
  state      what the setup (the functions registering the actors) stores; a field nobody set
             is nondeterministic within its type (World.initial_value).
"""
from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field, replace
from functools import lru_cache

from ..analysis.semantics import Semantics
from ..facts import ctype
from ..facts.ir import ENTRY, Access, Call
from ..report.model import relative
from .actors import (IOTHREAD_CTX, Actors, aim, lock_threads, reachable, section_threads,
                     writes)
from .engine import Engine
from .machine import Frame, Machine, Thread, facts_after
from .model import load_model
from .values import UNKNOWN, truth

LOCK_RULES = ("QL101", "QL102", "QL103")
SECTION_RULES = ("QL201", "QL202", "QL203")
NOT_MODELLED = {
    "QL301": "QL301 (a coroutine_fn called outside coroutine context) is not modelled: the "
             "engine does not model what a coroutine_fn relies on its coroutine for",
    "QL302": "QL302 (a no_coroutine_fn called in coroutine context) is not modelled: the engine "
             "does not model what a no_coroutine_fn's blocking wait would wait for",
    "QL303": "QL303 (the graph lock) is not modelled: the engine has no block graph and no "
             "graph writer to race with",
    "QL304": "QL304 suggests an annotation: there is no runtime behaviour to replay",
}
# Invariants a rule's own violation may break without two actors; any other broken by one
# actor alone says the scenario's nondeterministic start state is one the code never sees.
SEQUENTIAL = {
    "QL101": (), "QL103": ("deadlock",),
    "QL102": ("section-open", "unlock-not-held", "deadlock"),
    "QL201": ("section-open", "unbalanced-end", "guest-in-drained"),
    "QL202": ("guest-in-drained", "section-open"),
    "QL203": ("request-in-flight",),
}
CONCURRENCY_RULES = ("QL101", "QL103", "QL202")
MAX_DOMAIN = 4                   # values a start value nobody set takes at most

_CALLS_RE = re.compile(r"^calls (\w+)\(\)")
_TAKES_RE = re.compile(r"^takes (.*) → (true|false|default|case .*)$")
_DEFERS_RE = re.compile(r"^defers (\w+)\(\)")
_ENTRY_RE = re.compile(r"^entry point: (\S+) registered by")


class NotModelled(Exception):
    """The finding touches something the engine does not model: `str(self)` says what."""


@dataclass
class World:
    """Everything about a scenario that does not change while it runs."""
    finding: dict
    program: object
    graph: object
    pack: object
    era: object
    node_ctx: str
    declared: frozenset
    bounds: dict
    goals: dict = field(default_factory=dict)          # function name -> callee to reach
    decisions: dict = field(default_factory=dict)      # function name -> {condition: value}
    setup: list = field(default_factory=list)          # Items run before the threads start
    threads: list = field(default_factory=list)        # (name, frames)
    guest: str = ""                                    # "kick" (QL202), "request" (QL203)
    notes: list = field(default_factory=list)          # what the scenario assumes, in words
    base: str = ""                                     # paths are shown relative to it
    logging: bool = False                              # machines write the timeline
    functions: dict = field(default_factory=dict)      # key -> Function (patched ones too)
    fixed: dict = field(default_factory=dict)          # start values to take, not choose
    satisfied: str = ""                                # how the rule is satisfied (a patch)
    exploring_starts: bool = True                      # start values are choices (not fixed)
    quiet: str = ""                                    # QL203: the function needing it drained

    def __post_init__(self):
        self.model = load_model()
        self.sem = Semantics(self.pack, self.program)
        self.engine = Engine(self)
        self.polling = {IOTHREAD_CTX}
        self.protects = {f: p.lock for p in self.pack.protects for f in p.fields}
        self.shared = set(self.protects)
        self.written = None
        self.unknowns: dict = {}                           # what trees left unknown -> times
        self.initial_log: list = []
        self._constants = None
        self._sections: dict = {}
        self._guards: dict = {}
        self._goal_blocks: dict = {}
        self._back_edges: dict = {}
        if not self.functions:
            self.functions = self.program.functions

    def variant(self, **changes) -> "World":
        """The same scenario with some of its parts changed (the rule satisfied, start values
        fixed); what it caches is its own."""
        return replace(self, **changes)

    # ---- what the machine asks --------------------------------------------------------------

    def section(self, name: str):
        """The pack's lock or section of that name (cached: the engine asks at every call)."""
        if name not in self._sections:
            self._sections[name] = self.pack.section(name)
        return self._sections[name]

    def rel(self, path: str) -> str:
        return _relative(path, self.base) if self.base else path

    def primitive(self, call):
        return self.model.primitive(call, self.declared)

    def target(self, call) -> str | None:
        targets = [t for t in self.graph.callees(call) if t in self.functions]
        return targets[0] if len(targets) == 1 else None

    def name_of(self, key) -> str:
        return self.program.name_of(key) if key else "?"

    def home_ctx(self, thread: str) -> str:
        """The context a thread runs (setup runs in none: what it enters is scheduled)."""
        return {"iothread": IOTHREAD_CTX, "main": "main"}.get(thread, "")

    def patch_instance(self, lock: str) -> str:
        """The instance of `lock` the program's own acquires take (the most common one), for
        a lock the rule-satisfied program takes where the code did not."""
        counts: dict = {}
        for fn in self.program.functions.values():
            for block in fn.blocks:
                for e in block.events:
                    if isinstance(e, Call):
                        for op in self.sem.section_ops(e):
                            if op.section == lock and op.op == "begin" and op.ident:
                                counts[op.ident] = counts.get(op.ident, 0) + 1
        return max(sorted(counts), key=counts.get) if counts else lock

    def unknown(self, what: str, tree) -> None:
        """A part of an expression tree the IR does not represent was evaluated (counted once
        per place in the code)."""
        self.unknowns.setdefault(what, set()).add(id(tree))

    def initial_value(self, m, key, path: str, t: str, field: str = ""):
        """The value of a field (or a variable with static storage) nobody set: an integer is
        nondeterministic (a choice point) among the first `values` values of its type and
        the constants the program compares the field with (its switch's case labels, `x ==
        FOO`), small values first; a pointer to a record points to an object of that record,
        its own for each field (a link of a list of that record may also be NULL: a choice);
        anything else is unknown."""
        if (key, path) in self.fixed:
            value = self.fixed[(key, path)]
        elif ctype.is_integer(t):
            domain = self.domain(t, field)
            value = domain[m.choose(len(domain), budgeted=False, start=True)]
        elif ctype.is_pointer(t) and ctype.record(t):
            record = ctype.record(t)
            obj = ("obj", (record, key, path))
            links = _links(key, record)
            if not links:
                return obj                             # not a choice: no start value
            # A link of a list of that record: NULL (the end), or the next element while the
            # list is shorter than `values`.
            value = 0 if links >= self.bounds["values"] else \
                (0, obj)[m.choose(2, budgeted=False, start=True)]
        else:
            return UNKNOWN
        m.eng[("start", key, path)] = value
        return value

    def domain(self, t: str, field: str) -> list:
        small = range(min(self.bounds["values"], 1 << min(ctype.bits(t), 8)))
        if self._constants is None:
            self._constants = _compared_constants(self.functions)
        found = [c for c in self._constants.get(field, ()) if ctype.fits(c, t)]
        return sorted(set(small) | set(found), key=lambda v: (abs(v), v))[:MAX_DOMAIN]

    @staticmethod
    def fallback_location(event: Access):
        """An access whose pointer the replay cannot follow: the scenario's one object of the
        record type its path starts from."""
        root, _, rest = event.path.partition(".")
        return ("heap", root, rest) if root.isidentifier() and rest else None

    def is_shared(self, event: Access) -> bool:
        return event.field in self.shared or event.path in self.shared

    def protected(self, event: Access):
        return self.protects.get(event.path) or self.protects.get(event.field)

    def back_edges(self, fn) -> frozenset:
        if fn.key not in self._back_edges:
            self._back_edges[fn.key] = _back_edges(fn)
        return self._back_edges[fn.key]

    def guards(self, fn, block: int) -> dict:
        """The reads of a block's condition that C makes only if a short-circuit operator's
        left side lets it: lvalue tree -> (operator, left side) of each such operator."""
        key = (id(fn), block)
        if key not in self._guards:
            self._guards[key] = _guards(fn.blocks[block].cond)
        return self._guards[key]

    def loop_heads(self, fn) -> frozenset:
        """Blocks a back edge returns to: a branch there decides whether a loop iterates
        (bounded by the loop bound, not by the choice bound)."""
        return frozenset(target for _block, target in self.back_edges(fn))

    def reaches_goal(self, call: Call, goal: str) -> bool:
        return goal in (call.name, call.macro) or \
            any(self.name_of(t) == goal for t in self.graph.callees(call))

    def choose(self, m, frame, fn, edges):
        """(edge, facts) of a branch: the edge the condition's value in the model takes, else a
        choice point among the edges that do not contradict what the frame decided before (the
        finding's decision first, then the way to the finding's next call, then the condition
        false)."""
        if not edges:
            return None
        if len(edges) == 1:
            return edges[0], frame.facts
        block = fn.blocks[frame.block]
        value = m.evaluate(frame, block.cond) if block.cond is not None else UNKNOWN
        chosen = None
        if any(e.value == "default" or e.value.startswith("case ") for e in edges):
            chosen = _case(edges, value)
        elif truth(value) is not UNKNOWN:
            wanted = "true" if truth(value) else "false"
            chosen = next((e for e in edges if e.value == wanted), None)
        if chosen is not None:
            return chosen, frame.facts
        options = []
        for e in self.ordered(frame, fn, edges):
            facts = facts_after(frame.facts, block, e)
            if facts is not None:
                options.append((e, facts))
        if not options:                       # the frame's facts are stale: forget them
            options = [(e, ()) for e in self.ordered(frame, fn, edges)]
        loop = any((frame.block, e.target) in self.back_edges(fn) for e in edges) or \
            frame.block in self.loop_heads(fn)
        edge, facts = options[m.choose(len(options), budgeted=not loop)]
        if edge.cond:
            m.note(f"takes {edge.cond} → {edge.value} (the model cannot evaluate it: a choice "
                   f"point)")
        return edge, facts

    def ordered(self, frame, fn, edges) -> list:
        forced = self.decisions.get(fn.name, {}).get(_squashed(edges[0].cond))
        toward = self.goal_blocks(fn, frame.goal) if frame.goal else frozenset()
        rank = {"false": 0, "default": 1}
        return sorted(edges, key=lambda e: (e.value != forced, e.target not in toward,
                                            rank.get(e.value, 2)))

    def goal_blocks(self, fn, goal: str) -> frozenset:
        key = (fn.key, goal)
        if key not in self._goal_blocks:
            preds: dict[int, list] = {}
            for i, block in enumerate(fn.blocks):
                for e in block.succs:
                    preds.setdefault(e.target, []).append(i)
            start = [i for i, b in enumerate(fn.blocks)
                     if any(isinstance(e, Call) and self.reaches_goal(e, goal) for e in b.events)]
            seen, queue = set(start), deque(start)
            while queue:
                for p in preds.get(queue.popleft(), ()):
                    if p not in seen:
                        seen.add(p)
                        queue.append(p)
            self._goal_blocks[key] = frozenset(seen)
        return self._goal_blocks[key]

    # ---- the initial state ------------------------------------------------------------------

    def initial(self) -> Machine:
        m = Machine(self)
        m.threads = [Thread("setup", (Frame("seq", data=(tuple(self.setup),)),))]
        m.t = 0
        while not m.thread.done and not m.violation:
            m.execute()
        if m.violation:
            raise NotModelled(f"the setup code fails in the model: {m.violation.message}")
        threads = list(self.threads) + self.engine.started_threads(m)
        if self.written is None:
            self.written = self.written_by_threads(m, threads)
            self.shared = set(self.protects) | self.written
        if self.guest:
            self.engine.add_guest(m, self.guest)
        m.threads = [Thread(name, frames) for name, frames in threads]
        m.t = 0
        self.initial_log, m.log = m.log, []
        m.made, m.cuts = [], []
        return m

    def written_by_threads(self, m, threads) -> set:
        """Fields written by code the threads can run (the registered callbacks and what the
        threads call): accesses to them are scheduling points."""
        roots = self.engine.callbacks(m)
        for _name, frames in threads:
            for f in frames:
                if f.kind == "run" and f.data[0].func:
                    roots.append(f.data[0].func)
                if f.kind == "seq":
                    roots += [item.func for item in f.data[0] if item.func]
        return {w for key in reachable(self, roots) for w in writes(self.functions.get(key))}


# ---- building a scenario from a finding ---------------------------------------------------------

def build(finding: dict, analysis) -> World:
    """The scenario of `finding` on the analysed program (raises NotModelled)."""
    rule = finding["rule"]
    if rule in NOT_MODELLED:
        raise NotModelled(NOT_MODELLED[rule])
    if rule not in LOCK_RULES + SECTION_RULES:
        raise NotModelled(f"{rule} is not modelled")
    program, graph = analysis.program, analysis.graph
    pack = analysis.context.pack
    model = load_model()
    declared = frozenset(program.declared)
    node_ctx = IOTHREAD_CTX if rule in LOCK_RULES else "main"
    world = World(finding=finding, program=program, graph=graph, pack=pack,
                  era=model.era(declared), node_ctx=node_ctx, declared=declared,
                  bounds=dict(model.bounds), base=os.getcwd())
    _read_path(world, finding)
    focus = _function(program, finding["function"], finding["path"])
    owner = _function(program, finding["trace"][0]["function"], finding["trace"][0]["path"])
    if rule == "QL203":
        if not _section_has_invariant(world, finding):
            raise NotModelled(_inside_reason(finding))
        world.quiet = _required(finding)
    required = _required_key(world, finding, focus)
    targets = [k for k in (required, focus, owner) if k]
    actors = Actors(world, targets, finding["trace"][0]["function"])
    actors.setup()
    if rule in LOCK_RULES:
        lock_threads(world, actors)
    else:
        section_threads(world, actors, rule)
    world.notes += actors.notes
    aim(world, actors, required or focus)
    return world


def _read_path(world: World, finding: dict) -> None:
    for step in finding["trace"]:
        note, fn = step["note"], step["function"]
        m = _TAKES_RE.match(note)
        if m:
            world.decisions.setdefault(fn, {})[_squashed(m.group(1))] = m.group(2)
        m = _CALLS_RE.match(note) or _DEFERS_RE.match(note)
        if m and fn not in world.goals:
            world.goals[fn] = m.group(1)


def _function(program, name: str, path: str) -> str:
    keys = program.by_name.get(name, [])
    wanted = os.path.abspath(path)
    same = [k for k in keys if program.functions[k].file == wanted]
    if same or keys:
        return (same or keys)[0]
    raise NotModelled(f"{name}() is not in the current code of {path}")


def _required(finding: dict) -> str:
    for step in reversed(finding["trace"]):
        m = _CALLS_RE.match(step["note"])
        if m:
            return m.group(1)
    return ""


def _required_key(world: World, finding: dict, focus: str) -> str | None:
    """The definition of the function the finding says needs (or must not have) the lock: the
    target of the violating call. A QL101 finding whose required function has no code here
    is not modelled: what it does without the lock is unknown."""
    name = _required(finding)
    if not name or finding["rule"] not in ("QL101", "QL103", "QL203"):
        return None
    fn = world.program.functions[focus]
    for block in fn.blocks:
        for e in block.events:
            if isinstance(e, Call) and world.reaches_goal(e, name):
                targets = [t for t in world.graph.callees(e) if world.name_of(t) == name]
                if targets:
                    return targets[0]
    if finding["rule"] == "QL101":
        raise NotModelled(f"{name}() has no definition in the analysed code: what it does "
                          f"without the lock is unknown (analyse the file that defines it too)")
    return None


def _section_has_invariant(world: World, finding: dict) -> bool:
    """QL203: the engine knows what a drained section is for (no request of the node in
    flight); of other sections it does not."""
    section = world.pack.section(_inside_section(finding))
    return section is not None and any(
        (p := world.model.primitive(Call(m.name, 0, 0), world.declared)) is not None and
        p.op == "drained_begin" for m in section.begin)


def _inside_section(finding: dict) -> str:
    m = re.search(r"calls \w+\(\) outside (.+)$", finding["trace"][-1]["note"])
    return m.group(1) if m else ""


def _inside_reason(finding: dict) -> str:
    return (f"QL203 for the {_inside_section(finding) or '?'} section is not modelled: the "
            f"engine knows what a drained section protects (no request of the node in flight), "
            f"not what this section does")


@lru_cache(maxsize=4096)
def _relative(path: str, base: str) -> str:
    return relative(path, base)


def _links(key, record: str) -> int:
    """How many links of a list of `record` lead to the object `key`."""
    count = 0
    while isinstance(key, tuple) and len(key) == 3 and key[0] == record:
        count += 1
        key = key[1]
    return count


def _guards(tree) -> dict:
    out: dict = {}
    unguarded: set = set()

    def walk(node, guards):
        if not isinstance(node, tuple) or not node or not isinstance(node[0], str):
            return
        if node[0] == "field":
            (out.setdefault(node, []).extend(guards) if guards else unguarded.add(node))
        if node[0] in ("&&", "||") and len(node) == 4:
            walk(node[2], guards)
            walk(node[3], guards + ((node[0], node[2]),))
            return
        for part in node[2:]:
            walk(part, guards)
    if tree is not None:
        walk(tree, ())
    return {k: tuple(v) for k, v in out.items() if k not in unguarded}


def _compared_constants(functions) -> dict:
    """"Record.field" -> the constants the program compares it with: the case labels of a
    switch on it, the other side of `==`, `!=`, `<` ... ."""
    out: dict = {}
    for fn in functions.values():
        for block in fn.blocks:
            tree = block.cond
            if tree is None:
                continue
            subject = _field_of(tree)
            if subject:
                out.setdefault(subject, set()).update(e.case for e in block.succs
                                                      if e.case is not None)
            stack = [tree]
            while stack:
                node = stack.pop()
                if node[0] in ("==", "!=", "<", ">", "<=", ">=") and len(node) == 4:
                    for side, other in ((node[2], node[3]), (node[3], node[2])):
                        name = _field_of(side)
                        if name and other[0] == "int":
                            out.setdefault(name, set()).add(other[2])
                stack.extend(n for n in node[2:] if isinstance(n, tuple) and n and
                             isinstance(n[0], str))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _field_of(tree) -> str:
    while tree[0] == "cast":
        tree = tree[2]
    return tree[3] if tree[0] == "field" else ""


def _squashed(text: str) -> str:
    """A condition's spelling without whitespace (the finding's trace prints it as the IR)."""
    return "".join(text.split())


def _back_edges(fn) -> frozenset:
    """Edges that close a loop (to a block on the depth-first path from the entry)."""
    out, state = set(), {}
    stack = [(ENTRY, iter(fn.blocks[ENTRY].succs))]
    state[ENTRY] = 1
    while stack:
        block, succs = stack[-1]
        edge = next(succs, None)
        if edge is None:
            state[block] = 2
            stack.pop()
            continue
        if state.get(edge.target) == 1:
            out.add((block, edge.target))
        elif edge.target not in state:
            state[edge.target] = 1
            stack.append((edge.target, iter(fn.blocks[edge.target].succs)))
    return frozenset(out)


def _case(edges, value):
    if isinstance(value, int):
        for e in edges:
            if e.case == value:
                return e
        return next((e for e in edges if e.value == "default"), None)
    return None



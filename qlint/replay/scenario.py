"""From a finding and the current code to a scenario: which entry points run on which threads,
what runs first (the functions that register them), and what the replay must follow (the
finding's branch decisions, the calls on its path).

Two shapes (docs/replay.md):
  lock findings (QL101, QL102)     the entry points' context is an IOThread's. Thread "iothread"
                                   runs iothread_run(); thread "main" does what the era's main
                                   thread does to that context: 2.x polls it inside bdrv_drain()
                                   holding its lock; 7.2 runs main-loop code that submits I/O,
                                   holding its lock (the other caller of the required function).
  section findings (QL201, QL202)  the node is in the main context; thread "main" runs the main
                                   loop; for QL202 a guest vCPU kicks a virtio host notifier of
                                   the iohandler context.
"""
from __future__ import annotations

import os
import re
from collections import deque
from functools import lru_cache
from dataclasses import dataclass, field

from ..analysis.semantics import Semantics
from ..facts.ir import ENTRY, Access, Call
from ..report.model import relative
from .drivers import GUEST, Handler, Item, run_frame
from .engine import Engine
from .machine import Frame, Machine, Thread
from .model import load_model
from .values import UNKNOWN, truth

IOTHREAD_CTX = "iothread0"
LOCK_RULES = ("QL101", "QL102")
SECTION_RULES = ("QL201", "QL202")
NOT_MODELLED = {
    "QL103": "QL103 (a lock that must not be held) is not modelled: the engine does not know "
             "what the excluded function waits for",
    "QL203": "QL203 ([[inside]] requirements) is not modelled: the engine has no invariant for "
             "what a function needs a section for",
}
ENTRY_KINDS = ("bh", "fd-handler", "coroutine", "deferred")

_CALLS_RE = re.compile(r"^calls (\w+)\(\)")
_TAKES_RE = re.compile(r"^takes (.*) → (true|false|default|case .*)$")
_DEFERS_RE = re.compile(r"^defers (\w+)\(\)")
_ENTRY_RE = re.compile(r"^entry point: (\S+) registered by")
KIND_WORDS = {"timer": "a timer callback", "thread": "a thread's start routine",
              "main-loop-handler": "a main-loop fd handler",
              "entry": "a root named by [[entry]] (a QMP/HMP command handler)"}


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
    ready: list = field(default_factory=list)          # entry functions ready at the start
    threads: list = field(default_factory=list)        # (name, frames)
    guest: bool = False
    notes: list = field(default_factory=list)          # what the scenario assumes, in words
    base: str = ""                                     # paths are shown relative to it
    logging: bool = False                              # machines write the timeline

    def __post_init__(self):
        self.model = load_model()
        self.linux_aio = self.model.linux_aio
        self.sem = Semantics(self.pack, self.program)
        self.engine = Engine(self)
        self.polling = {IOTHREAD_CTX}
        self.protects = {f: p.lock for p in self.pack.protects for f in p.fields}
        self.shared = set(self.protects)
        self.written = None
        self.unknowns: dict = {}                           # what trees left unknown -> times
        self._goal_blocks: dict = {}
        self._back_edges: dict = {}

    # ---- what the machine asks --------------------------------------------------------------

    def rel(self, path: str) -> str:
        return _relative(path, self.base) if self.base else path

    def primitive(self, call):
        return self.model.primitive(call, self.declared)

    def target(self, call) -> str | None:
        targets = [t for t in self.graph.callees(call) if t in self.program.functions]
        return targets[0] if len(targets) == 1 else None

    def name_of(self, key) -> str:
        return self.program.name_of(key) if key else "?"

    def home_ctx(self, thread: str) -> str:
        """The context a thread runs (setup runs in none: what it enters is scheduled)."""
        return {"iothread": IOTHREAD_CTX, "main": "main"}.get(thread, "")

    def unknown(self, what: str) -> None:
        """A part of an expression tree the IR does not represent was evaluated."""
        self.unknowns[what] = self.unknowns.get(what, 0) + 1

    def default(self, key, path: str):
        """A field never written: objects start zeroed (g_new0), requests as the kernel's
        completion events describe them."""
        if isinstance(key, tuple):
            if path == self.linux_aio.request_coroutine:
                return "co", key
            return self.linux_aio.request.get(path, 0) if key[0] == "req" else 0
        return 0

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

    def reaches_goal(self, call: Call, goal: str) -> bool:
        return goal in (call.name, call.macro) or \
            any(self.name_of(t) == goal for t in self.graph.callees(call))

    def choose(self, m, frame, fn, edges):
        """The edge a branch takes: the finding's decision, else the condition's value in the
        model, else (unknown) the edge on the way to the finding's next call, preferring the
        condition false (loops exit, error branches are not taken)."""
        if not edges:
            return None
        if len(edges) == 1:
            return edges[0]
        cond = edges[0].cond
        forced = self.decisions.get(fn.name, {}).get(_squashed(cond))
        chosen = next((e for e in edges if forced is not None and e.value == forced), None)
        if chosen is not None:
            return chosen
        tree = fn.blocks[frame.block].cond
        value = m.evaluate(frame, tree) if tree is not None else UNKNOWN
        if any(e.value == "default" or e.value.startswith("case ") for e in edges):
            chosen = _case(edges, value)
        elif truth(value) is not UNKNOWN:
            wanted = "true" if truth(value) else "false"
            chosen = next((e for e in edges if e.value == wanted), None)
        return chosen or self.unknown_branch(frame, fn, edges)

    def unknown_branch(self, frame, fn, edges):
        candidates = edges
        if frame.goal:
            toward = [e for e in edges if e.target in self.goal_blocks(fn, frame.goal)]
            candidates = toward or edges
        rank = {"false": 0, "default": 1}
        return min(candidates, key=lambda e: rank.get(e.value, 2))

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
        if self.written is None:
            self.written = self.written_by_threads()
            self.shared = set(self.protects) | self.written
        m = Machine(self)
        m.threads = [Thread("setup", (Frame("seq", data=(tuple(self.setup),)),))]
        m.t = 0
        while not m.thread.done and not m.violation:
            m.execute()
        if m.violation:
            raise NotModelled(f"the setup code fails in the model: {m.violation.message}")
        self.start_linux_aio(m)
        self.make_ready(m)
        if self.guest:
            ctx = "iohandler" if self.node_ctx == "main" else self.node_ctx
            m.eng[("handlers", ctx)] = m.eng.get(("handlers", ctx), ()) + (
                Handler(GUEST, GUEST, None, None, None, 1),)
        m.threads = [Thread(name, frames) for name, frames in self.threads]
        m.log = []
        for i in range(len(m.threads)):
            m.t = i
            m.advance()
        m.t = 0
        self.initial_log, m.log = m.log, []
        return m

    def written_by_threads(self) -> set:
        """Fields written by code the threads can run (not by the setup only): accesses to
        them are scheduling points."""
        roots = list(self.ready) + [f.data[0].func for _n, frames in self.threads for f in frames
                                    if f.kind == "run"]
        seen, queue, out = set(roots), deque(roots), set()
        registered = {}
        for r in self.graph.registrations:
            registered.setdefault(r.caller, []).append(r.func)
        while queue:
            key = queue.popleft()
            fn = self.program.functions.get(key)
            if fn is None:
                continue
            for block in fn.blocks:
                for e in block.events:
                    if isinstance(e, Access) and e.mode in ("w", "inc", "dec"):
                        out.update((e.field, e.path))
            nxt = [e.callee for e in self.graph.edges_from.get(key, ())] + registered.get(key, [])
            for k in nxt:
                if k not in seen:
                    seen.add(k)
                    queue.append(k)
        return out

    def start_linux_aio(self, m: Machine) -> None:
        la = self.linux_aio
        if not any(k[0] == la.state for k in m.heap) and not _uses_record(self.program, la.state):
            return
        n = la.completions
        m.heap[(la.state, la.in_flight)] = n
        slots = tuple(("req", i) for i in range(n)) + (None,) * (la.ring_size - n)
        m.eng[("ring",)] = (slots, 0, n)
        m.eng[("notifier", ("addr", la.state, la.notifier))] = 1
        note = (f"{la.state}: {n} requests completed by the kernel, in its ring, "
                f"{la.in_flight} = {n}, completion notifier set")
        if note not in self.notes:
            self.notes.append(note)

    def make_ready(self, m: Machine) -> None:
        for func in self.ready:
            for key, value in list(m.eng.items()):
                if key[0] == "bh" and value.cb == func:
                    m.eng[key] = value._replace(scheduled=1)
                if key[0] == "handlers":
                    for h in value:
                        if h.io_read == func:
                            m.eng[("notifier", h.notifier)] = 1


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
    if rule in LOCK_RULES:
        _lock_scenario(world, finding, focus)
    else:
        _section_scenario(world, finding, focus)
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


def _entries(world: World, key: str) -> list:
    """Registrations of the entry points whose calls reach function `key`."""
    graph = world.graph
    seen, queue, found = {key}, deque([key]), []
    while queue:
        k = queue.popleft()
        found += graph.registered.get(k, [])
        for edge in graph.callers_of(k):
            if edge.caller not in seen:
                seen.add(edge.caller)
                queue.append(edge.caller)
    return sorted(found, key=lambda r: (r.file, r.line, r.func, r.kind))


def _setup_from(world: World, registrations) -> None:
    unsupported = sorted({r.kind for r in registrations if r.kind not in ENTRY_KINDS})
    if unsupported and len(unsupported) == len({r.kind for r in registrations}):
        raise NotModelled(f"its entry points are {', '.join(unsupported)} callbacks: the engine "
                          f"models bottom halves, fd handlers, coroutines and deferred callbacks")
    callers = []
    for r in registrations:
        if r.kind in ENTRY_KINDS and r.caller not in callers:
            callers.append(r.caller)
        if r.kind in ENTRY_KINDS and r.func not in world.ready:
            world.ready.append(r.func)
    for key in callers:
        world.setup.append(Item(key, bind(world, key), "", f"setup: {world.name_of(key)}"))


def bind(world: World, key: str) -> tuple:
    """Arguments for a function the scenario calls itself, by parameter type: the scenario's
    context, its node, or its one object of the pointed-to record type."""
    fn = world.program.functions[key]
    out = []
    for ptype in fn.param_types:
        record = _record(ptype)
        if record == "AioContext":
            out.append(("ctx", world.node_ctx))
        elif record in ("BlockDriverState", "BlockBackend"):
            out.append(("node",))
        elif record and "*" in ptype:
            out.append(("obj", record))
        else:
            out.append(UNKNOWN)
    return tuple(out)


def _record(ptype: str) -> str:
    words = [w for w in re.findall(r"\w+", ptype)
             if w not in ("const", "struct", "union", "volatile")]
    return words[-1] if words and words[-1] not in ("void", "char", "int") else ""


def _check_entry(finding: dict) -> None:
    """The finding's own entry point must be one the engine dispatches."""
    note = finding["trace"][0]["note"]
    if not note.startswith("entry point:"):
        return
    m = _ENTRY_RE.match(note)
    kind = m.group(1) if m else "entry"
    if kind not in ENTRY_KINDS:
        what = KIND_WORDS.get(kind, f"a {kind} callback")
        raise NotModelled(f"its entry point {finding['trace'][0]['function']}() is {what}: the "
                          f"engine models bottom halves, fd handlers, coroutines and deferred "
                          f"callbacks")


def _lock_scenario(world: World, finding: dict, focus: str) -> None:
    _check_entry(finding)
    # Every entry point that reaches the code the lock must protect runs: the one on the
    # finding's path and those that reach the required function by other paths.
    required = _required_key(world, finding, focus)
    registrations = _entries(world, required or focus)
    if not registrations:
        world.threads.append(("main", (run_frame(_direct_call(world, focus)),)))
        return
    _setup_from(world, registrations)
    world.threads.append(("iothread", (Frame("iothread", data=(IOTHREAD_CTX, False)),)))
    if world.era.main == "drain":
        world.threads.append(("main", (Frame("drain", data=(IOTHREAD_CTX, 0)),)))
        world.notes.append("main thread: bdrv_drain() polls the IOThread's context holding its "
                           "lock")
        return
    submitter = _other_caller(world, focus, required)
    if submitter is None:
        world.notes.append("main thread: no other path to the code in the analysed files")
        return
    world.goals.setdefault(world.name_of(submitter), world.name_of(required))
    item = Item(submitter, bind(world, submitter), IOTHREAD_CTX, f"main-loop code (holding the "
                f"IOThread's context lock) calls {world.name_of(submitter)}")
    world.threads.append(("main", (run_frame(item),)))
    world.notes.append(f"main thread: main-loop code calls {world.name_of(submitter)}() holding "
                       f"the IOThread context's lock")


def _direct_call(world: World, key: str) -> Item:
    """A function no entry point reaches (an exported API): the main loop calls it once."""
    world.notes.append(f"{world.name_of(key)}() has no entry point in the analysed code: the "
                       f"main loop calls it")
    return Item(key, bind(world, key), "", f"main loop calls {world.name_of(key)}")


def _required(finding: dict) -> str:
    for step in reversed(finding["trace"]):
        m = _CALLS_RE.match(step["note"])
        if m:
            return m.group(1)
    return ""


def _required_key(world: World, finding: dict, focus: str) -> str | None:
    """The definition of the function the finding says needs the lock: the target of the
    violating call. A QL101 finding whose required function has no code here is not
    modelled: what it does without the lock is unknown."""
    name = _required(finding)
    if not name or finding["rule"] != "QL101":
        return None
    fn = world.program.functions[focus]
    for block in fn.blocks:
        for e in block.events:
            if isinstance(e, Call) and world.reaches_goal(e, name):
                targets = [t for t in world.graph.callees(e) if world.name_of(t) == name]
                if targets:
                    return targets[0]
    raise NotModelled(f"{name}() has no definition in the analysed code: what it does without "
                      f"the lock is unknown (analyse the file that defines it too)")


def _other_caller(world: World, focus: str, required: str | None) -> str | None:
    """A function other than the finding's that calls the required function: the path by which
    main-loop code reaches the same state."""
    if not required:
        return None
    callers = sorted({e.caller for e in world.graph.callers_of(required) if e.caller != focus})
    return callers[0] if callers else None


def _section_scenario(world: World, finding: dict, focus: str) -> None:
    owner = _function(world.program, finding["trace"][0]["function"], finding["trace"][0]["path"])
    registrations = _entries(world, owner)
    frames = [Frame("mainloop", data=(False,))]
    if registrations:
        _setup_from(world, registrations)
    else:
        frames.append(run_frame(_direct_call(world, owner)))
    world.threads.append(("main", tuple(frames)))
    if finding["rule"] == "QL202":
        world.guest = True
        world.threads.append(("guest", (Frame("guest", data=(world.model.guest_kicks,)),)))
        world.notes.append("guest: a vCPU kicks the virtio host notifier of the iohandler context")


# ---- program facts, computed once per program ----------------------------------------------

def _uses_record(program, record: str) -> bool:
    prefix = record + "."
    return any(isinstance(e, Access) and e.path.startswith(prefix)
               for fn in program.functions.values() for b in fn.blocks for e in b.events)


@lru_cache(maxsize=4096)
def _relative(path: str, base: str) -> str:
    return relative(path, base)


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

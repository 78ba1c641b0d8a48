"""The replay machine: threads that interpret the analysed code's IR, over the reference engine.

A state is plain data (a heap of object fields, the engine's tables, each thread's stack of
frames), copied on every transition and hashable, so the scheduler can explore it and remember
where it has been. A thread runs until its next *visible* operation (a lock operation, an access
to a field some thread writes, a call of an engine primitive that touches shared state); the
scheduler chooses which thread performs its visible operation next. Everything in between is
local to the thread and runs at once. A read-modify-write (`x++`, `x -= n`) is two visible
operations: the load, then the store.

What the model does not know is a choice point, explored both ways by the search: a condition
whose value is unknown (an edge at a time, the finding's path first, never one that contradicts
what the frame decided before: qlint/facts/conditions.py), the value of a field nobody set
(small values of its type first; see World.initial_value). `choose()` records each choice; the
search re-runs a step with other choices to explore them.

Frames are C functions ("c") interpreted block by block, and the engine's drivers (aio_poll,
iothread_run, the main loop, ...; see drivers.py) that call them.
"""
from __future__ import annotations

from typing import NamedTuple

from ..facts import conditions, ctype
from ..facts.ir import ENTRY, EXIT, Access, Assign, Call, Return
from .evaluate import Evaluator, arithmetic
from .values import UNKNOWN, show


DRIVERS = {"aio_poll": "aio_poll", "run": "dispatch", "drain": "bdrv_drain",
           "drainpoll": "bdrv_drained_begin", "wait": "blocking wait",
           "mainloop": "main_loop_wait", "iothread": "iothread_run", "guest": "guest vCPU",
           "seq": "setup"}
RECENT_CALLS = 4                 # call results a frame keeps for the trees that read them


class Frame(NamedTuple):
    kind: str                    # "c", or a driver of engine.py
    func: str = ""               # c: the function's key
    block: int = ENTRY
    index: int = 0
    locals: tuple = ()           # c: sorted (name, value) pairs
    seen: tuple = ()             # c: (lvalue tree, value) the frame last read or wrote
    calls: tuple = ()            # c: ((name, line, col), result) of its most recent calls
    ret: object = None           # c: the value of the executed `return`
    goal: str = ""               # c: the call on the finding's path this frame is to reach
    pc: int = 0                  # driver: where it is
    data: tuple = ()             # driver: its own state
    facts: tuple = ()            # c: atoms the unknown conditions it decided establish
    loaded: tuple = ()           # c: (old value,) of a read-modify-write between load and store


class Thread(NamedTuple):
    name: str
    frames: tuple = ()
    done: str = ""               # "" running, "finished", or why a bound cut it


class Violation(NamedTuple):
    invariant: str               # completion-twice, counter-wrap, race, guest-in-drained, ...
    message: str
    thread: str
    values: tuple = ()           # (name, value) pairs: the concrete violated values
    place: tuple = ()            # what was violated, to tell which threads touched it


class Entry(NamedTuple):
    """One line of the timeline: what a thread did, and where."""
    thread: str
    path: str
    line: int
    function: str
    text: str
    violation: bool = False
    step: int = 0                # the scheduling step it belongs to (0: before the first)


def faster_replace(cls):
    """Give a NamedTuple class a `_replace` that costs a third of the generic one (machine
    states are copied on every step)."""
    index = {name: i for i, name in enumerate(cls._fields)}
    new = tuple.__new__

    def _replace(self, **changes):
        values = list(self)
        for name, value in changes.items():
            values[index[name]] = value
        return new(cls, values)
    cls._replace = _replace
    return cls


faster_replace(Frame)
faster_replace(Thread)


def _set(pairs: tuple, key, value) -> tuple:
    d = dict(pairs)
    d[key] = value
    return tuple(sorted(d.items(), key=lambda kv: repr(kv[0])))


class Machine:
    """One state of the scenario, and the transitions out of it."""

    def __init__(self, world):
        self.world = world
        self.heap: dict = {}
        self.eng: dict = {}
        self.threads: list[Thread] = []
        self.violation: Violation | None = None
        self.race: Violation | None = None
        self.cut = ""
        self.log: list[Entry] = []
        self.t = 0                                   # the thread being run
        self.forced: list[int] = []                  # choices to take (a replay)
        self.made: list[tuple] = []                  # (options, taken, a start value?) this step
        self.rng = None                              # PCT: random choices
        self.cuts: list[str] = []                    # bounds that cut alternatives this step
        self.touched: dict = {}                      # replay only: place -> threads
        self._enabled = None                         # enabled(), until the next step
        # Back edges each C frame took ((thread, depth) -> count): bounded, but not part of
        # the state, so that a loop whose iteration changes nothing meets a state seen before.
        self.loops: dict = {}
        # States this step's loops came back to: a path that meets one again repeats itself
        # (a loop whose iteration changed nothing) and adds nothing: it is pruned.
        self.revisits: set = set()
        self.pruned = False

    # ---- state --------------------------------------------------------------------------

    def clone(self) -> "Machine":
        m = Machine.__new__(Machine)
        m.world = self.world
        m.heap = dict(self.heap)
        m.eng = dict(self.eng)
        m.threads = list(self.threads)
        m.violation, m.race, m.cut = self.violation, self.race, self.cut
        m.log = []
        m.t = self.t
        m.forced, m.made, m.rng, m.cuts = [], [], self.rng, []
        m.touched = {k: set(v) for k, v in self.touched.items()} if self.touched else {}
        m._enabled = self._enabled
        m.loops = dict(self.loops)
        m.revisits, m.pruned = set(), False
        return m

    def key(self):
        """What identifies the state (the search remembers the first race by itself)."""
        return frozenset(self.heap.items()), frozenset(self.eng.items()), tuple(self.threads)

    @property
    def thread(self) -> Thread:
        return self.threads[self.t]

    @property
    def frame(self) -> Frame:
        return self.thread.frames[-1]

    def set_frame(self, frame: Frame) -> None:
        th = self.thread
        self.threads[self.t] = th._replace(frames=th.frames[:-1] + (frame,))

    def push(self, frame: Frame) -> None:
        th = self.thread
        if len(th.frames) >= self.world.bounds["depth"]:
            return self.stop(f"call depth bound ({self.world.bounds['depth']}) reached")
        self.threads[self.t] = th._replace(frames=th.frames + (frame,))
        self.loops.pop((self.t, len(th.frames)), None)

    def pop(self, result=None) -> None:
        th = self.thread
        frames = th.frames[:-1]
        self.threads[self.t] = th._replace(frames=frames, done="" if frames else "finished")
        if frames:
            self.world.engine.resume(self, frames[-1], result)

    def stop(self, why: str) -> None:
        """A bound cut this thread: the execution says nothing about the end state."""
        self.threads[self.t] = self.thread._replace(done=why)
        self.cut = self.cut or why
        self.cuts.append(why)

    def fail(self, invariant: str, message: str, values=(), place=()) -> None:
        v = Violation(invariant, message, self.thread.name, tuple(values), place)
        if invariant == "race":
            if self.race is not None:
                return                                  # the first race tells the story
            self.race = v
        elif self.violation is None:
            self.violation = v
        self.note(message, violation=True)

    def note(self, text: str, violation: bool = False, where=None) -> None:
        if not self.world.logging:
            return                                     # exploring: only a replay tells
        path, line, function = where or self.location()
        self.log.append(Entry(self.thread.name, path, line, function, text, violation))

    def touch(self, place) -> None:
        """This thread acted on `place` (replays only: which actors a violation involves)."""
        if self.world.logging:
            self.touched.setdefault(place, set()).add(self.thread.name)

    def location(self):
        """(file, line, function) of the running thread's innermost C frame, or ("", 0, the
        engine driver) when the engine itself acts."""
        for frame in reversed(self.thread.frames):
            if frame.kind == "c":
                fn = self.world.functions[frame.func]
                events = fn.blocks[frame.block].events
                ev = events[frame.index] if frame.index < len(events) else None
                return self.world.rel(fn.file), getattr(ev, "line", 0) or fn.line, fn.name
        frames = self.thread.frames
        return "", 0, DRIVERS.get(frames[-1].kind, frames[-1].kind) if frames else ""

    # ---- choice points --------------------------------------------------------------------

    def choose(self, options: int, budgeted: bool = True, start: bool = False) -> int:
        """Which of `options` alternatives to take: the forced one when replaying, a random one
        under PCT, else the first; the search explores the others. Past the choice bound only
        the first is taken, and the cut is counted. A start value's choice (`start`) is not
        part of a schedule: a counterexample fixes its start values (World.fixed), and a
        replay of it takes the first for any other it meets."""
        if options <= 1:
            return 0
        if start and not self.world.exploring_starts:
            return 0
        if budgeted:
            used = self.eng.get(("choices",), 0)
            if used >= self.world.bounds["choices"]:
                self.cuts.append(f"choice bound ({self.world.bounds['choices']}) reached")
                return 0
            self.eng[("choices",)] = used + 1
        if self.forced:
            taken = self.forced.pop(0)
            taken = taken if taken < options else 0
        elif self.rng is not None:
            taken = self.rng.randrange(options)
        else:
            taken = 0
        self.made.append((options, taken, start))
        return taken

    # ---- scheduling -----------------------------------------------------------------------

    def blocked(self, i: int) -> bool:
        """Is thread i waiting (for a lock another thread holds, or in a blocking wait)?"""
        saved, self.t = self.t, i
        try:
            op = self.peek()
            return op is not None and not self.world.engine.can_run(self, op)
        finally:
            self.t = saved

    def enabled(self) -> list[int]:
        if self._enabled is None:
            self._enabled = [i for i, th in enumerate(self.threads)
                             if not th.done and not self.blocked(i)]
        return self._enabled

    def step(self, i: int) -> None:
        """Thread i performs its visible operation, then runs to its next one."""
        self._enabled = None
        self.revisits = set()
        self.t = i
        self.execute()
        self.advance()
        self._enabled = None
        self.check_end()

    def advance(self) -> None:
        for _ in range(100000):
            if self.thread.done or self.violation or self.pruned or self.peek() is not None:
                return
            self.execute()
        self.stop("step bound reached")

    def peek(self):
        """The visible operation the running thread is about to perform, or None."""
        if self.thread.done:
            return None
        frame = self.frame
        if frame.kind != "c":
            return self.world.engine.peek(self, frame)
        event = self.event(frame)
        if isinstance(event, Call):
            return self.world.engine.classify(self, frame, event)
        if isinstance(event, Access) and event.mode != "addr" and self.world.is_shared(event) \
                and not self.short_circuited(frame, event):
            return ("access", event.path)
        return None

    def execute(self) -> None:
        frame = self.frame
        if frame.kind != "c":
            self.world.engine.run(self, frame)
        else:
            self.interpret(frame)

    def check_end(self) -> None:
        """Nothing can run: the scenario ended (every thread finished, or waits idle in its
        event loop), or it is stuck (a thread waits for a lock or in a blocking wait)."""
        if self.violation or self.cut or self.enabled():
            return
        if all(th.done or self.idle(i) for i, th in enumerate(self.threads)):
            self.world.engine.end_of_scenario(self)
        else:
            self.world.engine.deadlock(self)

    def idle(self, i: int) -> bool:
        saved, self.t = self.t, i
        try:
            op = self.peek()
            return op is not None and op[0] == "idle"
        finally:
            self.t = saved

    # ---- the C interpreter --------------------------------------------------------------

    def function(self, frame: Frame):
        return self.world.functions[frame.func]

    def event(self, frame: Frame):
        events = self.function(frame).blocks[frame.block].events
        return events[frame.index] if frame.index < len(events) else None

    def interpret(self, frame: Frame) -> None:
        event = self.event(frame)
        if event is None:
            if frame.block == EXIT:
                return self.pop(frame.ret)
            return self.branch(frame)
        if isinstance(event, Call):
            return self.world.engine.call(self, frame, event)
        if isinstance(event, Access):
            if self.short_circuited(frame, event):
                return self.set_frame(frame._replace(index=frame.index + 1))
            frame = self.access(frame, event)
            if frame is None:
                return                                 # a load: the store is the next step
        elif isinstance(event, Assign):
            frame = self.assign(frame, event)
        elif isinstance(event, Return):
            frame = frame._replace(ret=self.evaluate(frame, event.expr)
                                   if event.expr is not None else None)
        self.set_frame(frame._replace(index=frame.index + 1))

    def short_circuited(self, frame: Frame, event: Access) -> bool:
        """Is this read of the block's condition on the right of `&&` (`||`) whose left side
        the frame has read false (true)? The IR lists the condition's reads in order; C does
        not make this one."""
        if event.mode != "r" or event.lvalue is None:
            return False
        guards = self.world.guards(self.function(frame), frame.block).get(event.lvalue)
        if not guards:
            return False
        evaluator = Evaluator(Env(self, frame))
        for op, lhs in guards:
            value = evaluator.value(lhs)
            if value is not UNKNOWN and bool(value) == (op == "||"):
                return True
        return False

    def evaluate(self, frame: Frame, tree):
        return Evaluator(Env(self, frame)).value(tree) if tree is not None else UNKNOWN

    def assign(self, frame: Frame, event: Assign) -> Frame:
        if event.op == "&":
            return frame                     # its address is taken: what it holds is unchanged
        target = event.target
        is_global = target is not None and target[0] == "global"
        for name in event.names:
            if is_global:
                old = self.read(("heap", ("global", name), ""), target[1])
            else:
                old = dict(frame.locals).get(name, UNKNOWN)
            value = self.combined(frame, event.op, old, event.expr)[0]
            if target is not None and ctype.is_integer(target[1]) and isinstance(value, int):
                value = ctype.wrap(value, target[1])
            if is_global:
                self.heap[(("global", name), "")] = value
            else:
                frame = frame._replace(locals=_set(frame.locals, name, value))
            frame = frame._replace(facts=_forget(frame.facts, name))
        return frame

    def combined(self, frame: Frame, op: str, old, tree):
        """(the value a write of `op` stores over `old`, before it is converted to the
        target's type; did an unsigned subtraction in it go below 0?)"""
        if op in ("++", "--"):
            return arithmetic("+" if op == "++" else "-", old, 1, ""), op == "--"
        evaluator = Evaluator(Env(self, frame))
        value = evaluator.value(tree) if tree is not None else UNKNOWN
        if op == "=" or not op:
            return value, evaluator.wrapped
        return arithmetic(op[:-1], old, value, ""), op == "-="

    def access(self, frame: Frame, event: Access):
        """A field access; a read-modify-write returns None after its load (the store is a
        step of its own) and the frame after its store."""
        loc = (Env(self, frame).locate(event.lvalue) if event.lvalue is not None else None) or \
            self.world.fallback_location(event)
        key = event.lvalue or event.text
        t = event.lvalue[1] if event.lvalue is not None else ""
        shared = loc is not None and self.world.is_shared(event)
        if event.mode == "r":
            old = self.read(loc, t, event.field)
            if shared:
                self.note(f"reads {event.text} = {show(old)}")
            self.guard(event, loc, write=False)
            return frame._replace(seen=_set(frame.seen, key, old))
        rmw = event.op not in ("=", "")
        if rmw and shared and not frame.loaded:
            old = self.read(loc, t, event.field)       # the load of x++: a step of its own
            self.note(f"loads {event.text} = {show(old)}")
            self.guard(event, loc, write=False)
            self.set_frame(frame._replace(loaded=(old,)))
            return None
        old = frame.loaded[0] if frame.loaded else \
            self.read(loc, t, event.field) if rmw else UNKNOWN
        new, subtracted = self.combined(frame, event.op, old, event.value)
        wrapped = subtracted and isinstance(new, int) and ctype.is_unsigned(t) and t != "b" and \
            (new < 0 or event.op == "=")
        if isinstance(new, int) and ctype.is_integer(t):
            new = ctype.wrap(new, t)
        if shared:
            self.note(self.describe_write(event, old, new))
        self.touch(("field", loc))
        if wrapped:
            self.fail("counter-wrap", f"{event.text} wraps: {show(old)} → {new:#x} "
                      f"({event.field} is a {ctype.bits(t)}-bit unsigned counter)",
                      ((event.path, new),), ("field", loc))
        self.write(loc, new)
        self.guard(event, loc, write=True)
        return frame._replace(seen=_set(frame.seen, key, new), loaded=(),
                              facts=_forget(frame.facts, event.text))

    @staticmethod
    def describe_write(event: Access, old, new) -> str:
        if event.mode in ("inc", "dec") or event.op not in ("=", ""):
            shown = f"{new:#x}" if isinstance(new, int) and new > 0xffff else show(new)
            sign = event.op if event.op in ("++", "--") else f" {event.op} …"
            return f"{event.text}{sign} ({show(old)} → {shown})"
        return f"{event.text} = {show(new)}"

    def guard(self, event: Access, loc, write: bool) -> None:
        """Races by lockset (Eraser): a field's candidate set is the locks held at every access
        of it by the threads (the setup's are initialization). A field that some thread wrote
        under a lock, accessed by two threads and written by one, with no lock common to all
        its accesses, is a race. A field `[[protects]]` names needs its lock at every access."""
        if self.thread.name == "setup" or loc is None or loc[0] != "heap":
            return
        held = self.world.engine.held(self)
        place = ("lockset", loc[1], loc[2])
        threads, lockset, writers, locked = self.eng.get(
            place, (frozenset(), None, frozenset(), False))
        me = self.thread.name
        threads = threads | {me}
        lockset = held if lockset is None else lockset & held
        writers = writers | {me} if write else writers
        lock = self.world.protected(event)
        locked = locked or (write and bool(held)) or lock is not None
        self.eng[place] = (threads, lockset, writers, locked)
        common = any(h[0] == lock for h in lockset) if lock is not None else bool(lockset)
        if len(threads) > 1 and writers and locked and not common:
            why = f" (it is protected by {lock})" if lock else ""
            self.fail("race", f"race on {event.field}: {', '.join(sorted(threads))} access it, "
                      f"{', '.join(sorted(writers))} writing, with no lock common to all the "
                      f"accesses{why}", ((event.path, self.heap.get((loc[1], loc[2]))),),
                      ("field", loc))

    def read(self, loc, t: str = "", field: str = ""):
        if loc is None:
            return UNKNOWN
        if loc[0] == "ev":
            return self.world.engine.event_field(self, loc[1], loc[2])
        place = (loc[1], loc[2])
        if place in self.heap:
            return self.heap[place]
        value = self.world.initial_value(self, loc[1], loc[2], t, field)
        self.heap[place] = value
        return value

    def write(self, loc, value) -> None:
        if loc is not None and loc[0] == "heap":
            self.heap[(loc[1], loc[2])] = value

    def branch(self, frame: Frame) -> None:
        fn = self.function(frame)
        found = self.world.choose(self, frame, fn, fn.blocks[frame.block].succs)
        if found is None:
            return self.pop(frame.ret)
        edge, facts = found
        if (frame.block, edge.target) in self.world.back_edges(fn):
            seen = (self.key(), self.t, edge.target)
            if seen in self.revisits:
                self.pruned = True
                return None
            self.revisits.add(seen)
            where = (self.t, len(self.thread.frames) - 1)
            self.loops[where] = self.loops.get(where, 0) + 1
            if self.loops[where] > self.world.bounds["loop"]:
                return self.stop(f"loop bound ({self.world.bounds['loop']}) reached in "
                                 f"{fn.name}()")
        self.set_frame(frame._replace(block=edge.target, index=0, facts=facts))

    def returned(self, frame: Frame, result) -> None:
        """A call of this C frame returned `result`: record it and go on."""
        event = self.event(frame)
        result = UNKNOWN if result is None else result          # a void call's value
        site = (event.name, event.line, event.col)
        calls = tuple(c for c in frame.calls if c[0] != site)[-(RECENT_CALLS - 1):]
        frame = frame._replace(calls=calls + ((site, result),), index=frame.index + 1,
                               facts=_forget(frame.facts, event.name + "("))
        if event.result:
            frame = frame._replace(locals=_set(frame.locals, event.result, result))
        if frame.goal and self.world.reaches_goal(event, frame.goal):
            frame = frame._replace(goal="")
        self.set_frame(frame)

    def set_local(self, name: str, value) -> None:
        frame = self.frame
        if frame.kind == "c":
            self.set_frame(frame._replace(locals=_set(frame.locals, name, value),
                                          facts=_forget(frame.facts, name)))

    def c_frame(self, key: str, args) -> Frame:
        fn = self.world.functions[key]
        locals_ = tuple(sorted(zip(fn.params, args)))
        return Frame("c", func=key, locals=locals_, goal=self.world.goals.get(fn.name, ""))


def _forget(facts: tuple, written: str) -> tuple:
    """The atoms that do not read what was just written (a variable, a field, a call)."""
    if not facts:
        return facts
    return tuple(a for a in facts if written not in a[0])


class Env:
    """What an expression tree sees from a C frame (see evaluate.Evaluator)."""

    __slots__ = ("m", "frame")

    def __init__(self, machine: Machine, frame: Frame):
        self.m = machine
        self.frame = frame

    def evaluate(self, tree):
        return Evaluator(self).value(tree)

    def var(self, name: str):
        for key, value in self.frame.locals:
            if key == name:
                return value
        return UNKNOWN

    def global_value(self, name: str):
        return self.m.read(("heap", ("global", name), ""))

    def read(self, tree):
        seen = dict(self.frame.seen)
        if tree in seen:
            return seen[tree]
        if tree[0] == "[]":
            base, index = self.evaluate(tree[2]), self.evaluate(tree[3])
            return self.m.world.engine.index(self.m, base, index)
        return self.m.read(self.locate(tree), tree[1], tree[3] if tree[0] == "field" else "")

    def stored(self, tree):
        """What an assignment inside an expression stored (its event ran before)."""
        if tree[0] == "var":
            return self.var(tree[2])
        return dict(self.frame.seen).get(tree, UNKNOWN)

    def locate(self, tree):
        """Where an lvalue lives: ("heap", object key, field path), ("ev", event, field) for a
        field of a ring event, or None."""
        kind = tree[0]
        if kind == "field":
            base, name, arrow = tree[2], tree[3].rsplit(".", 1)[-1], tree[4]
            if not arrow:
                if base[0] == "[]":                    # a[i].f: the element a[i] designates
                    return self.field_of(self.read(base), name)
                inner = self.locate(base)
                if inner is not None and inner[0] == "heap":
                    return "heap", inner[1], f"{inner[2]}.{name}" if inner[2] else name
                return None
            return self.field_of(self.evaluate(base), name)
        if kind == "*":
            pointer = self.evaluate(tree[2])
            if isinstance(pointer, tuple) and pointer[0] == "addr":
                return "heap", pointer[1], pointer[2]
        return None

    @staticmethod
    def field_of(pointer, name: str):
        if not isinstance(pointer, tuple):
            return None
        if pointer[0] == "obj":
            return "heap", pointer[1], name
        if pointer[0] == "addr":
            return "heap", pointer[1], f"{pointer[2]}.{name}"
        if pointer[0] == "ev":
            return "ev", pointer, name
        return None

    def address(self, tree):
        kind = tree[0]
        if kind == "var":
            return "local", tree[2]
        if kind == "func":
            return "func", tree[2]
        if kind == "[]":
            return self.read(tree)
        loc = self.locate(tree)
        if loc is None:
            return UNKNOWN
        if loc[0] == "ev":
            return loc[1]
        return "addr", loc[1], loc[2]

    def call(self, name: str, line: int, col: int):
        site = (name, line, col)
        for key, result in reversed(self.frame.calls):
            if key == site:
                return result
        return self.m.world.engine.pure_call(name)

    def unknown(self, what: str, tree) -> None:
        self.m.world.unknown(what, tree)


def facts_after(facts: tuple, block, edge) -> tuple | None:
    """The frame's facts after taking `edge` out of `block` on an unknown condition, or None
    if the edge contradicts them."""
    atoms = conditions.decision(block, edge)
    if not atoms:
        return facts
    if conditions.contradicts(facts, atoms):
        return None
    return tuple(dict.fromkeys(facts + atoms))

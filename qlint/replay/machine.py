"""The replay machine: threads that interpret the analysed code's IR, over the reference engine.

A state is plain data (a heap of object fields, the engine's tables, each thread's stack of
frames), copied on every transition and hashable, so the scheduler can explore it and remember
where it has been. A thread runs until its next *visible* operation (a lock operation, an access
to a field some thread writes, a call of an engine primitive that touches shared state); the
scheduler chooses which thread performs its visible operation next. Everything in between is
local to the thread and runs at once.

Frames are C functions ("c") interpreted block by block, and the engine's drivers (aio_poll,
iothread_run, the main loop, ...; see engine.py) that call them.
"""
from __future__ import annotations

from typing import NamedTuple

from ..facts import ctype
from ..facts.ir import ENTRY, EXIT, Access, Assign, Call, Return
from .evaluate import Evaluator, arithmetic
from .values import UNKNOWN, show


DRIVERS = {"aio_poll": "aio_poll", "run": "dispatch", "drain": "bdrv_drain",
           "drainpoll": "bdrv_drained_begin",
           "mainloop": "main_loop_wait", "iothread": "iothread_run", "guest": "guest vCPU",
           "seq": "setup"}


class Frame(NamedTuple):
    kind: str                    # "c", or a driver of engine.py
    func: str = ""               # c: the function's key
    block: int = ENTRY
    index: int = 0
    locals: tuple = ()           # c: sorted (name, value) pairs
    seen: tuple = ()             # c: (lvalue tree, value) the frame last read or wrote
    calls: tuple = ()            # c: ((name, line, col), result) of its most recent calls
    ret: object = None           # c: the value of the executed `return`
    loops: int = 0               # c: back edges taken
    goal: str = ""               # c: the call on the finding's path this frame is to reach
    pc: int = 0                  # driver: where it is
    data: tuple = ()             # driver: its own state


class Thread(NamedTuple):
    name: str
    frames: tuple = ()
    done: str = ""               # "" running, "finished", or why a bound cut it


class Violation(NamedTuple):
    invariant: str               # completion-twice, counter-wrap, race, guest-in-drained, ...
    message: str
    thread: str
    values: tuple = ()           # (name, value) pairs: the concrete violated values


class Entry(NamedTuple):
    """One line of the timeline: what a thread did, and where."""
    thread: str
    path: str
    line: int
    function: str
    text: str
    violation: bool = False
    step: int = 0                # the scheduling step it belongs to (0: before the first)


RECENT_CALLS = 4                 # call results a frame keeps for the trees that read them


def _set(pairs: tuple, key, value) -> tuple:
    d = dict(pairs)
    d[key] = value
    return tuple(sorted(d.items(), key=lambda kv: str(kv[0])))


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

    def fail(self, invariant: str, message: str, values=()) -> None:
        v = Violation(invariant, message, self.thread.name, tuple(values))
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

    def location(self):
        """(file, line, function) of the running thread's innermost C frame, or ("", 0, the
        engine driver) when the engine itself acts."""
        for frame in reversed(self.thread.frames):
            if frame.kind == "c":
                fn = self.world.program.functions[frame.func]
                events = fn.blocks[frame.block].events
                ev = events[frame.index] if frame.index < len(events) else None
                return self.world.rel(fn.file), getattr(ev, "line", 0) or fn.line, fn.name
        frames = self.thread.frames
        return "", 0, DRIVERS.get(frames[-1].kind, frames[-1].kind) if frames else ""

    # ---- scheduling -----------------------------------------------------------------------

    def blocked(self, i: int) -> bool:
        """Is thread i waiting (for a lock another thread holds)?"""
        saved, self.t = self.t, i
        try:
            op = self.peek()
            return op is not None and op[0] == "acquire" and \
                not self.world.engine.can_acquire(self, op[1])
        finally:
            self.t = saved

    def enabled(self) -> list[int]:
        return [i for i, th in enumerate(self.threads) if not th.done and not self.blocked(i)]

    def step(self, i: int) -> None:
        """Thread i performs its visible operation, then runs to its next one."""
        self.t = i
        self.execute()
        self.advance()
        self.check_end()

    def advance(self) -> None:
        for _ in range(100000):
            if self.thread.done or self.violation or self.peek() is not None:
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
        if isinstance(event, Access) and event.mode != "addr" and self.world.is_shared(event):
            return ("access", event.path)
        return None

    def execute(self) -> None:
        frame = self.frame
        if frame.kind != "c":
            self.world.engine.run(self, frame)
        else:
            self.interpret(frame)

    def check_end(self) -> None:
        if self.violation or self.cut:
            return
        if all(th.done for th in self.threads):
            self.world.engine.end_of_scenario(self)
        elif not self.enabled():
            self.world.engine.deadlock(self)

    # ---- the C interpreter --------------------------------------------------------------

    def function(self, frame: Frame):
        return self.world.program.functions[frame.func]

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
            frame = self.access(frame, event)
        elif isinstance(event, Assign):
            frame = self.assign(frame, event)
        elif isinstance(event, Return):
            frame = frame._replace(ret=self.evaluate(frame, event.value)
                                   if event.value is not None else None)
        self.set_frame(frame._replace(index=frame.index + 1))

    def evaluate(self, frame: Frame, tree):
        return Evaluator(Env(self, frame)).value(tree) if tree is not None else UNKNOWN

    def assign(self, frame: Frame, event: Assign) -> Frame:
        if event.op == "&":
            return frame                     # its address is taken: what it holds is unchanged
        target = event.target
        for name in event.names:
            if target is not None and target[0] == "global":
                old = self.heap.get(("global", name), UNKNOWN)
            else:
                old = dict(frame.locals).get(name, UNKNOWN)
            value = self.combined(frame, event.op, old, event.expr)[0]
            if target is not None and ctype.is_integer(target[1]) and isinstance(value, int):
                value = ctype.wrap(value, target[1])
            if target is not None and target[0] == "global":
                self.heap[("global", name)] = value
            else:
                frame = frame._replace(locals=_set(frame.locals, name, value))
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

    def access(self, frame: Frame, event: Access) -> Frame:
        env = Env(self, frame)
        loc = (env.locate(event.lvalue) if event.lvalue is not None else None) or \
            self.world.fallback_location(event)
        key = event.lvalue or event.text
        old = self.read(loc)
        shared = loc is not None and self.world.is_shared(event)
        if event.mode == "r":
            if shared:
                self.note(f"reads {event.text} = {show(old)}")
            self.guard(event, write=False)
            return frame._replace(seen=_set(frame.seen, key, old))
        new, subtracted = self.combined(frame, event.op, old, event.value)
        t = event.lvalue[1] if event.lvalue is not None else ""
        wrapped = subtracted and isinstance(new, int) and ctype.is_unsigned(t) and t != "b" and \
            (new < 0 or event.op == "=")
        if isinstance(new, int) and ctype.is_integer(t):
            new = ctype.wrap(new, t)
        if shared:
            self.note(self.describe_write(event, old, new))
        if wrapped:
            self.fail("counter-wrap", f"{event.text} wraps: {show(old)} → {new:#x} "
                      f"({event.field} is a {ctype.bits(t)}-bit unsigned counter)",
                      ((event.path, new),))
        self.write(loc, new)
        self.guard(event, write=True)
        return frame._replace(seen=_set(frame.seen, key, new))

    @staticmethod
    def describe_write(event: Access, old, new) -> str:
        if event.mode in ("inc", "dec"):
            sign = "++" if event.mode == "inc" else "--"
            shown = f"{new:#x}" if isinstance(new, int) and new > 0xffff else show(new)
            return f"{event.text}{sign} ({show(old)} → {shown})"
        return f"{event.text} = {show(new)}"

    def guard(self, event: Access, write: bool) -> None:
        """The lockset check of a field the pack marks as protected."""
        lock = self.world.protected(event)
        if lock is None or self.thread.name == "setup":
            return
        field = event.path if event.path in self.world.protects else event.field
        held = self.world.engine.holds(self, lock)
        me = (self.thread.name, write, held)
        key = ("seen", field)
        seen = self.eng.get(key, frozenset())
        for other, other_write, other_held in sorted(seen):
            if other != me[0] and (write or other_write) and not (held and other_held):
                who = [f"{me[0]} {'writes' if write else 'reads'} it "
                       f"{'with' if held else 'without'} {lock}",
                       f"{other} {'wrote' if other_write else 'read'} it "
                       f"{'with' if other_held else 'without'} {lock}"]
                self.fail("race", f"race on {field} (protected by {lock}): " + ", ".join(who),
                          ((field, self.read(self.world.fallback_location(event))),))
                break
        if me not in seen:
            self.eng[key] = seen | {me}

    def read(self, loc):
        if loc is None:
            return UNKNOWN
        if loc[0] == "ev":
            return self.world.engine.event_field(self, loc[1], loc[2])
        return self.heap.get((loc[1], loc[2]), self.world.default(loc[1], loc[2]))

    def write(self, loc, value) -> None:
        if loc is not None and loc[0] == "heap":
            self.heap[(loc[1], loc[2])] = value

    def branch(self, frame: Frame) -> None:
        fn = self.function(frame)
        edge = self.world.choose(self, frame, fn, fn.blocks[frame.block].succs)
        if edge is None:
            return self.pop(frame.ret)
        loops = frame.loops + ((frame.block, edge.target) in self.world.back_edges(fn))
        if loops > self.world.bounds["loop"]:
            return self.stop(f"loop bound ({self.world.bounds['loop']}) reached in {fn.name}()")
        self.set_frame(frame._replace(block=edge.target, index=0, loops=loops))

    def returned(self, frame: Frame, result) -> None:
        """A call of this C frame returned `result`: record it and go on."""
        event = self.event(frame)
        site = (event.name, event.line, event.col)
        calls = tuple(c for c in frame.calls if c[0] != site)[-(RECENT_CALLS - 1):]
        frame = frame._replace(calls=calls + ((site, result),), index=frame.index + 1)
        if event.result:
            frame = frame._replace(locals=_set(frame.locals, event.result, result))
        if frame.goal and self.world.reaches_goal(event, frame.goal):
            frame = frame._replace(goal="")
        self.set_frame(frame)

    def set_local(self, name: str, value) -> None:
        frame = self.frame
        if frame.kind == "c":
            self.set_frame(frame._replace(locals=_set(frame.locals, name, value)))

    def c_frame(self, key: str, args) -> Frame:
        fn = self.world.program.functions[key]
        locals_ = tuple(sorted(zip(fn.params, args)))
        return Frame("c", func=key, locals=locals_, goal=self.world.goals.get(fn.name, ""))


class Env:
    """What an expression tree sees from a C frame (see evaluate.Evaluator)."""

    def __init__(self, machine: Machine, frame: Frame):
        self.m = machine
        self.frame = frame
        self.locals = dict(frame.locals)

    def evaluate(self, tree):
        return Evaluator(self).value(tree)

    def var(self, name: str):
        return self.locals.get(name, UNKNOWN)

    def global_value(self, name: str):
        return self.m.heap.get(("global", name), UNKNOWN)

    def read(self, tree):
        seen = dict(self.frame.seen)
        if tree in seen:
            return seen[tree]
        if tree[0] == "[]":
            base, index = self.evaluate(tree[2]), self.evaluate(tree[3])
            return self.m.world.engine.index(self.m, base, index)
        return self.m.read(self.locate(tree))

    def stored(self, tree):
        """What an assignment inside an expression stored (its event ran before)."""
        if tree[0] == "var":
            return self.locals.get(tree[2], UNKNOWN)
        return dict(self.frame.seen).get(tree, UNKNOWN)

    def locate(self, tree):
        """Where an lvalue lives: ("heap", object key, field path), ("ev", event, field) for a
        field of a ring event, or None."""
        kind = tree[0]
        if kind == "field":
            base, name, arrow = tree[2], tree[3].rsplit(".", 1)[-1], tree[4]
            if not arrow:
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
        return UNKNOWN

    def unknown(self, what: str) -> None:
        self.m.world.unknown(what)

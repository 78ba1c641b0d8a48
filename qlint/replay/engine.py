"""The reference AIO engine: QEMU's event-loop primitives, executable (docs/replay.md lists each
one with the QEMU source it mirrors).

The analysed code supplies what happens; the engine supplies only what QEMU's primitives do:
AioContext locks, bottom halves, fd / event-notifier handlers and external events, timers,
threads, drained sections, deferral to the main loop, coroutines, the kernel's AIO ring; its
drivers (drivers.py) run the threads: aio_poll(), the main loop, IOThreads, the guest. Its
state lives in the machine's `eng` table as immutable values keyed by tuples:

    ("lock", (class, instance))  (owner, where each nested acquire happened)
    ("bhs", ctx)                 BH ids of a context, in creation order
    ("bh", id)                   BH(ctx, cb, opaque, scheduled, oneshot, deleted, lock, label,
                                 fires): `fires` is how often the environment may schedule it
    ("handlers", ctx)            Handler records of a context, in registration order
    ("notifier", value)          1 if the notifier is set
    ("fires", handler)           how often the environment may still make a handler ready
    ("timer", id), ("timers", ctx)  Timer records, a context's timers
    ("spawned",)                 thread start routines created (qemu_thread_create)
    ("ext", ctx)                 external_disable_cnt
    ("ring",)                    (slots, head, tail) of the kernel's AIO completion ring
    ("woken",)                   coroutines that waited before the scenario and were woken
    ("drained",)                 where the open drained sections began (a stack)
    ("in-flight",), ("queued",)  the node's guest requests in flight; held back while drained
    ("co", id), ("cosched", ctx) coroutines created; coroutines scheduled on a context
    ("start", key, path)         a start value the scenario chose (World.initial_value)
"""
from __future__ import annotations

from ..analysis.semantics import instance_of
from ..facts.ir import Access, Call
from .drivers import (BH, COMPLETE, GUEST, Drivers, Handler, Item, Timer, at, poll_frame,
                      run_frame)
from .machine import Env, Frame
from .values import UNKNOWN, object_name, show, truth

# Primitive ops that touch state another thread can see: scheduling points.
VISIBLE_OPS = frozenset({
    "bh_schedule", "bh_cancel", "bh_delete", "bh_oneshot", "notifier_set",
    "notifier_test_and_clear", "external_disable", "external_enable", "drained_begin",
    "drained_end", "defer", "co_enter", "co_wake", "co_yield", "ring_peek", "ring_commit",
    "ring_advance_and_peek", "io_submit", "timer_mod", "timer_del"})
PUSHED = object()                 # the primitive pushed a frame; its result comes on return
# How the timeline names the calls satisfy.py inserts.
PATCH_WORDS = {"@begin": "(rule satisfied) begin {}", "@end": "(rule satisfied) end {}",
               "@drop": "(rule satisfied) release {}", "@retake": "(rule satisfied) retake {}",
               "@end-held": "(rule satisfied) end the {} left held",
               "@end-if-held": "(rule satisfied) end {} if held", "@nop": "(rule satisfied)"}


class Engine(Drivers):
    """QEMU's primitives, as the analysed code calls them; the drivers (drivers.py) run the
    threads."""

    def __init__(self, world):
        self.world = world
        self._triggered = None

    # ---- calls from the analysed code ---------------------------------------------------

    def lock_ops(self, m, frame, call):
        """(begin|end, lock id, recursive) of a call the pack calls a lock operation. A lock
        guard (QEMU_LOCK_GUARD) holds the id of the lock it took; its cleanup releases that.
        An AioContext lock is the context's; another lock is the object its argument names
        (the same identity as the analysis: "Record.field", a global, or the spelling)."""
        out = []
        for op in self.world.sem.section_ops(call):
            section = self.world.section(op.section)
            if section is None or section.kind != "lock" or op.op not in ("begin", "end"):
                continue
            guard = dict(frame.locals).get(op.handle, UNKNOWN) if op.handle else UNKNOWN
            if isinstance(guard, tuple) and guard[0] == "guard":
                out.append((op.op, guard[1], section.recursive))
                continue
            if op.handle_only or guard == 0:
                continue                               # a spent guard (set to NULL)
            out.append((op.op, self.lock_id(m, frame, call, op.section, section),
                        section.recursive))
        return out

    def lock_id(self, m, frame, call, name: str, section) -> tuple:
        if name == "AioContext":
            arg = call.args[section.arg] if section.arg < len(call.args) else None
            value = self.arg_value(m, frame, arg) if arg is not None else UNKNOWN
            return name, value[1] if isinstance(value, tuple) and value[0] == "ctx" else \
                self.world.node_ctx                     # an AioContext the model cannot tell
        return name, instance_of(call, section.arg) or name

    def is_lock_call(self, call) -> bool:
        return any(op.op in ("begin", "end") and self.world.sem.kinds.get(op.section) == "lock"
                   for op in self.world.sem.section_ops(call))

    def classify(self, m, frame, call):
        if call.name.startswith("@"):
            return self.patch_op(m, frame, call)
        ops = self.lock_ops(m, frame, call)
        if ops:
            kind, lock, _rec = ops[0]
            return ("acquire" if kind == "begin" else "release", lock)
        prim = self.world.primitive(call)
        if prim is not None and prim.op in VISIBLE_OPS:
            return ("prim", prim.op)
        return None

    def call(self, m, frame, call) -> None:
        if call.name.startswith("@"):
            if self.patch_action(m, frame, call) is not PUSHED:
                m.returned(m.frame, None)
            return None
        ops = self.lock_ops(m, frame, call)
        if ops or self.is_lock_call(call):
            taken = None
            for kind, lock, recursive in ops:
                (self.acquire if kind == "begin" else self.release)(m, lock, recursive, call)
                taken = ("guard", lock) if kind == "begin" else taken
            return m.returned(m.frame, taken)
        if self.world.quiet and self.world.reaches_goal(call, self.world.quiet):
            self.check_quiet(m)
            if m.violation:
                return None
        args = [self.arg_value(m, frame, a) for a in call.args]
        prim = self.world.primitive(call)
        if prim is not None:
            result = getattr(self, "op_" + prim.op)(m, call, prim, args)
            if result is not PUSHED:
                m.returned(m.frame, result)
            return
        target = self.world.target(call)
        if target is not None:
            return m.push(m.c_frame(target, args))
        for a in call.args:                            # an out-parameter of unknown code
            if a.expr is not None and a.expr[0] == "&" and a.expr[2][0] == "var":
                m.set_local(a.expr[2][2], UNKNOWN)
        m.returned(m.frame, UNKNOWN)

    @staticmethod
    def arg_value(m, frame, arg):
        return Env(m, frame).evaluate(arg.expr) if arg.expr is not None else UNKNOWN

    @staticmethod
    def role(prim, args, role: str, default=UNKNOWN):
        pos = prim.args.get(role)
        return args[pos] if pos is not None and pos < len(args) else default

    def func_of(self, prim, call, role: str) -> str | None:
        """The analysed function passed as `role` (a callback), or None."""
        arg = prim.arg(call, role)
        if arg is None:
            return None
        for f in arg.funcs:
            for key in self.world.program.targets_of_key(f):
                return key
        return None

    def context_of(self, m, value) -> str:
        if isinstance(value, tuple) and value[0] == "ctx":
            return value[1]
        return self.world.node_ctx

    def pure_call(self, name: str):
        """The value of a call the model knows without running it (a context getter), for a
        tree whose call event did not run here (a rule-satisfied program's own calls)."""
        prim = self.world.model.primitives.get(name, ())
        op = next((p for p in prim if p.op == "context"), None)
        if op is None:
            return UNKNOWN
        return "ctx", self.world.node_ctx if op.context == "node" else op.context

    @staticmethod
    def spelled(call) -> str:
        if call.name in PATCH_WORDS:                   # a call the rule-satisfied program adds
            return PATCH_WORDS[call.name].format(call.via)
        args = ", ".join(a.text for a in call.args)
        return getattr(call, "text", "") or f"{call.macro or call.name}({args})"

    def can_run(self, m, op) -> bool:
        """Can a thread perform `op` now (a lock another thread holds, a blocking wait with
        nothing to wake it)?"""
        if op[0] == "acquire":
            return self.can_acquire(m, op[1])
        if op[0] == "wait":
            return self.has_work(m, op[1])
        if op[0] == "idle":
            return any(self.has_work(m, ctx) for ctx in op[1])
        return True

    def check_quiet(self, m) -> None:
        """A function that needs the node drained (QL203's [[inside]]) called while one of the
        node's requests is in flight."""
        if m.eng.get(("in-flight",), 0):
            m.fail("request-in-flight", f"{self.world.quiet}() runs while a request of the node "
                   f"is in flight (no drained section quiesces it)",
                   (("BlockDriverState.in_flight", m.eng[("in-flight",)]),), ("node",))

    # ---- locks --------------------------------------------------------------------------

    def can_acquire(self, m, lock) -> bool:
        owner, where = m.eng.get(("lock", lock), ("", ()))
        return not where or owner == m.thread.name

    def acquire(self, m, lock, recursive: bool, call) -> None:
        """Take a lock; `where` stacks the places it was taken (recursive locks nest)."""
        owner, where = m.eng.get(("lock", lock), ("", ()))
        if where and not recursive:
            return m.fail("deadlock", f"{m.thread.name} acquires {self.lock_name(lock)} again, "
                          f"which it holds and which is not recursive", (), ("lock", lock))
        m.eng[("lock", lock)] = (m.thread.name, where + (m.location(),))
        m.touch(("lock", lock))
        m.note(f"{self.spelled(call)}: takes {self.lock_name(lock)} (count {len(where) + 1})")

    def release(self, m, lock, _recursive: bool, call) -> None:
        owner, where = m.eng.get(("lock", lock), ("", ()))
        if not where or owner != m.thread.name:
            return m.fail("unlock-not-held", f"{self.spelled(call)} releases "
                          f"{self.lock_name(lock)}, which {m.thread.name} does not hold",
                          ((self.lock_name(lock), len(where)),), ("lock", lock))
        # A release undoes the latest acquire of the same function (which one a recursive
        # mutex pairs it with is unknowable; this names the acquire that leaked).
        function = m.location()[2]
        mine = [i for i, w in enumerate(where) if w[2] == function]
        drop = mine[-1] if mine else len(where) - 1
        m.eng[("lock", lock)] = (owner if len(where) > 1 else "", where[:drop] + where[drop + 1:])
        m.note(f"{self.spelled(call)}: releases {self.lock_name(lock)} (count {len(where) - 1})")

    def holds(self, m, lock_class: str) -> bool:
        return any(lock[0] == lock_class for lock in self.held(m))

    def held(self, m) -> frozenset:
        """The locks the running thread holds."""
        me = m.thread.name
        return frozenset(k[1] for k, v in m.eng.items() if k[0] == "lock" and v[0] == me and v[1])

    @staticmethod
    def lock_name(lock) -> str:
        cls, instance = lock
        return f"{cls} lock of {instance}" if cls == "AioContext" else f"{cls} {instance}"

    # ---- the rule satisfied (satisfy.py inserts these calls) -------------------------------

    def is_lock(self, name: str) -> bool:
        section = self.world.section(name)
        return section is not None and section.kind == "lock"

    def patch_op(self, m, frame, call):
        """The visible operation of an inserted call, or None."""
        action, name = call.name, call.via
        if action == "@nop":
            return None
        if not self.is_lock(name):
            return "prim", action
        if action in ("@begin", "@retake"):
            taken = self.patch_retaken(m, name) if action == "@retake" else \
                [self.patch_lock(m, name)]
            return ("acquire", taken[0]) if taken else None
        mine = self.patch_held(m, name, action)
        return ("release", mine[0]) if mine else None

    def patch_action(self, m, frame, call) -> None:
        action, name = call.name, call.via
        if action == "@nop":
            return None
        if self.is_lock(name):
            if action == "@begin":
                return self.acquire(m, self.patch_lock(m, name), True, call)
            if action == "@retake":
                for lock in m.eng.pop(("dropped", m.thread.name), ()):
                    self.acquire(m, lock, True, call)
                return None
            mine = self.patch_held(m, name, action)
            if action == "@drop":
                m.eng[("dropped", m.thread.name)] = tuple(mine)
            for lock in mine:
                self.release(m, lock, True, call)
            return None
        # A section left open is ended whoever began it (a deferral hands it over); one ended
        # without being begun is ended only if this function began it.
        if action in ("@end-held", "@end-if-held") and \
                not self.section_open(m, name, mine=action == "@end-if-held"):
            return None
        return self.section_action(m, name, begin=action == "@begin")

    def patch_lock(self, m, name: str) -> tuple:
        """The lock an inserted acquire takes: the node's context for the AioContext lock,
        else the instance the program's own acquires of that lock take."""
        if name == "AioContext":
            return name, self.world.node_ctx
        return name, self.world.patch_instance(name)

    def patch_retaken(self, m, name: str) -> list:
        return list(m.eng.get(("dropped", m.thread.name), ()))

    def patch_held(self, m, name: str, action: str) -> list:
        """The locks of class `name` an inserted release releases: the one taken by the
        inserted acquire (@end), every one the thread holds (@drop), those this function took
        and still holds (@end-held, at its exit), or, in place of a release of a lock it may
        not have taken, the last of those (@end-if-held)."""
        held = self.held(m)
        if action == "@end":
            lock = self.patch_lock(m, name)
            return [lock] if lock in held else []
        mine = sorted(lock for lock in held if lock[0] == name)
        if action in ("@end-held", "@end-if-held"):
            function = m.location()[2]
            mine = [lock for lock in mine if any(w[2] == function for w in
                                                 m.eng[("lock", lock)][1])]
        return mine[-1:] if action == "@end-if-held" else mine

    def section_open(self, m, name: str, mine: bool = False) -> bool:
        """Is the section open (begun by the running function, with `mine`)?"""
        item = self.section_item(name)
        if item == ("drained",):
            begun = m.eng.get(("drained",), ())
        elif item is not None and item[0] == "ext":
            begun = m.eng.get(("ext-at", item[1]), ())
        else:
            return False
        if mine:
            function = m.location()[2]
            return any(where[2] == function for where in begun)
        return bool(begun)

    def section_action(self, m, name: str, begin: bool) -> None:
        """Begin or end a section as its pack spells it (`aio_disable_external(
        iohandler_get_aio_context())`): the primitive of its first begin/end matcher, with
        the context getters its arguments name."""
        found = self.section_primitive(name, begin)
        if found is None:
            return None
        prim, args, call = found
        return getattr(self, "op_" + prim.op)(m, call, prim, args)

    def section_primitive(self, name: str, begin: bool):
        section = self.world.section(name)
        matchers = (section.begin if begin else section.end) if section is not None else ()
        for matcher in matchers:
            call = Call(matcher.name, 0, 0)
            prim = self.world.primitive(call)
            if prim is None:
                continue
            args = [self.pure_call(a[:-2]) if a and a.endswith("()") else UNKNOWN
                    for a in (matcher.args or ())]
            return prim, args, call
        return None

    # ---- bottom halves ------------------------------------------------------------------

    def new_bh(self, m, bh: BH) -> tuple:
        n = m.eng.get(("next",), 0)
        m.eng[("next",)] = n + 1
        m.eng[("bh", n)] = bh
        m.eng[("bhs", bh.ctx)] = m.eng.get(("bhs", bh.ctx), ()) + (n,)
        return "bh", n

    def op_bh_new(self, m, call, prim, args):
        ctx = prim.context or self.context_of(m, self.role(prim, args, "ctx"))
        func = self.func_of(prim, call, "cb")
        fires = 0 if self.triggered_by_code(m, call, ("bh_schedule",)) else \
            self.world.bounds["fires"]
        return self.new_bh(m, BH(ctx, func, (self.role(prim, args, "opaque"),),
                                 label=f"bh {self.world.name_of(func)}", fires=fires))

    def triggered_by_code(self, m, call, ops) -> bool:
        """Does analysed code apply one of `ops` (bh_schedule, timer_mod) to the object a
        creating call returns? It does when the field it is stored into is an argument of
        such a call somewhere; otherwise code outside the analysed files does, so the
        environment may."""
        if self._triggered is None:
            self._triggered = {}
            for fn in self.world.functions.values():
                for block in fn.blocks:
                    for e in block.events:
                        if isinstance(e, Call) and e.args:
                            prim = self.world.primitive(e)
                            if prim is not None:
                                self._triggered.setdefault(prim.op, set()).add(e.args[0].key)
        frame = m.frame
        site = (call.name, call.line, call.col)
        for e in m.function(frame).blocks[frame.block].events if frame.kind == "c" else ():
            if isinstance(e, Access) and e.value is not None and e.value[0] == "call" and \
                    (e.value[2], e.value[3], e.value[4]) == site:
                return any(e.field in self._triggered.get(op, ()) for op in ops)
        return False

    def _bh(self, m, value):
        if isinstance(value, tuple) and value[0] == "bh" and ("bh", value[1]) in m.eng:
            return ("bh", value[1]), m.eng[("bh", value[1])]
        return None, None

    def op_bh_schedule(self, m, call, prim, args):
        key, bh = self._bh(m, args[0] if args else UNKNOWN)
        if bh is not None and not bh.deleted:
            m.eng[key] = bh._replace(scheduled=1)
        m.note(f"{self.spelled(call)}" + (f": schedules {bh.label} on {bh.ctx}" if bh else ""))

    def op_bh_cancel(self, m, call, prim, args):
        key, bh = self._bh(m, args[0] if args else UNKNOWN)
        if bh is not None:
            m.eng[key] = bh._replace(scheduled=0)
        m.note(f"{self.spelled(call)}" + (f": cancels {bh.label}" if bh else ""))

    def op_bh_delete(self, m, call, prim, args):
        key, bh = self._bh(m, args[0] if args else UNKNOWN)
        if bh is not None:
            m.eng[key] = bh._replace(scheduled=0, deleted=1)
        m.note(self.spelled(call))

    def op_bh_oneshot(self, m, call, prim, args):
        ctx = self.context_of(m, self.role(prim, args, "ctx"))
        func = self.func_of(prim, call, "cb")
        self.new_bh(m, BH(ctx, func, (self.role(prim, args, "opaque"),), scheduled=1,
                          oneshot=1, label=f"oneshot bh {self.world.name_of(func)}"))
        m.note(f"{self.spelled(call)}: schedules {self.world.name_of(func)}() on {ctx}")

    def op_defer(self, m, call, prim, args):
        func = self.func_of(prim, call, "cb")
        values = tuple(self.role(prim, args, r) for r in prim.callback)
        self.new_bh(m, BH("main", func, values, scheduled=1, oneshot=1, lock=self.world.node_ctx,
                          label=f"deferred {self.world.name_of(func)}"))
        m.note(f"{self.spelled(call)}: defers {self.world.name_of(func)}() to the main loop")

    # ---- handlers, notifiers, external events -------------------------------------------

    def op_set_handler(self, m, call, prim, args):
        ctx = prim.context or self.context_of(m, self.role(prim, args, "ctx"))
        notifier = self.role(prim, args, "notifier")
        roles = {r: self.func_of(prim, call, r) for r in ("io_read", "io_poll", "io_poll_ready")}
        handlers = tuple(h for h in m.eng.get(("handlers", ctx), ()) if h.notifier != notifier)
        if any(roles.values()):
            external = truth(self.role(prim, args, "external", 0))
            handler = Handler(notifier, roles["io_read"], roles["io_poll"],
                              roles["io_poll_ready"], self.role(prim, args, "opaque"),
                              int(external is True))
            handlers += (handler,)
            if handler.io_read:
                m.eng[("fires", handler)] = self.world.bounds["fires"]
        m.eng[("handlers", ctx)] = handlers

    def op_notifier_set(self, m, call, prim, args):
        m.eng[("notifier", args[0] if args else UNKNOWN)] = 1
        m.note(self.spelled(call))

    def op_notifier_test_and_clear(self, m, call, prim, args):
        key = ("notifier", args[0] if args else UNKNOWN)
        was = m.eng.get(key, 0)
        m.eng[key] = 0
        m.note(f"{self.spelled(call)} = {was}")
        return was

    def op_external_disable(self, m, call, prim, args):
        ctx = self.context_of(m, self.role(prim, args, "ctx"))
        self.external(m, ctx, +1, self.spelled(call))

    def op_external_enable(self, m, call, prim, args):
        ctx = self.context_of(m, self.role(prim, args, "ctx"))
        self.external(m, ctx, -1, self.spelled(call))

    def external(self, m, ctx: str, delta: int, what: str) -> None:
        count = m.eng.get(("ext", ctx), 0) + delta
        if count < 0:
            return m.fail("unbalanced-end", f"{what}: external_disable_cnt of {ctx} would drop "
                          f"below 0 (enabled more often than disabled)",
                          ((f"{ctx}.external_disable_cnt", -1),), ("ext", ctx))
        m.eng[("ext", ctx)] = count
        where = m.eng.get(("ext-at", ctx), ())
        m.eng[("ext-at", ctx)] = where + (m.location(),) if delta > 0 else where[:-1]
        m.touch(("ext", ctx))
        m.note(f"{what}: external events of {ctx} {'disabled' if count else 'enabled'} "
               f"(count {count})")

    def op_context(self, m, call, prim, args):
        which = prim.context
        if which == "node":
            return "ctx", self.world.node_ctx
        if which == "current":
            return "ctx", self.world.home_ctx(m.thread.name)
        return "ctx", which

    def op_aio_poll(self, m, call, prim, args):
        ctx = self.context_of(m, self.role(prim, args, "ctx"))
        blocking = truth(self.role(prim, args, "blocking", 0)) is True
        m.push(poll_frame(ctx, dispatch_only=False, blocking=blocking))
        return PUSHED

    # ---- timers and threads -------------------------------------------------------------

    def op_timer_new(self, m, call, prim, args):
        ctx = prim.context or self.context_of(m, self.role(prim, args, "ctx"))
        func = self.func_of(prim, call, "cb")
        n = m.eng.get(("next",), 0)
        m.eng[("next",)] = n + 1
        fires = 0 if self.triggered_by_code(m, call, ("timer_mod",)) else \
            self.world.bounds["fires"]
        m.eng[("timer", n)] = Timer(ctx, func, (self.role(prim, args, "opaque"),), 0, fires,
                                    f"timer {self.world.name_of(func)}")
        m.eng[("timers", ctx)] = m.eng.get(("timers", ctx), ()) + (n,)
        given = self.role(prim, args, "timer", None)
        if given is not None:
            m.eng[("timer-of", given)] = n
        return "timer", n

    def _timer(self, m, value):
        n = value[1] if isinstance(value, tuple) and value[0] == "timer" else \
            m.eng.get(("timer-of", value))
        return (("timer", n), m.eng[("timer", n)]) if ("timer", n) in m.eng else (None, None)

    def op_timer_mod(self, m, call, prim, args):
        key, timer = self._timer(m, self.role(prim, args, "timer"))
        if timer is not None:
            m.eng[key] = timer._replace(armed=1)
        m.note(self.spelled(call) + (f": arms {timer.label}" if timer else ""))

    def op_timer_del(self, m, call, prim, args):
        key, timer = self._timer(m, self.role(prim, args, "timer"))
        if timer is not None:
            m.eng[key] = timer._replace(armed=0, fires=0)
        m.note(self.spelled(call))

    def op_thread_create(self, m, call, prim, args):
        func = self.func_of(prim, call, "cb")
        if func is not None:
            m.eng[("spawned",)] = m.eng.get(("spawned",), ()) + \
                ((func, self.role(prim, args, "opaque")),)
        return None

    def started_threads(self, m) -> list:
        """Threads the setup created (qemu_thread_create): each runs its start routine."""
        out = []
        for func, opaque in m.eng.pop(("spawned",), ()):
            name = f"thread {self.world.name_of(func)}"
            out.append((name, (run_frame(Item(func, (opaque,), "", name)),)))
        return out

    def callbacks(self, m) -> list:
        """The analysed functions the setup registered: BHs, handlers, timers, coroutines."""
        out = []
        for key, value in m.eng.items():
            if key[0] in ("bh", "timer") and value.cb:
                out.append(value.cb)
            elif key[0] == "handlers":
                out += [f for h in value for f in (h.io_read, h.io_poll, h.io_poll_ready) if f]
            elif key[0] == "co" and value[0]:
                out.append(value[0])
        return sorted(set(out) - {GUEST, COMPLETE})

    # ---- drained sections ---------------------------------------------------------------

    def op_drained_begin(self, m, call, prim, args):
        m.eng[("drained",)] = m.eng.get(("drained",), ()) + (m.location(),)
        m.touch(("drained",))
        m.note(f"{self.spelled(call)}: the node is drained (quiesce_counter "
               f"{len(m.eng[('drained',)])})")
        # block/io.c (2.x-8.1): bdrv_do_drained_begin() disables the node's context's external
        # handlers while the node is drained, then polls until its requests have completed.
        self.external(m, self.world.node_ctx, +1, "bdrv_drained_begin")
        if m.eng.get(("in-flight",), 0):
            m.push(Frame("drainpoll"))
            return PUSHED
        return None

    def op_drained_end(self, m, call, prim, args):
        open_ = m.eng.get(("drained",), ())
        if not open_:
            return m.fail("unbalanced-end", f"{self.spelled(call)}: quiesce_counter would drop "
                          f"below 0 (drained end without begin)",
                          (("BlockDriverState.quiesce_counter", -1),), ("drained",))
        m.eng[("drained",)] = open_[:-1]
        m.note(f"{self.spelled(call)}: quiesce_counter {len(open_) - 1}")
        self.external(m, self.world.node_ctx, -1, "bdrv_drained_end")
        if len(open_) == 1:
            for _ in range(m.eng.pop(("queued",), 0)):  # blk_wait_while_drained() lets them go
                self.start_request(m)

    def start_request(self, m) -> None:
        """A guest request enters the node: in flight until its completion BH runs."""
        m.eng[("in-flight",)] = m.eng.get(("in-flight",), 0) + 1
        self.new_bh(m, BH(self.world.node_ctx, COMPLETE, (), scheduled=1, oneshot=1,
                          label="request completion"))

    def add_guest(self, m, mode: str) -> None:
        """The guest: a vCPU that kicks a virtio host notifier (an external handler of the
        iohandler context, or of the node's), or a request already in flight on the node."""
        if mode == "request":
            self.start_request(m)
            return
        ctx = "iohandler" if self.world.node_ctx == "main" else self.world.node_ctx
        m.eng[("handlers", ctx)] = m.eng.get(("handlers", ctx), ()) + (
            Handler(GUEST, GUEST, None, None, None, 1),)

    # ---- coroutines ---------------------------------------------------------------------

    def op_co_create(self, m, call, prim, args):
        n = m.eng.get(("next",), 0)
        m.eng[("next",)] = n + 1
        m.eng[("co", n)] = (self.func_of(prim, call, "cb"), (self.role(prim, args, "opaque"),))
        return "co", n

    def _scenario_co(self, m, value):
        if isinstance(value, tuple) and value[0] == "co" and isinstance(value[1], int):
            return value[1], m.eng.get(("co", value[1]))
        return None, None

    def op_co_enter(self, m, call, prim, args):
        co = self.role(prim, args, "co")
        if self.waiting(co) is not None:
            return self.op_co_wake(m, call, prim, [co])
        n, record = self._scenario_co(m, co)
        if record is None:
            return None
        ctx = self.context_of(m, self.role(prim, args, "ctx"))
        if self.world.home_ctx(m.thread.name) == ctx:   # in its own context: entered at once
            m.push(run_frame(self._coroutine(record, ctx)))
            return PUSHED
        m.eng[("cosched", ctx)] = m.eng.get(("cosched", ctx), ()) + (n,)
        m.note(f"{self.spelled(call)}: coroutine {self.world.name_of(record[0])}() scheduled on "
               f"{ctx}")

    def op_co_enter_now(self, m, call, prim, args):
        n, record = self._scenario_co(m, self.role(prim, args, "co"))
        if record is None:
            return None
        m.push(run_frame(self._coroutine(record, "")))
        return PUSHED

    def _coroutine(self, record, lock: str) -> Item:
        func, args = record
        return Item(func, args, lock, f"coroutine {self.world.name_of(func)}")

    def op_co_yield(self, m, call, prim, args):
        m.note("qemu_coroutine_yield(): re-entered at once (what wakes it is not modelled)")

    def op_co_entered(self, m, call, prim, args):
        return 0

    def op_co_wake(self, m, call, prim, args):
        co = args[0] if args else UNKNOWN
        owner = self.waiting(co)
        if owner is None:
            n, record = self._scenario_co(m, co)
            if record is not None:
                key = ("cosched", self.world.node_ctx)
                m.eng[key] = m.eng.get(key, ()) + (n,)
            m.note(self.spelled(call))
            return None
        m.touch(("co", co))
        if owner[0] == "stale":
            return m.fail("completion-twice", f"{self.spelled(call)} completes ring slot "
                          f"{owner[1]}, which holds no completion of this round (the ring's "
                          f"head moved past its tail)", (("ring slot", owner[1]),), ("co", co))
        woken = m.eng.get(("woken",), frozenset())
        what = object_name(co[1])
        if co in woken:
            return m.fail("completion-twice", f"{self.spelled(call)}: {what}, which waited for "
                          f"its request, is woken a second time (the completion is processed "
                          f"twice)", ((f"{what} woken", 2),), ("co", co))
        m.eng[("woken",)] = woken | {co}
        m.note(f"{self.spelled(call)}: wakes {what}, which waited for its request")

    @staticmethod
    def waiting(value):
        """The owner of a coroutine that yielded before the scenario (a Coroutine * in an
        object nobody set: waiting for that object, a request), or None."""
        if isinstance(value, tuple) and value[0] == "obj" and isinstance(value[1], tuple) \
                and value[1][0] == "Coroutine":
            owner = value[1][1]
            return owner if isinstance(owner, tuple) and owner[0] in ("req", "stale") else \
                ("obj", owner)
        return None

    # ---- the kernel's AIO completion ring -----------------------------------------------

    def ring(self, m):
        """(slots, head, tail): on first use, the requests the kernel completed before the
        scenario, 0 to `completions` of them (a choice point)."""
        if ("ring",) not in m.eng:
            ring = self.world.model.ring
            fixed = self.world.fixed.get(("ring", ""))
            n = fixed if fixed is not None else \
                m.choose(ring.completions + 1, budgeted=False, start=True)
            m.eng[("start", "ring", "")] = n
            slots = tuple(("req", i) for i in range(n)) + (None,) * (ring.ring_size - n)
            m.eng[("ring",)] = (slots, 0, n)
        return m.eng[("ring",)]

    def peek_ring(self, m, events_arg) -> int:
        slots, head, tail = self.ring(m)
        size = self.world.model.ring.ring_size
        count = tail - head if tail >= head else size - head
        tree = events_arg.expr if events_arg is not None else None
        if tree is not None and tree[0] == "&" and tree[2][0] == "var":
            m.set_local(tree[2][2], ("ring", head))
        return count

    def commit_ring(self, m, nr) -> None:
        slots, head, tail = self.ring(m)
        if isinstance(nr, int) and nr:
            m.eng[("ring",)] = (slots, (head + nr) % self.world.model.ring.ring_size, tail)

    def op_ring_peek(self, m, call, prim, args):
        count = self.peek_ring(m, prim.arg(call, "events"))
        _slots, head, tail = self.ring(m)
        m.note(f"{self.spelled(call)} = {count} (ring head {head}, tail {tail})")
        return count

    def op_ring_commit(self, m, call, prim, args):
        self.commit_ring(m, self.role(prim, args, "nr"))
        m.note(f"{self.spelled(call)}: ring head {self.ring(m)[1]}")

    def op_ring_advance_and_peek(self, m, call, prim, args):
        nr = self.role(prim, args, "nr")
        self.commit_ring(m, nr)
        count = self.peek_ring(m, prim.arg(call, "events"))
        m.note(f"{self.spelled(call)} = {count} (advanced by {show(nr)}: ring head "
               f"{self.ring(m)[1]}, tail {self.ring(m)[2]})")
        return count

    def op_io_submit(self, m, call, prim, args):
        nr = self.role(prim, args, "nr")
        m.note(f"{self.spelled(call)} = {show(nr)} (the kernel accepts them; they complete after "
               f"the scenario)")
        return nr

    def event_field(self, m, event, name: str):
        slots, _head, _tail = self.ring(m)
        slot = event[1]
        request = slots[slot] if slot < len(slots) and slots[slot] is not None else ("stale", slot)
        if name == self.world.model.ring.event["request"]:
            return "obj", request
        return UNKNOWN                                 # res, res2: the kernel's results

    def index(self, m, base, index):
        if isinstance(base, tuple) and base[0] == "ring" and isinstance(index, int):
            return "ev", (base[1] + index) % self.world.model.ring.ring_size
        return UNKNOWN

    # ---- the end -------------------------------------------------------------------------

    def end_of_scenario(self, m) -> None:
        """Every thread has finished: nothing may stay open."""
        still, values, items = [], [], []
        for key, (owner, where) in sorted((k, v) for k, v in m.eng.items() if k[0] == "lock"):
            if where:
                path, line, function = where[-1]
                still.append(f"the {self.lock_name(key[1])} is still held by {owner} (taken at "
                             f"{at(path, line, function)})")
                values.append((self.lock_name(key[1]), len(where)))
                items.append(("lock", key[1]))
        drained = m.eng.get(("drained",), ())
        if drained:
            still.append(f"the drained section begun at {at(*drained[-1])} is still open")
            values.append(("BlockDriverState.quiesce_counter", len(drained)))
            items.append(("drained",))
        for ctx in sorted(k[1] for k in m.eng if k[0] == "ext-at"):
            opened = m.eng[("ext-at", ctx)]
            if len(opened) > (len(drained) if ctx == self.world.node_ctx else 0):
                still.append(f"external events of {ctx}, disabled at {at(*opened[-1])}, are "
                             f"still disabled")
                values.append((f"{ctx}.external_disable_cnt", len(opened)))
                items.append(("ext", ctx))
        if still:
            m.fail("section-open", "at the end of the scenario " + "; ".join(still), values,
                   ("open",) + tuple(items))

    def section_item(self, name: str):
        """What the end-of-scenario check calls a lock or section left open: ("lock", (name,
        instance)) for a lock (any instance), ("drained",), ("ext", ctx)."""
        if self.is_lock(name):
            return "lock", name
        found = self.section_primitive(name, begin=True)
        if found is None:
            return None
        prim, args, _call = found
        if prim.op == "drained_begin":
            return ("drained",)
        if prim.op == "external_disable":
            return "ext", self.context_of(None, self.role(prim, args, "ctx"))
        return None

    def deadlock(self, m) -> None:
        waits = []
        for i, th in enumerate(m.threads):
            if th.done:
                continue
            m.t = i
            op = m.peek()
            if op[0] == "idle":
                continue
            if op[0] == "wait":
                waits.append(f"{th.name} waits in aio_poll({op[1]}, true) for an event nobody "
                             f"will cause")
                continue
            owner, where = m.eng.get(("lock", op[1]), ("", ()))
            held = f", held by {owner} since {at(*where[-1])}" if where else ""
            waits.append(f"{th.name} waits for the {self.lock_name(op[1])}{held}")
        m.t = next(i for i, th in enumerate(m.threads) if not th.done)
        m.fail("deadlock", "deadlock: " + "; ".join(waits), (),
               ("threads", tuple(th.name for th in m.threads if not th.done)))


"""The reference AIO engine: QEMU's event-loop primitives, executable (docs/replay.md lists each
one with the QEMU source it mirrors).

The analysed code supplies what happens; the engine supplies only what QEMU's primitives do:
AioContext locks, bottom halves, fd / event-notifier handlers and external events, drained
sections, deferral to the main loop, coroutines, linux-aio's completion ring; its drivers
(drivers.py) run the threads: aio_poll(), the main loop, IOThreads, the guest. Its state lives
in the machine's `eng` table as immutable values keyed by tuples:

    ("lock", (class, instance))  (owner, where each nested acquire happened)
    ("bhs", ctx)                 BH ids of a context, in creation order
    ("bh", id)                   BH(ctx, cb, opaque, scheduled, oneshot, deleted, lock, label)
    ("handlers", ctx)            Handler records of a context, in registration order
    ("notifier", value)          1 if the notifier is set
    ("ext", ctx)                 external_disable_cnt
    ("ring",)                    (slots, head, tail) of linux-aio's completion ring
    ("done",)                    requests whose completion has been processed
    ("drained",)                 where the open drained sections began (a stack)
    ("in-flight",), ("queued",)  the node's guest requests in flight; held back while drained
    ("co", id), ("cosched", ctx) coroutines created; coroutines scheduled on a context
"""
from __future__ import annotations

from .drivers import BH, COMPLETE, Drivers, Handler, Item, at, poll_frame, run_frame
from .machine import Env, Frame
from .values import UNKNOWN, show, truth

# Primitive ops that touch state another thread can see: scheduling points.
VISIBLE_OPS = frozenset({
    "bh_schedule", "bh_cancel", "bh_delete", "bh_oneshot", "notifier_set",
    "notifier_test_and_clear", "external_disable", "external_enable", "drained_begin",
    "drained_end", "defer", "co_enter", "co_wake", "co_yield", "ring_peek", "ring_commit",
    "ring_advance_and_peek", "io_submit"})
PUSHED = object()                 # the primitive pushed a frame; its result comes on return


class Engine(Drivers):
    """QEMU's primitives, as the analysed code calls them; the drivers (drivers.py) run the
    threads."""

    def __init__(self, world):
        self.world = world

    # ---- calls from the analysed code ---------------------------------------------------

    def lock_ops(self, m, frame, call):
        """(begin|end, lock id, recursive) of a call the pack calls a lock operation. A lock
        guard (QEMU_LOCK_GUARD) holds the id of the lock it took; its cleanup releases that."""
        out = []
        for op in self.world.sem.section_ops(call):
            section = self.world.pack.section(op.section)
            if section is None or section.kind != "lock" or op.op not in ("begin", "end"):
                continue
            guard = dict(frame.locals).get(op.handle, UNKNOWN) if op.handle else UNKNOWN
            if isinstance(guard, tuple) and guard[0] == "guard":
                out.append((op.op, guard[1], section.recursive))
                continue
            if op.handle_only or guard == 0:
                continue                               # a spent guard (set to NULL)
            arg = call.args[section.arg] if section.arg < len(call.args) else None
            value = self.arg_value(m, frame, arg) if arg is not None else UNKNOWN
            if isinstance(value, tuple) and value[0] == "ctx":
                instance = value[1]
            elif op.section == "AioContext":
                instance = self.world.node_ctx          # an AioContext the model cannot tell
            else:
                instance = op.ident or (arg.text if arg is not None else "")
            out.append((op.op, (op.section, instance), section.recursive))
        return out

    def is_lock_call(self, call) -> bool:
        return any(op.op in ("begin", "end") and self.world.sem.kinds.get(op.section) == "lock"
                   for op in self.world.sem.section_ops(call))

    def classify(self, m, frame, call):
        ops = self.lock_ops(m, frame, call)
        if ops:
            kind, lock, _rec = ops[0]
            return ("acquire" if kind == "begin" else "release", lock)
        prim = self.world.primitive(call)
        if prim is not None and prim.op in VISIBLE_OPS:
            return ("prim", prim.op)
        return None

    def call(self, m, frame, call) -> None:
        ops = self.lock_ops(m, frame, call)
        if ops or self.is_lock_call(call):
            taken = None
            for kind, lock, recursive in ops:
                (self.acquire if kind == "begin" else self.release)(m, lock, recursive, call)
                taken = ("guard", lock) if kind == "begin" else taken
            return m.returned(m.frame, taken)
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

    @staticmethod
    def spelled(call) -> str:
        args = ", ".join(a.text for a in call.args)
        return getattr(call, "text", "") or f"{call.macro or call.name}({args})"

    # ---- locks --------------------------------------------------------------------------

    def can_acquire(self, m, lock) -> bool:
        owner, where = m.eng.get(("lock", lock), ("", ()))
        return not where or owner == m.thread.name

    def acquire(self, m, lock, recursive: bool, call) -> None:
        """Take a lock; `where` stacks the places it was taken (recursive locks nest)."""
        owner, where = m.eng.get(("lock", lock), ("", ()))
        if where and not recursive:
            return m.fail("deadlock", f"{m.thread.name} acquires {self.lock_name(lock)} again, "
                          f"which it holds and which is not recursive")
        m.eng[("lock", lock)] = (m.thread.name, where + (m.location(),))
        m.note(f"{self.spelled(call)}: takes {self.lock_name(lock)} (count {len(where) + 1})")

    def release(self, m, lock, _recursive: bool, call) -> None:
        owner, where = m.eng.get(("lock", lock), ("", ()))
        if not where or owner != m.thread.name:
            return m.fail("unlock-not-held", f"{self.spelled(call)} releases "
                          f"{self.lock_name(lock)}, which {m.thread.name} does not hold",
                          ((self.lock_name(lock), len(where)),))
        # A release undoes the latest acquire of the same function (which one a recursive
        # mutex pairs it with is unknowable; this names the acquire that leaked).
        function = m.location()[2]
        mine = [i for i, w in enumerate(where) if w[2] == function]
        drop = mine[-1] if mine else len(where) - 1
        m.eng[("lock", lock)] = (owner if len(where) > 1 else "", where[:drop] + where[drop + 1:])
        m.note(f"{self.spelled(call)}: releases {self.lock_name(lock)} (count {len(where) - 1})")

    def holds(self, m, lock_class: str) -> bool:
        me = m.thread.name
        return any(k[0] == "lock" and k[1][0] == lock_class and v[0] == me and v[1]
                   for k, v in m.eng.items())

    @staticmethod
    def lock_name(lock) -> str:
        cls, instance = lock
        return f"{cls} lock of {instance}" if cls == "AioContext" else f"{cls} {instance}"

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
        return self.new_bh(m, BH(ctx, func, (self.role(prim, args, "opaque"),),
                                 label=f"bh {self.world.name_of(func)}"))

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
        ctx = self.context_of(m, self.role(prim, args, "ctx"))
        notifier = self.role(prim, args, "notifier")
        roles = {r: self.func_of(prim, call, r) for r in ("io_read", "io_poll", "io_poll_ready")}
        handlers = tuple(h for h in m.eng.get(("handlers", ctx), ()) if h.notifier != notifier)
        if any(roles.values()):
            external = truth(self.role(prim, args, "external", 0))
            handlers += (Handler(notifier, roles["io_read"], roles["io_poll"],
                                 roles["io_poll_ready"], self.role(prim, args, "opaque"),
                                 int(external is True)),)
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
            return m.fail("counter-wrap", f"{what}: external_disable_cnt of {ctx} would drop "
                          f"below 0 (enabled more often than disabled)",
                          ((f"{ctx}.external_disable_cnt", -1),))
        m.eng[("ext", ctx)] = count
        where = m.eng.get(("ext-at", ctx), ())
        m.eng[("ext-at", ctx)] = where + (m.location(),) if delta > 0 else where[:-1]
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
        m.push(poll_frame(ctx, dispatch_only=False))
        return PUSHED

    # ---- drained sections ---------------------------------------------------------------

    def op_drained_begin(self, m, call, prim, args):
        m.eng[("drained",)] = m.eng.get(("drained",), ()) + (m.location(),)
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
            return m.fail("counter-wrap", f"{self.spelled(call)}: quiesce_counter would drop "
                          f"below 0 (drained end without begin)",
                          (("BlockDriverState.quiesce_counter", -1),))
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
        if self.request_of(co) is not None:
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
        request = self.request_of(co)
        if request is None:
            n, record = self._scenario_co(m, co)
            if record is not None:
                key = ("cosched", self.world.node_ctx)
                m.eng[key] = m.eng.get(key, ()) + (n,)
            m.note(self.spelled(call))
            return None
        done = m.eng.get(("done",), frozenset())
        if request[0] == "stale":
            return m.fail("completion-twice", f"{self.spelled(call)} completes ring slot "
                          f"{request[1]}, which holds no completion of this round (the ring's "
                          f"head moved past its tail)", (("ring slot", request[1]),))
        if request in done:
            return m.fail("completion-twice", f"{self.spelled(call)}: request {request[1]}'s "
                          f"completion is processed a second time", (("request", request[1]),))
        m.eng[("done",)] = done | {request}
        m.note(f"{self.spelled(call)}: completes request {request[1]}")

    @staticmethod
    def request_of(value):
        """The request a coroutine or request pointer stands for: ("req", n), ("stale", slot)."""
        if isinstance(value, tuple) and value[0] in ("co", "obj") and isinstance(value[1], tuple) \
                and value[1][0] in ("req", "stale"):
            return value[1]
        return None

    # ---- linux-aio's completion ring ----------------------------------------------------

    def ring(self, m):
        return m.eng.get(("ring",), ((), 0, 0))

    def peek_ring(self, m, events_arg) -> int:
        slots, head, tail = self.ring(m)
        size = self.world.linux_aio.ring_size
        count = tail - head if tail >= head else size - head
        tree = events_arg.expr if events_arg is not None else None
        if tree is not None and tree[0] == "&" and tree[2][0] == "var":
            m.set_local(tree[2][2], ("ring", head))
        return count

    def commit_ring(self, m, nr) -> None:
        slots, head, tail = self.ring(m)
        if isinstance(nr, int) and nr:
            m.eng[("ring",)] = (slots, (head + nr) % self.world.linux_aio.ring_size, tail)

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
        la = self.world.linux_aio
        if name == la.event["request"]:
            return "obj", request
        if name == la.event["result"]:
            return la.request.get("nbytes", 0) if request[0] == "req" else 0
        return 0 if name == la.event["result_high"] else UNKNOWN

    def index(self, m, base, index):
        if isinstance(base, tuple) and base[0] == "ring" and isinstance(index, int):
            return "ev", (base[1] + index) % self.world.linux_aio.ring_size
        return UNKNOWN

    # ---- the end -------------------------------------------------------------------------

    def end_of_scenario(self, m) -> None:
        """Every thread has finished: nothing may stay open."""
        still, values = [], []
        for key, (owner, where) in sorted((k, v) for k, v in m.eng.items() if k[0] == "lock"):
            if where:
                path, line, function = where[-1]
                still.append(f"the {self.lock_name(key[1])} is still held by {owner} (taken at "
                             f"{at(path, line, function)})")
                values.append((self.lock_name(key[1]), len(where)))
        drained = m.eng.get(("drained",), ())
        if drained:
            still.append(f"the drained section begun at {at(*drained[-1])} is still open")
            values.append(("BlockDriverState.quiesce_counter", len(drained)))
        for ctx in sorted(k[1] for k in m.eng if k[0] == "ext-at"):
            opened = m.eng[("ext-at", ctx)]
            if len(opened) > (len(drained) if ctx == self.world.node_ctx else 0):
                still.append(f"external events of {ctx}, disabled at {at(*opened[-1])}, are "
                             f"still disabled")
                values.append((f"{ctx}.external_disable_cnt", len(opened)))
        if still:
            m.fail("section-open", "at the end of the scenario " + "; ".join(still), values)

    def deadlock(self, m) -> None:
        waits = []
        for i, th in enumerate(m.threads):
            if th.done:
                continue
            m.t = i
            op = m.peek()
            owner, where = m.eng.get(("lock", op[1]), ("", ()))
            held = f", held by {owner} since {at(*where[-1])}" if where else ""
            waits.append(f"{th.name} waits for the {self.lock_name(op[1])}{held}")
        m.t = next(i for i, th in enumerate(m.threads) if not th.done)
        m.fail("deadlock", "deadlock: " + "; ".join(waits), ())

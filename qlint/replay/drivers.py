"""The engine's drivers: how QEMU's threads run the analysed code's callbacks.

aio_poll() and aio_bh_poll() (util/aio-posix.c, util/async.c), the main loop (util/main-loop.c,
iohandler.c), an IOThread (iothread.c), the 2.x main thread's bdrv_drain() of a node in an
IOThread and bdrv_drained_begin()'s wait for the node's requests (block/io.c), the guest's vCPU
and its virtio host notifier, and a callback run under a context's lock (aio_co_enter, a
deferred BH). Each is a frame kind with `peek_KIND` (the visible operation it is about to
perform, or None), `run_KIND` (one step) and `resume_KIND` (a callee returned).
"""
from __future__ import annotations

from typing import NamedTuple

from .machine import Frame, faster_replace
from .values import truth

GUEST = "@guest"                  # the guest device's notifier handler (not analysed code)
MAIN_LOOP = ("main", "iohandler")  # the contexts main_loop_wait() dispatches
COMPLETE = "@complete"            # a guest request's completion BH (the block layer's)


class BH(NamedTuple):
    ctx: str
    cb: str | None
    opaque: tuple
    scheduled: int = 0
    oneshot: int = 0
    deleted: int = 0
    lock: str = ""                # a context whose lock the BH takes around its callback
    label: str = "bh"
    fires: int = 0                # how often the environment may still schedule it


class Timer(NamedTuple):
    ctx: str
    cb: str | None
    opaque: tuple
    armed: int
    fires: int                    # how often the environment may still make it expire
    label: str


class Handler(NamedTuple):
    notifier: object
    io_read: str | None
    io_poll: str | None
    io_poll_ready: str | None
    opaque: object
    external: int


class Item(NamedTuple):
    """Something aio_poll() runs: a callback with its arguments, under a context's lock or
    not, and how the timeline names it."""
    func: str | None
    args: tuple
    lock: str
    label: str


WAIT, POLL, BHS, RUN, BLOCKED = 1, 0, 2, 3, 4


class Poll(NamedTuple):
    """An aio_poll() in progress."""
    ctx: str
    dispatch_only: bool           # the main loop's aio_ctx_dispatch: no poll handlers
    progress: bool = False
    ready: tuple = ()             # handlers to dispatch after the BHs
    queue: tuple = ()             # what runs now: the BHs taken, then the ready handlers
    next: int = 0
    blocking: bool = False        # aio_poll(ctx, true) called by the analysed code


faster_replace(Poll)


def _poll_state(m, frame, pc: int, **changes) -> None:
    m.set_frame(frame._replace(pc=pc, data=(frame.data[0]._replace(**changes),)))


class Drivers:
    """The driver frames (mixed into Engine, whose primitives they use)."""

    def peek(self, m, frame):
        return getattr(self, "peek_" + frame.kind)(m, frame)

    def run(self, m, frame):
        return getattr(self, "run_" + frame.kind)(m, frame)

    def resume(self, m, frame, result):
        if frame.kind == "c":
            return m.returned(frame, result)
        return getattr(self, "resume_" + frame.kind)(m, frame, result)

    # run: one callback, under a context's lock or not (aio_co_enter, a deferred BH, ...).
    def peek_run(self, m, frame):
        item = frame.data[0]
        if item.lock and frame.pc in (0, 2):
            return ("acquire" if frame.pc == 0 else "release", ("AioContext", item.lock))
        if item.func == GUEST and frame.pc == 1:
            return ("guest-request",)
        return None

    def run_run(self, m, frame):
        item = frame.data[0]
        lock = ("AioContext", item.lock)
        if frame.pc == 0:
            if item.lock:
                self.acquire(m, lock, True, Spelled(f"aio_context_acquire({item.lock})"))
            return m.set_frame(frame._replace(pc=1))
        if frame.pc == 1:
            m.set_frame(frame._replace(pc=2))
            if item.func == GUEST:
                return self.guest_request(m, item)
            if item.func == COMPLETE:
                m.eng[("in-flight",)] = m.eng.get(("in-flight",), 0) - 1
                return m.note("the guest's request completes (bdrv_dec_in_flight)",
                              where=("", 0, "request completion"))
            if item.func is None:
                return None
            fn = self.world.program.functions[item.func]
            m.note(f"{item.label}(): runs", where=(self.world.rel(fn.file), fn.line, fn.name))
            return m.push(m.c_frame(item.func, item.args))
        if frame.pc == 2:
            if item.lock:
                self.release(m, lock, True, Spelled(f"aio_context_release({item.lock})"))
            return m.set_frame(frame._replace(pc=3))
        if len(frame.data) > 2:                        # an io_poll handler: aio_poll wants which
            return m.pop(("polled", frame.data[2], frame.data[1]))
        return m.pop(frame.data[1] if len(frame.data) > 1 else None)

    def resume_run(self, m, frame, result):
        m.set_frame(frame._replace(data=(frame.data[0], result) + frame.data[2:]))

    # seq: callbacks one after the other (the scenario's setup).
    def peek_seq(self, m, frame):
        return None

    def run_seq(self, m, frame):
        items, = frame.data
        if frame.pc >= len(items):
            return m.pop(None)
        m.set_frame(frame._replace(pc=frame.pc + 1))
        m.push(run_frame(items[frame.pc]))

    def resume_seq(self, m, frame, result):
        return None

    # aio_poll(ctx): poll handlers, then (if none made progress) wait for ready fds, then the
    # BHs, then the ready handlers (util/aio-posix.c). The main loop's dispatch of a context's
    # GSource (aio_ctx_dispatch) is the same without the poll handlers.
    def peek_aio_poll(self, m, frame):
        if frame.pc == BLOCKED:
            return ("wait", frame.data[0].ctx)
        return ("poll", frame.pc) if frame.pc in (WAIT, BHS) else None

    def run_aio_poll(self, m, frame):
        p = frame.data[0]
        if frame.pc == POLL:
            return self._poll_handlers(m, frame, p)
        if frame.pc == BLOCKED:                         # something woke the blocking wait
            return _poll_state(m, frame, POLL, next=0)
        if frame.pc == WAIT:
            if p.blocking and not p.progress and not self.has_work(m, p.ctx):
                return _poll_state(m, frame, BLOCKED)
            found = tuple(self._read_item(h) for h in self.ready_handlers(m, p.ctx))
            who = "main_loop_wait(): " if p.dispatch_only else ""
            m.note(f"{who}aio_poll({p.ctx}): " + ("ready: " + ", ".join(i.label for i in found)
                                                    if found else "no handler ready"))
            return _poll_state(m, frame, BHS, progress=p.progress or bool(found),
                               ready=p.ready + found, next=0)
        if frame.pc == BHS:
            items = self.take_bhs(m, p.ctx) + self.take_timers(m, p.ctx)
            m.note(f"aio_bh_poll({p.ctx}): " + ("runs " + ", ".join(self.label(m, i) for i in items)
                                                if items else "no BH scheduled"))
            return _poll_state(m, frame, RUN, progress=p.progress or bool(items),
                               queue=items + p.ready, next=0)
        if p.next < len(p.queue):
            _poll_state(m, frame, RUN, next=p.next + 1)
            item = self.bh_item(m, p.queue[p.next])
            return m.push(run_frame(item)) if item is not None else None
        return m.pop(int(p.progress))

    @staticmethod
    def label(m, entry) -> str:
        return entry.label if isinstance(entry, Item) else m.eng[entry].label

    @staticmethod
    def bh_item(m, entry):
        """What a queued entry runs: a BH still scheduled (it is no longer: a oneshot BH is
        deleted), or the item itself."""
        if isinstance(entry, Item):
            return entry
        bh = m.eng[entry]
        if not bh.scheduled or bh.deleted:
            return None
        m.eng[entry] = bh._replace(scheduled=0, deleted=bh.oneshot)
        if bh.oneshot:
            m.eng[("bhs", bh.ctx)] = tuple(n for n in m.eng.get(("bhs", bh.ctx), ())
                                           if n != entry[1])
        return Item(bh.cb, bh.opaque, bh.lock, bh.label)

    def ready_handlers(self, m, ctx: str) -> list:
        """The fd handlers aio_poll() dispatches: those whose notifier is set, and those the
        environment makes ready (an fd becomes readable: a kernel completion, a device kick)
        while it may still (`fires`)."""
        out = []
        for h in m.eng.get(("handlers", ctx), ()):
            if not h.io_read or not self.node_ok(m, ctx, h):
                continue
            if not m.eng.get(("notifier", h.notifier)):
                fires = m.eng.get(("fires", h), 0)
                if not fires:
                    continue
                m.eng[("fires", h)] = fires - 1
                m.eng[("notifier", h.notifier)] = 1
            if not isinstance(h.notifier, tuple):
                m.eng[("notifier", h.notifier)] = 0     # an fd: the handler reads what was ready
            out.append(h)
        return out

    def has_work(self, m, ctx: str) -> bool:
        """Would aio_poll(ctx) find anything to do (a blocking wait can go on)?"""
        for h in m.eng.get(("handlers", ctx), ()):
            if h.io_read and self.node_ok(m, ctx, h) and (
                    m.eng.get(("notifier", h.notifier)) or m.eng.get(("fires", h), 0)):
                return True
        if any(m.eng[("bh", n)].scheduled or m.eng[("bh", n)].fires
               for n in m.eng.get(("bhs", ctx), ()) if not m.eng[("bh", n)].deleted):
            return True
        if any(m.eng[("timer", n)].armed or m.eng[("timer", n)].fires
               for n in m.eng.get(("timers", ctx), ())):
            return True
        return bool(m.eng.get(("cosched", ctx)))

    def _poll_handlers(self, m, frame, p) -> None:
        polled = [h for h in m.eng.get(("handlers", p.ctx), ()) if h.io_poll and
                  self.node_ok(m, p.ctx, h)] if p.ctx in self.world.polling and \
            not p.dispatch_only else []
        if p.next < len(polled):
            h = polled[p.next]
            _poll_state(m, frame, POLL, next=p.next + 1)
            item = Item(h.io_poll, (h.opaque,), "", f"io_poll {self.world.name_of(h.io_poll)}")
            return m.push(run_frame(item, poll_handler=h))
        _poll_state(m, frame, BHS if p.progress else WAIT, next=0)

    def _read_item(self, h: Handler) -> Item:
        label = "virtio host notifier (guest)" if h.io_read == GUEST else \
            f"io_read {self.world.name_of(h.io_read)}"
        return Item(h.io_read, (h.opaque,), "", label)

    def resume_aio_poll(self, m, frame, result):
        p = frame.data[0]
        if frame.pc != POLL or not (isinstance(result, tuple) and result[0] == "polled"):
            return
        handler, value = result[1], result[2]
        if truth(value) is True:
            ready = p.ready
            if handler.io_poll_ready:
                ready += (Item(handler.io_poll_ready, (handler.opaque,), "",
                               f"io_poll_ready {self.world.name_of(handler.io_poll_ready)}"),)
            _poll_state(m, frame, POLL, progress=True, ready=ready)

    def node_ok(self, m, ctx: str, handler: Handler) -> bool:
        """aio_node_check(): external handlers do not run while external events are disabled."""
        return not (handler.external and m.eng.get(("ext", ctx), 0) > 0)

    def take_bhs(self, m, ctx: str) -> tuple:
        """aio_bh_poll(): the BHs scheduled now, in creation order (each runs if it is still
        scheduled when its turn comes: a nested aio_poll() may have run it, as QEMU's walk of
        the BH list does), and the coroutines aio_co_schedule() queued, run by
        co_schedule_bh_cb under the context's lock."""
        items = []
        for n in m.eng.get(("bhs", ctx), ()):
            bh = m.eng[("bh", n)]
            if not bh.scheduled and bh.fires and not bh.deleted:
                bh = m.eng[("bh", n)] = bh._replace(scheduled=1, fires=bh.fires - 1)
            if bh.scheduled and not bh.deleted:
                items.append(("bh", n))
        for n in m.eng.pop(("cosched", ctx), ()):
            func, args = m.eng[("co", n)]
            lock = ctx if "AioContext" in self.world.pack.entry_holds("coroutine") else ""
            items.append(Item(func, args, lock, f"coroutine {self.world.name_of(func)}"))
        return tuple(items)

    def take_timers(self, m, ctx: str) -> tuple:
        """timerlistgroup_run_timers(): the armed timers expire (and those the environment
        makes expire while it may)."""
        items = []
        for n in m.eng.get(("timers", ctx), ()):
            timer = m.eng[("timer", n)]
            if timer.armed or timer.fires:
                items.append(Item(timer.cb, timer.opaque, "", timer.label))
                m.eng[("timer", n)] = timer._replace(
                    armed=0, fires=timer.fires - (0 if timer.armed else 1))
        return tuple(items)

    # iothread_run(): aio_poll(ctx, true) while the IOThread lives (iothread.c): when nothing
    # is ready it waits for work, which another thread may give it; at most `polls` polls.
    def peek_iothread(self, m, frame):
        ctx, idle = frame.data
        return ("idle", (ctx,)) if idle else None

    def run_iothread(self, m, frame):
        ctx, _idle = frame.data
        if frame.pc >= self.world.bounds["polls"]:
            if self.has_work(m, ctx):
                return m.stop(self.polls_cut(m))
            return m.set_frame(frame._replace(data=(ctx, True)))
        m.set_frame(frame._replace(pc=frame.pc + 1, data=(ctx, False)))
        m.push(poll_frame(ctx, dispatch_only=False))

    def resume_iothread(self, m, frame, result):
        m.set_frame(frame._replace(data=(frame.data[0], not truth(result))))

    # The 2.x main thread's bdrv_drain() of a node in an IOThread: with the context's lock held,
    # aio_poll(ctx, false) until no progress (BDRV_POLL_WHILE, block/io.c and aio-wait.h of 2.12).
    def peek_drain(self, m, frame):
        ctx = frame.data[0]
        if frame.pc in (0, 2):
            return ("acquire" if frame.pc == 0 else "release", ("AioContext", ctx))
        return None

    def run_drain(self, m, frame):
        ctx, polls = frame.data
        lock = ("AioContext", ctx)
        if frame.pc == 0:
            self.acquire(m, lock, True, Spelled(f"bdrv_drain(): aio_context_acquire({ctx})"))
            return m.set_frame(frame._replace(pc=1))
        if frame.pc == 1:
            if polls >= self.world.bounds["polls"]:
                return m.set_frame(frame._replace(pc=2))
            m.set_frame(frame._replace(data=(ctx, polls + 1)))
            return m.push(poll_frame(ctx, dispatch_only=False))
        if frame.pc == 2:
            self.release(m, lock, True, Spelled(f"bdrv_drain(): aio_context_release({ctx})"))
            return m.set_frame(frame._replace(pc=3))
        return m.pop(None)

    def resume_drain(self, m, frame, result):
        if not truth(result):
            m.set_frame(frame._replace(pc=2))

    # main_loop_wait(): the main context's GSource, then the iohandler context's (util/main-loop.c,
    # glib dispatches sources of one priority in the order they were attached), until idle.
    def peek_mainloop(self, m, frame):
        return ("idle", MAIN_LOOP) if frame.data[1] else None

    def run_mainloop(self, m, frame):
        progress, idle = frame.data
        if frame.pc % 2 == 0 and frame.pc and not progress and not idle:
            return m.set_frame(frame._replace(data=(False, True)))      # idle: waits for work
        if frame.pc >= 2 * self.world.bounds["polls"]:
            if any(self.has_work(m, ctx) for ctx in MAIN_LOOP):
                return m.stop(self.polls_cut(m))
            return m.set_frame(frame._replace(data=(False, True)))
        if frame.pc % 2 == 0:
            m.set_frame(frame._replace(pc=frame.pc + 1, data=(False, False)))
            return m.push(poll_frame("main", dispatch_only=True))
        m.set_frame(frame._replace(pc=frame.pc + 1))
        m.push(poll_frame("iohandler", dispatch_only=True))

    def polls_cut(self, m) -> str:
        return f"polls bound ({self.world.bounds['polls']}) reached in {m.thread.name} with work left"

    def resume_mainloop(self, m, frame, result):
        m.set_frame(frame._replace(data=(frame.data[0] or bool(truth(result) is True),
                                         frame.data[1])))

    # The guest: a vCPU kicks the virtio queue's host notifier `kicks` times.
    def peek_guest(self, m, frame):
        return ("kick",) if frame.data[0] else None

    def run_guest(self, m, frame):
        kicks, = frame.data
        if not kicks:
            return m.pop(None)
        m.eng[("notifier", GUEST)] = 1
        m.touch(("drained",))                      # the guest acts on the node
        m.note("guest: virtio queue notify (sets the host notifier)", where=("", 0, "guest vCPU"))
        m.set_frame(frame._replace(data=(kicks - 1,)))

    def guest_request(self, m, item) -> None:
        m.eng[("notifier", GUEST)] = 0
        drained = m.eng.get(("drained",), ())
        where = ("", 0, "virtio host notifier")
        if drained and not self.world.era.queue_while_drained:
            path, line, function = drained[-1]
            return m.fail("guest-in-drained", f"a guest request is submitted to the node while its "
                          f"drained section (begun at {path}:{line} in {function}()) is open",
                          (("BlockDriverState.quiesce_counter", len(drained)),), ("drained",))
        if drained:
            m.eng[("queued",)] = m.eng.get(("queued",), 0) + 1
        else:
            self.start_request(m)
        m.note("virtio host notifier: the guest's request is submitted to the node"
               + (" (queued while the node is drained)" if drained else ""), where=where)

    # BDRV_POLL_WHILE(bs, bdrv_requests_pending(bs)): aio_poll(node's context) until the
    # node's requests have completed, at most `polls` times.
    def peek_drainpoll(self, m, frame):
        return None

    def run_drainpoll(self, m, frame):
        if not m.eng.get(("in-flight",), 0) or frame.pc >= self.world.bounds["polls"]:
            return m.pop(None)
        m.set_frame(frame._replace(pc=frame.pc + 1))
        m.push(poll_frame(self.world.node_ctx, dispatch_only=False))

    def resume_drainpoll(self, m, frame, result):
        return None


def at(path: str, line: int, function: str) -> str:
    return f"{path}:{line} in {function}()" if path else f"{function}()"


class Spelled:
    """Stands for a call the engine makes itself, for the timeline."""

    def __init__(self, text: str):
        self.name, self.macro, self.args, self.text = text, "", (), text


def poll_frame(ctx: str, dispatch_only: bool, blocking: bool = False) -> Frame:
    return Frame("aio_poll", pc=WAIT if dispatch_only else POLL,
                 data=(Poll(ctx, dispatch_only, blocking=blocking),))


def run_frame(item: Item, poll_handler=None) -> Frame:
    return Frame("run", data=(item,) if poll_handler is None else (item, None, poll_handler))

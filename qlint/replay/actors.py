"""Who acts in a scenario (scenario.py builds it): the program's entry points that reach the
finding's code (its own first, then the nearest) or write what that code reads, the functions
that register them (the setup), the roots ([[entry]]: QMP/HMP handlers) and the module's
exported functions that main-loop code calls, and the threads they run on."""
from __future__ import annotations

import re
from collections import deque

from ..facts.ir import Access, Call
from .drivers import Item
from .machine import Frame
from .values import UNKNOWN

IOTHREAD_CTX = "iothread0"
MAX_ACTORS = 4                   # entry points reaching the finding's code (the nearest first)
MAX_WRITERS = 2                  # more entry points, because they write what that code reads
MAX_ROOTS = 2                    # roots ([[entry]]) the main thread calls
MAX_MODULE_CALLS = 1             # the module's exported functions main-loop code calls
MAX_DISTANCE = 1 << 16


class Actors:
    """Who acts in the scenario: the entry points, roots and module functions that reach the
    finding's code (its own entry point first, then the nearest) or write what that code reads,
    and the functions that register them."""

    def __init__(self, world, targets: list, entry: str):
        self.world = world
        self.targets = targets
        self.notes: list = []
        self.registrations: list = []
        files = {world.functions[k].file for k in targets if k in world.functions}
        self.reads = set()
        for key in reachable(world, targets, files):
            self.reads |= _reads(world.functions.get(key))
        self.distance = _distances(world, targets)
        self._choose(entry)

    def _choose(self, entry: str) -> None:
        world, distance = self.world, self.distance

        def order(key: str, reg=None) -> tuple:
            return (world.name_of(key) != entry, distance.get(key, MAX_DISTANCE),
                    _reg_order(reg) if reg else (key,))
        reaching = sorted((r for r in world.graph.registrations if r.func in distance),
                          key=lambda r: order(r.func, r))[:MAX_ACTORS]
        writing = sorted((r for r in world.graph.registrations if r.func not in distance and
                          _writes_any(world, r.func, self.reads)),
                         key=lambda r: order(r.func, r))[:MAX_WRITERS]
        self.registrations = reaching + writing
        roots = _roots(world)
        self.roots = sorted((k for k in roots if k in distance), key=order)[:MAX_ROOTS] or \
            sorted((k for k in roots if _writes_any(world, k, self.reads)), key=order)[:1]
        self.module = self._module_functions(set(distance))

    def _module_functions(self, reaching) -> list:
        """Exported functions of the finding's files that no analysed code calls, registers
        or stores, and that reach the finding's code (the nearest first; or, if none does,
        write what it reads): main-loop code outside the analysed files calls them."""
        world = self.world
        files = {world.functions[k].file for k in self.targets if k in world.functions}
        stored = {s.func for stores in world.program.field_funcs.values() for s in stores}
        registered = {r.func for r in world.graph.registrations}
        setup = {r.caller for r in self.registrations}
        reach, write = [], []
        for key in sorted(k for keys in world.program.definitions.values() for k in keys):
            fn = world.functions.get(key)
            if fn is None or fn.file not in files or key in setup or key in self.targets:
                continue
            if world.graph.callers_of(key) or key in stored or key in registered:
                continue
            if key in reaching:
                reach.append(key)
            elif _writes_any(world, key, self.reads):
                write.append(key)
        reach.sort(key=lambda k: (self.distance[k], k))
        return (reach or write)[:MAX_MODULE_CALLS]

    def setup(self) -> None:
        """The functions that register the actors run first, their parameters bound by type."""
        world = self.world
        unsupported = sorted({r.kind for r in self.registrations
                              if r.kind not in world.model.entry_kinds})
        if unsupported:
            self.notes.append("not dispatched by the engine: " + ", ".join(unsupported) +
                              " callbacks")
        # Code the actors run (a BH that schedules another, a coroutine that defers its end)
        # registers at run time; what registers before them is the setup.
        running = set(reachable(world, [r.func for r in self.registrations]))
        callers = []
        for r in self.registrations:
            if r.kind in world.model.entry_kinds and r.caller not in callers and \
                    r.caller not in running and not r.deferral:
                callers.append(r.caller)
        for key in callers:
            world.setup.append(Item(key, bind(world, key), "", f"setup: {world.name_of(key)}"))
        if callers:
            self.notes.append("setup: " + ", ".join(f"{world.name_of(k)}()" for k in callers))


def _reg_order(r) -> tuple:
    return (r.file, r.line, r.func, r.kind)


def lock_threads(world, actors: Actors) -> None:
    world.threads.append(("iothread", (Frame("iothread", data=(IOTHREAD_CTX, False)),)))
    main = []
    if world.era.main == "drain":
        main.append(Frame("drain", data=(IOTHREAD_CTX, 0)))
        actors.notes.append("main thread: bdrv_drain() polls the IOThread's context holding its "
                            "lock")
    main += _main_calls(world, actors, IOTHREAD_CTX)
    if _uses_main_loop(world, actors):
        main.append(Frame("mainloop", data=(False, False)))
    world.threads.append(("main", tuple(reversed(main))))         # a stack: the first on top


def section_threads(world, actors: Actors, rule: str) -> None:
    main = _main_calls(world, actors, "")
    main.append(Frame("mainloop", data=(False, False)))
    world.threads.append(("main", tuple(reversed(main))))
    if rule == "QL202":
        world.guest = "kick"
        world.threads.append(("guest", (Frame("guest", data=(world.model.guest_kicks,)),)))
        actors.notes.append("guest: a vCPU kicks the virtio host notifier of the iohandler "
                            "context")
    elif rule == "QL203":
        world.guest = "request"
        actors.notes.append("guest: a request of the guest is in flight on the node")


def aim(world, actors: Actors, target: str) -> None:
    """Goals for the main thread's calls too: where their paths to the finding's code go
    (unknown conditions take the way there first)."""
    for start in actors.module + actors.roots:
        parents = {start: None}
        queue = deque([start])
        while queue and target not in parents:
            key = queue.popleft()
            for edge in world.graph.edges_from.get(key, ()):
                if edge.callee not in parents:
                    parents[edge.callee] = key
                    queue.append(edge.callee)
        node = target if target in parents else None
        while node is not None and parents[node] is not None:
            caller = parents[node]
            world.goals.setdefault(world.name_of(caller), world.name_of(node))
            node = caller


def _main_calls(world, actors: Actors, lock_ctx: str) -> list:
    """The main thread's calls of roots ([[entry]]: QMP/HMP handlers, with what their entry
    holds), `fires` times each, and of the module's functions (as main-loop code calls them:
    holding the node's context lock), once each; and of the finding's function if nothing
    else runs it."""
    items = []
    for key in actors.roots:
        holds = _root_holds(world, key)
        items += [Item(key, bind(world, key), "main" if "AioContext" in holds else "",
                       f"main loop calls {world.name_of(key)} (a root holding "
                       f"{', '.join(holds) or 'no lock'})")] * world.bounds["fires"]
    for key in actors.module:
        items.append(Item(key, bind(world, key), lock_ctx,
                          f"main-loop code calls {world.name_of(key)}"
                          + (" holding the node's context lock" if lock_ctx else "")))
    if not items and not actors.registrations:
        focus = actors.targets[-1]
        items.append(Item(focus, bind(world, focus), "", f"main loop calls "
                          f"{world.name_of(focus)}"))
        actors.notes.append(f"{world.name_of(focus)}() has no entry point in the analysed "
                            f"code: the main loop calls it")
    for item in dict.fromkeys(items):
        actors.notes.append(f"main thread: {item.label}")
    if not items:
        return []
    return [Frame("seq", data=(tuple(items),))]


def _uses_main_loop(world, actors: Actors) -> bool:
    """Does the code the actors run give the main loop something to do: register or schedule
    on the main or iohandler context (a primitive that names it, or a context argument that
    asks for it)?"""
    roots = [r.caller for r in actors.registrations] + [r.func for r in actors.registrations] + \
        actors.roots + actors.module
    for key in reachable(world, roots):
        fn = world.functions.get(key)
        for block in fn.blocks if fn is not None else ():
            for e in block.events:
                prim = world.primitive(e) if isinstance(e, Call) else None
                if prim is None or prim.op == "context":
                    continue
                if prim.context in ("main", "iohandler") or prim.op == "defer" or any(
                        "qemu_get_aio_context" in a.text or "iohandler_get_aio_context" in a.text
                        for a in e.args):
                    return True
    return False


def _root_holds(world, key: str) -> tuple:
    """What a root's [[entry]] says it holds (the most specific entry: one with attrs)."""
    fn = world.functions[key]
    matching = [e for e in world.pack.entries if e.functions and
                e.names(fn.name, world.program.attrs(key))]
    matching.sort(key=lambda e: -len(e.attrs))
    return tuple(matching[0].holds) if matching else ()


def _roots(world) -> list:
    """Functions [[entry]] names as roots (QMP/HMP command handlers)."""
    out = []
    patterns = [e for e in world.pack.entries if getattr(e, "functions", None)]
    for key, fn in world.functions.items():
        if any(e.names(fn.name, world.program.attrs(key)) for e in patterns):
            out.append(key)
    return sorted(out)


def bind(world, key: str) -> tuple:
    """Arguments for a function the scenario calls itself, by parameter type: the scenario's
    context, its node, or its one object of the pointed-to record type."""
    fn = world.functions[key]
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


# ---- program facts ------------------------------------------------------------------------------

MAX_CLOSURE = 3000               # functions a reachability question visits at most


def reachable(world, roots, files=None) -> list:
    """Functions the roots call, directly or not, and the callbacks they register (only those
    of `files`, if given)."""
    registered: dict = {}
    for r in world.graph.registrations:
        registered.setdefault(r.caller, []).append(r.func)
    seen, queue = set(roots), deque(roots)
    while queue and len(seen) < MAX_CLOSURE:
        key = queue.popleft()
        nxt = [e.callee for e in world.graph.edges_from.get(key, ())] + registered.get(key, [])
        for k in nxt:
            if k not in seen and (files is None or (k in world.functions and
                                                    world.functions[k].file in files)):
                seen.add(k)
                queue.append(k)
    return sorted(seen)


def _distances(world, targets) -> dict:
    """Function key -> calls from it to the nearest of `targets` (for the functions that reach
    one; registrations count as calls)."""
    registering: dict = {}
    for r in world.graph.registrations:
        registering.setdefault(r.func, []).append(r.caller)
    out = {k: 0 for k in targets}
    queue = deque(targets)
    while queue and len(out) < MAX_CLOSURE:
        key = queue.popleft()
        for caller in [e.caller for e in world.graph.callers_of(key)] + registering.get(key, []):
            if caller not in out:
                out[caller] = out[key] + 1
                queue.append(caller)
    return out


def _writes_any(world, key: str, fields: set) -> bool:
    return any(writes(world.functions.get(k)) & fields for k in reachable(world, [key]))


_FIELD_SETS: dict = {}           # id(Function) -> (the function, (accessed, written))


def _field_sets(fn) -> tuple:
    found = _FIELD_SETS.get(id(fn))
    if found is None or found[0] is not fn:
        reads, writes = set(), set()
        for block in fn.blocks:
            for e in block.events:
                if isinstance(e, Access) and e.mode != "addr":
                    (writes if e.mode in ("w", "inc", "dec") else reads).add(e.field)
        found = _FIELD_SETS[id(fn)] = (fn, (frozenset(reads | writes), frozenset(writes)))
    return found[1]


def _reads(fn) -> frozenset:
    return _field_sets(fn)[0] if fn is not None else frozenset()


def writes(fn) -> frozenset:
    return _field_sets(fn)[1] if fn is not None else frozenset()

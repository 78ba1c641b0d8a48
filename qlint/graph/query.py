"""Queries over the call graph for `qlint graph`: who calls or registers a function, what it
calls or registers, and the paths from one function to another. Every hop is labelled: `call`,
`field Record.field`, `pointer var`, `param name`, `invoke api` (synchronous), or
`KIND via API` for a callback registration (`bh via aio_bh_new`)."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..errors import QlintError


@dataclass(frozen=True, slots=True)
class Hop:
    caller: str          # function keys
    callee: str
    label: str
    file: str            # where the call or registration is written
    line: int
    callback: bool       # a registration: the callee runs later, as an entry point


def _call_hop(program, edge) -> Hop:
    label = edge.kind + (f" {edge.label}" if edge.label else "")
    return Hop(edge.caller, edge.callee, label, program.functions[edge.caller].file,
               edge.call.line, False)


def _registration_hop(reg) -> Hop:
    return Hop(reg.caller, reg.func, f"{reg.kind} via {reg.api}", reg.file, reg.line, True)


def keys_named(program, name: str) -> list[str]:
    keys = program.by_name.get(name, [])
    if not keys:
        raise QlintError(f"no function named '{name}' in the analysed files")
    return keys


def into(program, graph, key: str) -> list[Hop]:
    """Calls of `key`, then its registrations."""
    return [_call_hop(program, e) for e in graph.callers_of(key)] + \
        [_registration_hop(r) for r in graph.registered.get(key, [])]


def out_of(program, graph, key: str, registrations_by_caller: dict | None = None) -> list[Hop]:
    """What `key` calls (in source order; through a field also the functions stored there
    that no analysed file defines), then what it registers."""
    regs = (registrations_by_caller or _registrations_by_caller(graph)).get(key, [])
    fn = program.functions[key]
    outside = [Hop(key, f, f"field {call.via}, defined outside the checked files", fn.file,
                   call.line, False)
               for block in fn.blocks for call in block.events if id(call) in graph.outside
               for f in graph.callees_outside(call)]
    calls = [_call_hop(program, e) for e in graph.edges_from.get(key, [])] + outside
    return sorted(calls, key=lambda h: h.line) + [_registration_hop(r) for r in regs]


def _registrations_by_caller(graph) -> dict:
    by_caller: dict[str, list] = {}
    for reg in graph.registrations:
        by_caller.setdefault(reg.caller, []).append(reg)
    return by_caller


def paths(program, graph, sources: list[str], targets: list[str], limit: int,
          max_hops: int) -> list[list[Hop]]:
    """Up to `limit` paths from a source to a target without repeating a function, shortest
    first, then in source order. One hop per (caller, callee): the first site in the source."""
    by_caller = _registrations_by_caller(graph)
    succ: dict[str, list[Hop]] = {}

    def successors(key: str) -> list[Hop]:
        if key not in succ:
            first: dict[str, Hop] = {}
            for hop in out_of(program, graph, key, by_caller):
                first.setdefault(hop.callee, hop)
            succ[key] = list(first.values())
        return succ[key]

    distance = _distance_to(program, graph, targets, by_caller, max_hops)
    found: list[list[Hop]] = []
    queue = deque(([], s) for s in sorted(sources) if s in distance)
    while queue and len(found) < limit:
        path, key = queue.popleft()
        if key in targets and path:
            found.append(path)
            continue
        seen = {h.caller for h in path} | {key}
        for hop in successors(key):
            remaining = distance.get(hop.callee)
            if remaining is not None and hop.callee not in seen \
                    and len(path) + 1 + remaining <= max_hops:
                queue.append((path + [hop], hop.callee))
    return found


def _distance_to(program, graph, targets: list[str], by_caller: dict, max_hops: int) -> dict:
    """Hops from each function to the nearest target, by breadth-first search backwards."""
    distance = {t: 0 for t in targets}
    frontier = list(targets)
    while frontier:
        following = []
        for key in frontier:
            if distance[key] >= max_hops:
                continue
            for hop in into(program, graph, key):
                if hop.caller not in distance:
                    distance[hop.caller] = distance[key] + 1
                    following.append(hop.caller)
        frontier = following
    return distance

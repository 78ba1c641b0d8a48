"""The scheduler: which interleavings of the scenario's threads are tried.

Exhaustive mode is a depth-first search over machine states with a CHESS preemption bound,
deepened from 0 preemptions to the bound: switching away from a thread that could go on costs
one preemption, switching when it blocks or ends costs nothing. States are hashed: a state
already explored with as few preemptions is not explored again, and only visible operations
are scheduling points (everything a thread does in between touches nothing another thread
sees), which is the partial-order reduction. PCT mode runs randomized priority schedules
(Burckhardt et al., ASPLOS 2010) from a seed.

A counterexample is shrunk to a minimal schedule: the fewest preemptions (the depth at which
the search first found it), then the fewest steps (a breadth-first search within that bound
for the same invariant).
"""
from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field

SEVERE_FIRST = ("deadlock", "completion-twice", "counter-wrap", "guest-in-drained",
                "unlock-not-held", "section-open")


@dataclass
class Search:
    violation: object = None         # machine.Violation of the counterexample
    schedule: list = field(default_factory=list)    # thread index per step
    schedules: int = 0               # executions explored (leaves of the search)
    states: int = 0                  # distinct states
    complete: bool = True            # the bounded space was explored to its end
    preemptions: int = 0             # of the counterexample
    runs: int = 0                    # PCT
    hits: int = 0
    first_hit: int = 0
    found_after: float = 0.0         # seconds to the first counterexample (benchmarks)


def exhaustive(world, bound: int, limit: int) -> Search:
    started = time.perf_counter()
    init = world.initial()
    total = Search()
    race = None
    for preemptions in range(bound + 1):
        level = _dfs(init, preemptions, limit)
        total.schedules = level.schedules
        total.states = level.states
        total.complete = level.complete
        if level.violation is not None and level.violation.invariant != "race":
            total.found_after = time.perf_counter() - started
            return _shrunk(init, level, preemptions, limit, total)
        if race is None and level.violation is not None:
            race = (level, preemptions)
        if not level.complete:
            break
    if race is not None:
        level, preemptions = race
        total.found_after = time.perf_counter() - started
        return _shrunk(init, level, preemptions, limit, total)
    return total


def _dfs(init, bound: int, limit: int) -> Search:
    out = Search()
    visited: dict = {}
    children: dict = {}
    race = None
    root = (init.key(), None)
    stack = [(init, root, 0, None)]
    while stack:
        m, node, pre, path = stack.pop()
        if visited.get(node, bound + 1) <= pre:
            continue
        visited[node] = pre
        if len(visited) > limit:
            out.complete = False
            break
        if m.violation is not None:
            out.violation, out.schedule = m.violation, _unwind(path)
            break
        if m.race is not None and race is None:
            race = (m.race, _unwind(path))
        enabled = m.enabled()
        last = node[1]
        kids = children[node] = []
        for t in sorted(enabled, key=lambda i: i != last, reverse=True):
            cost = pre + (last is not None and t != last and last in enabled)
            if cost <= bound:
                n = m.clone()
                n.step(t)
                child = (n.key(), t)
                kids.append(child)
                stack.append((n, child, cost, (path, t)))
    out.states = len(visited)
    out.schedules = _paths(root, children)
    if out.violation is None and race is not None:
        out.violation, out.schedule = race
    return out


def _paths(root, children) -> int:
    """Executions the explored state graph stands for: paths from the initial state to a
    state without successors (or not expanded)."""
    memo: dict = {}
    active: set = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        kids = children.get(node, ())
        if expanded:
            active.discard(node)
            memo[node] = sum(memo.get(k, 0) for k in kids)   # a cycle's back edge counts 0
            continue
        if node in memo or node in active:
            continue
        if not kids:
            memo[node] = 1
            continue
        active.add(node)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if k not in memo and k not in active)
    return memo.get(root, 1)


def _unwind(path) -> list:
    out = []
    while path is not None:
        path, t = path
        out.append(t)
    return out[::-1]


def _shrunk(init, level: Search, preemptions: int, limit: int, total: Search) -> Search:
    total.violation = level.violation
    total.schedule = shortest(init, level.violation.invariant, preemptions, limit) or level.schedule
    total.preemptions = preemptions_of(init, total.schedule)
    return total


def shortest(init, invariant: str, bound: int, limit: int):
    """The shortest schedule (within `bound` preemptions) to a violation of `invariant`."""
    visited: dict = {}
    queue = deque([(init, None, 0, None)])
    while queue:
        m, last, pre, path = queue.popleft()
        key = (m.key(), last)
        if visited.get(key, bound + 1) <= pre or len(visited) > limit:
            continue
        visited[key] = pre
        found = m.race if invariant == "race" else m.violation
        if found is not None and found.invariant == invariant:
            return _unwind(path)
        if m.violation is not None:
            continue
        enabled = m.enabled()
        for t in sorted(enabled, key=lambda i: i != last, reverse=True):
            cost = pre + (last is not None and t != last and last in enabled)
            if cost <= bound:
                n = m.clone()
                n.step(t)
                queue.append((n, t, cost, (path, t)))
    return None


def preemptions_of(init, schedule) -> int:
    m, last, count = init.clone(), None, 0
    for t in schedule:
        count += last is not None and t != last and last in m.enabled()
        m.step(t)
        last = t
    return count


def replay(init, schedule):
    """Follow a schedule; returns (machine, timeline entries, index of the first step that
    could not be taken or None)."""
    world = init.world
    world.logging = True
    try:
        m = world.initial()
        log = list(world.initial_log)
        for i, t in enumerate(schedule):
            if t not in m.enabled():
                return m, log, i
            m.log = []
            m.step(t)
            log += [e._replace(step=i + 1) for e in m.log]
        return m, log, None
    finally:
        world.logging = False


def pct(world, seed: int, runs: int, depth: int, limit: int) -> Search:
    """Randomized priority schedules: each run gives the threads random distinct priorities
    and lowers the running thread's priority at depth - 1 random steps."""
    init = world.initial()
    rng = random.Random(seed)
    steps = max(len(_priority_run(init, list(range(len(init.threads))), {})[0]), 1)
    out = Search(runs=runs)
    states = set()
    for run in range(1, runs + 1):
        n = len(init.threads)
        order = rng.sample(range(depth, depth + n), n)
        changes = sorted(rng.sample(range(1, steps + 1), min(depth - 1, steps)))
        schedule, m = _priority_run(init, order, {k: depth - 1 - i for i, k in enumerate(changes)},
                                    states)
        out.schedules += 1
        if m.violation is not None or (m.race is not None and out.violation is None):
            found = m.violation or m.race
            if m.violation is not None:
                out.hits += 1
            worse = out.violation is not None and out.violation.invariant == "race" \
                and found.invariant != "race"
            if out.violation is None or worse:
                out.violation, out.schedule, out.first_hit = found, schedule, run
    out.states = len(states)
    if out.violation is not None:
        bound = preemptions_of(init, out.schedule)
        out.schedule = shortest(init, out.violation.invariant, bound, limit) or out.schedule
        out.preemptions = preemptions_of(init, out.schedule)
    return out


def _priority_run(init, priority, changes, states=None):
    m, schedule = init.clone(), []
    priority = list(priority)
    while m.violation is None:
        enabled = m.enabled()
        if not enabled:
            break
        t = max(enabled, key=lambda i: priority[i])
        if len(schedule) + 1 in changes:
            priority[t] = changes[len(schedule) + 1]
            t = max(enabled, key=lambda i: priority[i])
        m.step(t)
        schedule.append(t)
        if states is not None:
            states.add(hash(m.key()))
    return schedule, m

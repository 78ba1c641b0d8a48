"""The scheduler: which interleavings of the scenario's threads, and which ways through the
choice points, are tried.

A step of the search is a thread performing its visible operation and running to its next
one, with the choices it meets on the way (machine.Machine.choose): a step with choices has a
successor per combination, found by running it again with other choices forced. A schedule is
the list of (thread, choices) steps.

Exhaustive mode is a depth-first search over machine states with a CHESS preemption bound,
deepened from 0 preemptions to the bound: switching away from a thread that could go on costs
one preemption, switching when it blocks or ends costs nothing. States are hashed: a state
already explored with as few preemptions is not explored again, and only visible operations
are scheduling points (everything a thread does in between touches nothing another thread
sees), which is the partial-order reduction. PCT mode runs randomized priority schedules
(Burckhardt et al., ASPLOS 2010) from a seed, choices drawn from the same seed.

Every violation a search meets is put to a judge (run.py): one that does not confirm the
finding (its start state breaks the code without any interleaving, it needs a single actor,
or it happens with the rule satisfied too) is counted and the search goes on. A counterexample
is shrunk to a minimal schedule: the fewest preemptions (the depth at which the search first
found it), then the fewest steps (a breadth-first search within that bound for one the judge
accepts too).
"""
from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field

CONFIRMED = "confirmed"


@dataclass
class Search:
    violation: object = None         # machine.Violation of the counterexample
    schedule: list = field(default_factory=list)    # (thread index, choices) per step
    starts: dict = field(default_factory=dict)      # its start values (World.fixed)
    schedules: int = 0               # executions explored (leaves of the search)
    states: int = 0                  # distinct states
    limited: bool = False            # the state limit stopped the search
    cuts: dict = field(default_factory=dict)        # bound that cut executions -> times
    choice_points: int = 0           # steps whose choices were explored every way
    preemptions: int = 0             # of the counterexample
    runs: int = 0                    # PCT
    hits: int = 0
    first_hit: int = 0
    found_after: float = 0.0         # seconds to the first counterexample (benchmarks)

    @property
    def complete(self) -> bool:
        """Nothing was cut: the bounded space was explored to its end."""
        return not self.limited and not self.cuts


def successors(m, t: int) -> list:
    """(machine, choices) after thread t's step, one per way through its choice points (the
    first choices first); the choices of start values are left out (they are the machine's
    start values)."""
    out = []
    pending = [()]
    while pending:
        prefix = pending.pop()
        n = m.clone()
        n.forced = list(prefix)
        n.step(t)
        made = n.made
        if not n.pruned:
            out.append((n, tuple(c for _k, c, start in made if not start)))
        for j in range(len(made) - 1, len(prefix) - 1, -1):
            base = tuple(c for _k, c, _s in made[:j])
            pending.extend(base + (alt,) for alt in range(made[j][0] - 1, 0, -1))
    return out


def replay_world(world, starts: dict):
    """The world in which a counterexample is replayed: its start values fixed, any other
    start value taking its first value."""
    return world.variant(fixed=starts, exploring_starts=False)


def exhaustive(world, bound: int, limit: int, judge) -> Search:
    started = time.perf_counter()
    init = world.initial()
    total = Search()
    race = None
    for preemptions in range(bound + 1):
        judge.level = preemptions
        level = _dfs(init, preemptions, limit, judge)
        if preemptions == 0:
            judge.serial_complete = not level.limited
        total.schedules, total.states = level.schedules, level.states
        total.limited, total.cuts, total.choice_points = level.limited, level.cuts, \
            level.choice_points
        if level.violation is not None and level.violation.invariant != "race":
            total.found_after = time.perf_counter() - started
            return _shrunk(init, level, preemptions, limit, total, judge)
        if race is None and level.violation is not None:
            race = (level, preemptions)
        if level.limited:
            break
    if race is not None:
        level, preemptions = race
        total.found_after = time.perf_counter() - started
        return _shrunk(init, level, preemptions, limit, total, judge)
    return total


def _dfs(init, bound: int, limit: int, judge) -> Search:
    # A state is remembered by its key's hash, not the key: a key holds the whole heap, and
    # a search remembers up to `limit` states (gigabytes on a whole program's heap). Two of
    # 200,000 states share a 64-bit hash with a chance near 1e-9.
    out = Search()
    visited: dict = {}
    children: dict = {}
    race = None
    root = (hash(init.key()), None)
    stack = [(init, root, 0, None, False)]
    while stack:
        m, node, pre, path, raced = stack.pop()
        if visited.get(node, bound + 1) <= pre:
            continue
        visited[node] = pre
        if len(visited) > limit:
            out.limited = True
            break
        for why in m.cuts:
            out.cuts[why] = out.cuts.get(why, 0) + 1
        if m.violation is not None:
            if judge(m, m.violation, _unwind(path)) == CONFIRMED:
                out.violation, out.schedule = m.violation, _unwind(path)
                out.starts = start_values(m)
                break
            children[node] = []
            continue
        if m.race is not None and not raced:
            raced = True
            if race is None and judge(m, m.race, _unwind(path)) == CONFIRMED:
                race = (m.race, _unwind(path), start_values(m))
        enabled = m.enabled()
        last = node[1]
        kids = children[node] = []
        for t in sorted(enabled, key=lambda i: i != last, reverse=True):
            cost = pre + (last is not None and t != last and last in enabled)
            if cost > bound:
                continue
            found = successors(m, t)
            out.choice_points += len(found) > 1
            for n, picks in reversed(found):
                child = (hash(n.key()), t)
                kids.append(child)
                stack.append((n, child, cost, (path, (t, picks)), raced))
    out.states = len(visited)
    out.schedules = _paths(root, children)
    if out.violation is None and race is not None:
        out.violation, out.schedule, out.starts = race
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
        path, step = path
        out.append(step)
    return out[::-1]


def _shrunk(init, level: Search, preemptions: int, limit: int, total: Search, judge) -> Search:
    """The counterexample shrunk: among the executions from its start values (the values
    nobody set that it chose), the shortest the judge confirms."""
    total.violation = level.violation
    fixed = init.world.variant(fixed=level.starts).initial()
    found = shortest(fixed, level.violation.invariant, preemptions, limit, judge)
    total.schedule, total.starts = (found[0], start_values(found[1])) if found else \
        (level.schedule, level.starts)
    total.preemptions = preemptions_of(replay_world(init.world, total.starts).initial(),
                                       total.schedule)
    return total


def start_values(m) -> dict:
    """The start values the execution that led to `m` chose: (object, field) -> value."""
    return {(k[1], k[2]): v for k, v in m.eng.items() if k[0] == "start"}


SHRINK_STATES = 20000            # states the shrinking search visits at most


def shortest(init, invariant: str, bound: int, limit: int, judge):
    """(the shortest schedule (within `bound` preemptions) to a violation of `invariant` that
    the judge confirms, the violating machine), or None if there is none within the
    shrinking's own state limit."""
    visited: dict = {}
    queue = deque([(init, None, 0, None)])
    while queue:
        m, last, pre, path = queue.popleft()
        key = (m.key(), last)
        if visited.get(key, bound + 1) <= pre:
            continue
        if len(visited) > min(limit, SHRINK_STATES):
            return None
        visited[key] = pre
        found = m.race if invariant == "race" else m.violation
        if found is not None and found.invariant == invariant and \
                judge(m, found, _unwind(path)) == CONFIRMED:
            return _unwind(path), m
        if m.violation is not None:
            continue
        enabled = m.enabled()
        for t in sorted(enabled, key=lambda i: i != last, reverse=True):
            cost = pre + (last is not None and t != last and last in enabled)
            if cost <= bound:
                for n, picks in successors(m, t):
                    queue.append((n, t, cost, (path, (t, picks))))
    return None


def preemptions_of(init, schedule) -> int:
    m, last, count = init.clone(), None, 0
    for t, picks in schedule:
        count += last is not None and t != last and last in m.enabled()
        m.forced = list(picks)
        m.step(t)
        last = t
    return count


def replay(init, schedule):
    """Follow a schedule with the timeline on; returns (machine, timeline entries, index of
    the first step that could not be taken or None)."""
    world = init.world
    world.logging = True
    try:
        m = world.initial()
        log = list(world.initial_log)
        for i, (t, picks) in enumerate(schedule):
            if t not in m.enabled():
                return m, log, i
            m.log = []
            m.forced = list(picks)
            m.step(t)
            log += [e._replace(step=i + 1) for e in m.log]
        return m, log, None
    finally:
        world.logging = False


def follow(init, schedule, budget: int = 100000):
    """Follow a schedule as far as the program lets it (the rule-satisfied program may block
    a thread where the original did not: the thread it waits for runs until it can go on),
    then run the threads to their end; returns the machine, with the schedule it took
    (`m.schedule`)."""
    m = init.clone()
    taken = []

    def step(t, picks=()):
        m.forced, m.made = list(picks), []
        m.step(t)
        taken.append((t, tuple(c for _k, c, start in m.made if not start)))
    for t, picks in schedule:
        while budget and not m.violation and t not in m.enabled() and m.enabled():
            budget -= 1
            step(_unblocker(m, t))
        if m.violation or t not in m.enabled():
            break
        step(t, picks)
    while budget and not m.violation and m.enabled():
        budget -= 1
        step(m.enabled()[0])
    m.schedule = taken
    return m


def _unblocker(m, t: int) -> int:
    """The thread holding the lock thread t waits for, if it can run, else the first one."""
    enabled = m.enabled()
    saved, m.t = m.t, t
    op = m.peek()
    m.t = saved
    if op is not None and op[0] == "acquire":
        owner = m.eng.get(("lock", op[1]), ("", ()))[0]
        for i in enabled:
            if m.threads[i].name == owner:
                return i
    return enabled[0]


def pct(world, seed: int, runs: int, depth: int, limit: int, judge) -> Search:
    """Randomized priority schedules: each run gives the threads random distinct priorities
    and lowers the running thread's priority at depth - 1 random steps; its choices are drawn
    from the same seed."""
    init = world.initial()
    rng = random.Random(seed)
    steps = max(len(_priority_run(init, list(range(len(init.threads))), {}, None)[0]), 1)
    out = Search(runs=runs)
    states = set()
    for run in range(1, runs + 1):
        n = len(init.threads)
        order = rng.sample(range(depth, depth + n), n)
        changes = sorted(rng.sample(range(1, steps + 1), min(depth - 1, steps)))
        schedule, m = _priority_run(init, order, {k: depth - 1 - i for i, k in enumerate(changes)},
                                    random.Random(rng.random()), states)
        out.schedules += 1
        for why in m.cuts:
            out.cuts[why] = out.cuts.get(why, 0) + 1
        found = m.violation or m.race
        if found is None or judge(m, found, schedule) != CONFIRMED:
            continue
        if m.violation is not None:
            out.hits += 1
        worse = out.violation is not None and out.violation.invariant == "race" \
            and found.invariant != "race"
        if out.violation is None or worse:
            out.violation, out.schedule, out.first_hit = found, schedule, run
            out.starts = start_values(m)
    out.states = len(states)
    if out.violation is not None:
        replayed = replay_world(world, out.starts).initial()
        bound = preemptions_of(replayed, out.schedule)
        found = shortest(world.variant(fixed=out.starts).initial(), out.violation.invariant,
                         bound, limit, judge)
        if found:
            out.schedule, out.starts = found[0], start_values(found[1])
        out.preemptions = preemptions_of(replay_world(world, out.starts).initial(),
                                         out.schedule)
    return out


def _priority_run(init, priority, changes, rng, states=None):
    m, schedule = init.clone(), []
    m.rng = rng
    priority = list(priority)
    cuts: list = []
    while m.violation is None:
        enabled = m.enabled()
        if not enabled:
            break
        t = max(enabled, key=lambda i: priority[i])
        if len(schedule) + 1 in changes:
            priority[t] = changes[len(schedule) + 1]
            t = max(enabled, key=lambda i: priority[i])
        m.made, m.cuts = [], []
        m.step(t)
        cuts += m.cuts
        schedule.append((t, tuple(c for _k, c, start in m.made if not start)))
        if states is not None:
            states.add(hash(m.key()))
    m.cuts = cuts
    return schedule, m

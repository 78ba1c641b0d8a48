"""Replaying one finding: scenario, search (or a given schedule), the judge that tells whether a
violation confirms the finding, and the confirmation record the JSON report carries:

    {"status": "confirmed" | "violation-not-attributable" | "not-reproduced" | "not-modelled",
     "invariant", "message", "values"     (a violation: what broke, with the concrete values)
     "satisfied"                          (the rule-satisfied program it was replayed on, and
                                           for violation-not-attributable what broke there too)
     "mode", "bound", "coverage", "complete", "era", "threads", "assumptions",
     "preemptions", "steps", "schedule"   (the minimal counterexample, step by step)
     "reason"                             (not-modelled: what the engine does not model)}

A violation confirms the finding when (1) its start state is one the code can be in: no
execution of the actors one after the other, from the same start values, breaks the same
invariant (unless the rule's violation is sequential by nature: a lock left held; a lockset
race does not depend on the order of the accesses); (2) for a
concurrency rule (QL101, QL103, QL202), at least two actors act on what broke; and (3) the
same schedule, replayed on the program with the rule satisfied (satisfy.py), does not break
it. A violation that fails (3) is `violation-not-attributable`, reported with both runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import explore
from .satisfy import finding_sections, satisfied
from .scenario import CONCURRENCY_RULES, SEQUENTIAL, NotModelled, _function, build
from .values import object_name


@dataclass
class Mode:
    """How to search: exhaustively within a preemption bound, by PCT, or along a schedule."""
    bound: int | None = None
    pct: bool = False
    seed: int = 0
    runs: int | None = None
    schedule: tuple | None = None         # ([(thread name, choices) per step], start values)


@dataclass
class Replay:
    finding: dict
    confirmation: dict
    timeline: list = field(default_factory=list)       # machine.Entry of the counterexample
    threads: list = field(default_factory=list)
    steps: list = field(default_factory=list)          # (thread name, choices) per step
    starts: dict = field(default_factory=dict)         # its start values (World.fixed)


class Judge:
    """Tells whether a violation the search met confirms the finding; counts those that do
    not, and keeps the first that happens with the rule satisfied too."""

    def __init__(self, world):
        self.world = world
        self.rule = world.finding["rule"]
        focus = _function(world.program, world.finding["function"], world.finding["path"])
        found = satisfied(world, focus)
        self.satisfied_world, self.satisfied_words = found if found else (None, "")
        self.rejected: dict = {"another lock or section left open": 0,
                               "without interleaving": 0, "single actor": 0,
                               "also with the rule satisfied": 0}
        items = [world.engine.section_item(s) for s in finding_sections(world.finding)]
        self.items = [i for i in items if i is not None]
        # (violation, schedule, start values, the violation and schedule with the rule
        # satisfied) of the first violation that happens with the rule satisfied too
        self.not_attributable = None
        self._serial: dict = {}
        self._satisfied: dict = {}
        # The exhaustive search explores executions without preemptions first: the
        # violations it meets there (and the start values they read) are the serial ones.
        self.level = None
        self.serial_complete = False
        self.serial_found: list = []
        self._verdicts: dict = {}

    def __call__(self, machine, violation, schedule) -> str:
        starts = explore.start_values(machine)
        key = (violation.invariant, violation.message, tuple(schedule),
               tuple(sorted(starts.items(), key=repr)))
        if key not in self._verdicts:
            self._verdicts[key] = self._judge(machine, violation, schedule)
        return self._verdicts[key]

    def _judge(self, machine, violation, schedule) -> str:
        if not self.concerns(violation):
            return self._reject("another lock or section left open")
        starts = explore.start_values(machine)
        if violation.invariant not in SEQUENTIAL[self.rule] + ("race",) and \
                self.without_interleaving(violation.invariant, starts):
            return self._reject("without interleaving")
        if self.rule in CONCURRENCY_RULES and violation.invariant != "race":
            replayed = explore.replay_world(self.world, starts).initial()
            m, _log, _stuck = explore.replay(replayed, schedule)
            if len(actors(m, violation)) < 2:
                return self._reject("single actor")
        if self.satisfied_world is None:
            return self._reject("also with the rule satisfied")
        again = self.with_rule_satisfied(violation, schedule, starts)
        if again is not None:
            if self.not_attributable is None:
                self.not_attributable = (violation, schedule, starts) + again
            return self._reject("also with the rule satisfied")
        return explore.CONFIRMED

    def with_rule_satisfied(self, violation, schedule, starts):
        """(the violation, its schedule) of the same invariant on the rule-satisfied program
        from the same start values: along the same schedule (as far as the program lets it:
        the lock it adds may hold a thread back), else along any schedule within as many
        preemptions as the counterexample needed; or None."""
        def same(v) -> bool:
            return v is not None and v.invariant == violation.invariant and self.concerns(v)
        world = explore.replay_world(self.satisfied_world, starts)
        other = explore.follow(world.initial(), schedule)
        found = other.violation or other.race
        if same(found):
            return found, other.schedule
        key = (violation.invariant, tuple(sorted(starts.items(), key=repr)))
        if key not in self._satisfied:
            bound = explore.preemptions_of(explore.replay_world(self.world, starts).initial(),
                                           schedule)
            level = explore._dfs(self.satisfied_world.variant(fixed=starts).initial(), bound,
                                 self.world.bounds["states"],
                                 lambda _m, v, _s: explore.CONFIRMED if same(v) else "other")
            self._satisfied[key] = (level.violation, level.schedule) if level.violation else None
        return self._satisfied[key]

    def concerns(self, violation) -> bool:
        """Is a violation about what the finding is about? (What is left open at the end must
        include the finding's lock or section.)"""
        if violation.invariant != "section-open" or not self.items:
            return True
        return any(_same_item(mine, item) for mine in self.items for item in violation.place[1:])

    def _reject(self, why: str) -> str:
        self.rejected[why] += 1
        return why

    def without_interleaving(self, invariant: str, starts: dict) -> bool:
        """Does an execution without preemptions from these start values break `invariant`?
        At the search's first level (no preemptions) every violation does; later, one does if
        the first level met it from start values these agree with (or, when the first level
        was cut short or there was none, a search without preemptions finds one)."""
        if self.level == 0:
            self.serial_found.append((invariant, starts))
            return True
        if any(inv == invariant and all(starts.get(k, _MISSING) == v for k, v in found.items())
               for inv, found in self.serial_found):
            return True
        return False if self.serial_complete else self.serial(invariant, starts)

    def serial(self, invariant: str, starts: dict) -> bool:
        """Does an execution without preemptions from these start values break `invariant`?
        (Then the code breaks without any interleaving: the start state is not one the code
        is ever in.)"""
        key = (invariant, tuple(sorted(starts.items(), key=repr)))
        if key not in self._serial:
            world = self.world.variant(fixed=starts)
            level = explore._dfs(world.initial(), 0, self.world.bounds["states"],
                                 lambda _m, v, _s: explore.CONFIRMED if v.invariant == invariant
                                 else "other")
            self._serial[key] = level.violation is not None
        return self._serial[key]


_MISSING = object()


def _same_item(mine, item) -> bool:
    if mine[0] == "lock":
        return item[0] == "lock" and item[1][0] == mine[1]
    return mine == item


def actors(m, violation) -> set:
    """The threads that acted on what the violation broke (the setup excluded)."""
    who = set(m.touched.get(violation.place, ())) | {violation.thread}
    if violation.place and violation.place[0] == "threads":
        who |= set(violation.place[1])
    return who - {"setup"}


def replay_finding(finding: dict, analysis, mode: Mode) -> Replay:
    try:
        world = build(finding, analysis)
        threads = [th.name for th in world.initial().threads]
    except NotModelled as e:
        return Replay(finding, {"status": "not-modelled", "reason": str(e)})
    judge = Judge(world)
    if mode.schedule is not None:
        return _follow(finding, world, judge, mode.schedule)
    bounds = world.bounds
    if mode.pct:
        runs = mode.runs or bounds["pct_runs"]
        search = explore.pct(world, mode.seed, runs, bounds["pct_depth"], bounds["states"], judge)
        record = {"mode": "pct", "seed": mode.seed, "runs": runs, "hits": search.hits,
                  "first_hit": search.first_hit}
    else:
        bound = bounds["preemptions"] if mode.bound is None else mode.bound
        search = explore.exhaustive(world, bound, bounds["states"], judge)
        record = {"mode": "exhaustive"}
    record.update(bound=_bound(world, mode), coverage=_coverage(world, search, judge),
                  complete=search.complete)
    return _result(finding, world, judge, threads, search.violation, search.schedule,
                   search.starts, record)


def _follow(finding, world, judge, given) -> Replay:
    steps, starts = given
    threads = [th.name for th in world.initial().threads]
    unknown = sorted({name for name, _c in steps} - set(threads))
    if unknown:
        return Replay(finding, _scenario(world, {
            "status": "not-reproduced", "mode": "schedule",
            "reason": "the schedule names threads the scenario does not have: "
                      + ", ".join(unknown)}))
    schedule = [(threads.index(name), tuple(choices)) for name, choices in steps]
    m, _log, stuck = explore.replay(explore.replay_world(world, starts).initial(), schedule)
    record = {"mode": "schedule"}
    violation = m.violation or m.race
    if stuck is not None:
        record["reason"] = (f"the schedule cannot be followed on the current code: at step "
                            f"{stuck + 1} {steps[stuck][0]} cannot run")
        violation = None
    elif violation is not None and judge(m, violation, schedule) != explore.CONFIRMED:
        record["reason"] = f"the schedule's violation does not confirm the finding " \
                           f"({judge(m, violation, schedule)})"
        violation = None
    record["coverage"] = {"states": len(schedule) + 1, "schedules": 1}
    return _result(finding, world, judge, threads, violation, schedule, starts, record)


def _result(finding, world, judge, threads, violation, schedule, starts, record) -> Replay:
    if violation is None and judge.not_attributable is not None:
        violation, schedule, starts, again, again_schedule = judge.not_attributable
        record = _scenario(world, {"status": "violation-not-attributable", **_broken(violation),
                                   **record})
        satisfied = explore.replay_world(judge.satisfied_world, starts)
        _m, timeline, _stuck = explore.replay(satisfied.initial(), again_schedule)
        record["satisfied"] = {"change": judge.satisfied_words, "invariant": again.invariant,
                               "message": again.message,
                               "schedule": [_entry(e) for e in timeline]}
        return _with_counterexample(finding, world, threads, violation, schedule, starts, record)
    if violation is None:
        record = _scenario(world, {"status": "not-reproduced", **record})
        if judge.satisfied_words:
            record["satisfied"] = {"change": judge.satisfied_words}
        return Replay(finding, record, threads=threads)
    record = _scenario(world, {"status": "confirmed", **_broken(violation), **record})
    record["satisfied"] = {"change": judge.satisfied_words, "invariant": None}
    return _with_counterexample(finding, world, threads, violation, schedule, starts, record)


def _broken(violation) -> dict:
    return {"invariant": violation.invariant, "message": violation.message,
            "values": {name: value for name, value in violation.values}}


def _with_counterexample(finding, world, threads, violation, schedule, starts, record) -> Replay:
    replayed = explore.replay_world(world, starts)
    m, timeline, _stuck = explore.replay(replayed.initial(), schedule)
    shown = next((v for v in (m.violation, m.race) if v is not None and
                  v.invariant == violation.invariant), violation)
    record.update(_broken(shown))
    record["start"] = {_start_name(key): value for key, value in sorted(starts.items(),
                                                                        key=repr)}
    record["preemptions"] = explore.preemptions_of(replayed.initial(), schedule)
    record["steps"] = len(schedule)
    record["schedule"] = [_entry(e) for e in timeline]
    return Replay(finding, record, timeline, threads,
                  [(threads[t], picks) for t, picks in schedule], starts)


def _start_name(key) -> str:
    """How a start value is named: "LinuxAioState.io_q.in_flight", "ring" (the requests the
    kernel completed before the scenario), "Req(ReqQueue.head).next"."""
    obj, path = key
    return f"{object_name(obj)}.{path}" if path else object_name(obj)


def _scenario(world, record: dict) -> dict:
    record["era"] = world.era.name
    record["threads"] = [th.name for th in world.initial().threads]
    record["assumptions"] = list(world.notes)
    return record


def _coverage(world, search, judge) -> dict:
    """What the search explored, what cut it short, and what it could not evaluate."""
    out = {"states": search.states, "schedules": search.schedules,
           "choice_points": search.choice_points,
           "cuts": dict(sorted(search.cuts.items())),
           "unknowns": {what: len(places) for what, places in sorted(world.unknowns.items())},
           "rejected": {k: v for k, v in judge.rejected.items() if v}}
    if search.limited:
        out["cuts"]["state limit reached"] = 1
    return out


def _bound(world, mode: Mode) -> dict:
    b = world.bounds
    out = {"polls": b["polls"], "loop": b["loop"], "depth": b["depth"], "states": b["states"],
           "fires": b["fires"], "values": b["values"], "choices": b["choices"],
           "completions": world.model.ring.completions}
    if mode.pct:
        out["pct_depth"] = b["pct_depth"]
    else:
        out["preemptions"] = b["preemptions"] if mode.bound is None else mode.bound
    return dict(sorted(out.items()))


def _entry(e) -> dict:
    out = {"step": e.step, "thread": e.thread, "function": e.function, "event": e.text}
    if e.path:
        out["path"], out["line"] = e.path, e.line
    if e.violation:
        out["violation"] = True
    return out

"""Replaying one finding: scenario, search (or a given schedule), and the confirmation record
that the JSON report carries:

    {"status": "confirmed" | "not-reproduced" | "not-modelled",
     "invariant", "message", "values"     (confirmed: what broke, with the concrete values)
     "mode", "schedules", "states", "complete", "bound", "era", "threads", "assumptions",
     "preemptions", "schedule"            (confirmed: the minimal counterexample, step by step)
     "reason"                             (not-modelled: what the engine does not model)}
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import explore
from .scenario import NotModelled, build


@dataclass
class Mode:
    """How to search: exhaustively within a preemption bound, by PCT, or along a schedule."""
    bound: int | None = None
    pct: bool = False
    seed: int = 0
    runs: int | None = None
    schedule: list | None = None          # thread names, one per step


@dataclass
class Replay:
    finding: dict
    confirmation: dict
    timeline: list = field(default_factory=list)       # machine.Entry of the counterexample
    threads: list = field(default_factory=list)
    steps: list = field(default_factory=list)          # thread names of the counterexample


def replay_finding(finding: dict, analysis, mode: Mode) -> Replay:
    try:
        world = build(finding, analysis)
        world.initial()
    except NotModelled as e:
        return Replay(finding, {"status": "not-modelled", "reason": str(e)})
    threads = [name for name, _frames in world.threads]
    if mode.schedule is not None:
        return _follow(finding, world, threads, mode.schedule)
    bounds = world.bounds
    if mode.pct:
        runs = mode.runs or bounds["pct_runs"]
        search = explore.pct(world, mode.seed, runs, bounds["pct_depth"], bounds["states"])
        record = {"mode": "pct", "seed": mode.seed, "runs": runs, "hits": search.hits,
                  "first_hit": search.first_hit}
    else:
        bound = bounds["preemptions"] if mode.bound is None else mode.bound
        search = explore.exhaustive(world, bound, bounds["states"])
        record = {"mode": "exhaustive"}
    record.update(schedules=search.schedules, states=search.states, complete=search.complete,
                  bound=_bound(world, mode))
    return _result(finding, world, threads, search.violation, search.schedule, record)


def _follow(finding, world, threads, names) -> Replay:
    unknown = sorted(set(names) - set(threads))
    if unknown:
        return Replay(finding, _scenario(world, {
            "status": "not-reproduced", "mode": "schedule",
            "reason": "the schedule names threads the scenario does not have: "
                      + ", ".join(unknown)}))
    steps = [threads.index(n) for n in names]
    m, _log, stuck = explore.replay(world.initial(), steps)
    record = {"mode": "schedule", "schedules": 1, "states": len(steps) + 1}
    violation = m.violation or m.race
    if stuck is not None:
        record["reason"] = (f"the schedule cannot be followed on the current code: at step "
                            f"{stuck + 1} {names[stuck]} cannot run")
        violation = None
    return _result(finding, world, threads, violation, steps, record)


def _result(finding, world, threads, violation, steps, record) -> Replay:
    if violation is None:
        record = _scenario(world, {"status": "not-reproduced", **record})
        return Replay(finding, record, threads=threads)
    m, timeline, _stuck = explore.replay(world.initial(), steps)
    violation = next(v for v in (m.violation, m.race, violation)
                     if v is not None and v.invariant == violation.invariant)
    confirmation = {"status": "confirmed", "invariant": violation.invariant,
                    "message": violation.message,
                    "values": {name: value for name, value in violation.values}, **record,
                    "preemptions": explore.preemptions_of(world.initial(), steps),
                    "steps": len(steps)}
    confirmation = _scenario(world, confirmation)
    confirmation["schedule"] = [_entry(e) for e in timeline]
    return Replay(finding, confirmation, timeline, threads, [threads[i] for i in steps])


def _scenario(world, record: dict) -> dict:
    record["era"] = world.era.name
    record["threads"] = [name for name, _frames in world.threads]
    record["assumptions"] = list(world.notes)
    return record


def _bound(world, mode: Mode) -> dict:
    b = world.bounds
    out = {"polls": b["polls"], "loop": b["loop"], "depth": b["depth"], "states": b["states"],
           "completions": world.linux_aio.completions}
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

"""One `qlint check` run: discover → parse (workers) → program → call graph → rules → findings."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from . import config as configmod
from .frontend import discover
from .frontend.workers import parse_all
from .graph.callgraph import CallGraph
from .graph.program import Program
from .report.model import finalize
from .rules.registry import Context, select


@dataclass
class Options:
    paths: list
    build_dir: str | None = None
    config_file: str | None = None
    select: list | None = None
    ignore: list | None = None
    extend_select: list | None = None
    includes: list = field(default_factory=list)
    defines: list = field(default_factory=list)
    jobs: int | None = None
    timeout: float = 300.0
    force_exclude: bool | None = None      # None: as configured
    degraded: bool = True


@dataclass
class Result:
    findings: list
    stats: dict
    plan: object
    tus: list
    program: object = None
    graph: object = None
    context: object = None
    rules: list = field(default_factory=list)


def load_config(options: Options) -> configmod.Config:
    path = options.config_file or configmod.find(options.paths[0] if options.paths else ".")
    return configmod.load(path)


def analyse(options: Options, progress=None) -> Result:
    started = time.monotonic()
    cfg = load_config(options)
    rules = select(options.select or cfg.get("select"), options.ignore or cfg.get("ignore"),
                   options.extend_select or cfg.get("extend-select"))
    pack = configmod.build_pack(cfg)
    plan = discover.plan(options.paths, options.build_dir or cfg.get("build-dir"),
                         includes=list(cfg.get("include", [])) + list(options.includes),
                         defines=list(cfg.get("define", [])) + list(options.defines),
                         excludes=cfg.get("exclude", []),
                         force_exclude=cfg.flag("force-exclude", options.force_exclude),
                         degraded=options.degraded)
    jobs = options.jobs or cfg.get("jobs") or os.cpu_count() or 1
    if progress:
        progress.start(len(plan.jobs))
    facts = parse_all(plan.jobs, jobs, options.timeout,
                      on_done=progress.advance if progress else None)
    if progress:
        progress.stop()
    tus = [facts[job.file] for job in plan.jobs]
    program = Program(tus)
    active = pack.active(program.declared)
    graph = CallGraph(program, active)
    ctx = Context(program, graph, active)
    findings = []
    for rule_cls in rules:
        findings.extend(rule_cls().check(ctx))
    findings = finalize(findings, os.getcwd())
    stats = _stats(plan, tus, program, graph, ctx, started)
    return Result(findings, stats, plan, tus, program, graph, ctx, rules)


def _stats(plan, tus, program, graph, ctx, started) -> dict:
    locks = ctx.__dict__.get("locks")
    stats = {
        "tus": len(tus),
        "tus_with_errors": sum(1 for t in tus if t.errors or t.problem),
        "tus_failed": sum(1 for t in tus if t.problem),
        "degraded_tus": sum(1 for t in tus if t.degraded),
        "functions": len(program.functions),
        "call_edges": graph.call_edges(),
        "registrations": len(graph.registrations),
    }
    if locks is not None:
        stats["requirements_at_unknown_callers"] = len(locks.unknown_callers())
        stats["functions_explored_partially"] = len(locks.truncated)
    stats["seconds"] = round(time.monotonic() - started, 3)
    return stats

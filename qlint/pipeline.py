"""One `qlint check` run: discover → parse (workers) → program → call graph → rules → findings.

The findings are the whole program's (the context, qlint/scope.py), cached as one result whose
paths are relative to the project root; the run reports those in the scope of its paths."""
from __future__ import annotations

import copy
import functools
import gc
import os
import time
from dataclasses import asdict, dataclass, field, replace

from . import config as configmod
from . import diff
from .errors import QlintError
from .frontend import discover
from .frontend.discover import ContextGlobs
from .frontend.cache import FactsCache, code_digest, default_dir
from .frontend.collect import CollectStats, collect
from .graph.callgraph import CallGraph
from .graph.program import Program
from .infer.contracts import KINDS, Inference, Settings, infer, kind_of
from .infer.render import definition, render
from .project import Glob, PerFileIgnore, globs, per_file_ignores
from .pack.load import builtin_pack_dir
from .pack.model import Evidence, Requirement
from .report.model import (Related, finalize, finding_from_dict, finding_to_dict, portable,
                           rebase, relative)
from .rules.base import Context
from .rules.dispatch import dispatch
from .rules.registry import select
from .rules.selection import Layer


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
    cache_dir: str | None = None
    no_cache: bool = False
    force_exclude: bool | None = None      # None: as configured
    degraded: bool = True
    exclude: list | None = None            # globs relative to the working directory; None:
    extend_exclude: list = field(default_factory=list)          # the configured ones
    per_file_ignores: dict | None = None   # {glob: [codes]}, as `exclude`
    extend_per_file_ignores: dict = field(default_factory=dict)
    whole_program: bool = True             # False: the program is the named paths only
    report_paths_through: bool = False     # report findings whose path passes the named paths
    diff: str | None = None                # a git revision: report what changed since
    infer: bool | None = None              # None: as configured (on by default)


@dataclass
class Result:
    findings: list                     # those in the report scope
    stats: dict
    plan: object
    tus: list
    program: object = None
    graph: object = None
    context: object = None
    inference: object = None           # infer.contracts.Inference, when contracts were inferred
    rules: list = field(default_factory=list)
    collected: object = None           # what collecting the facts took (cache hits, PCHs)
    problems: list = field(default_factory=list)
    inactive: dict = field(default_factory=dict)    # code -> why the rule cannot report here
    program_findings: list = field(default_factory=list)    # the whole program's
    problems_outside: int = 0          # TUs outside the scope that had problems
    diff: object = None                # the diff.Change of --diff
    reused: bool = False               # the findings are the stored result of an earlier run

    def release(self) -> None:
        """Drop the analysed program (facts, call graph, analyses): what a caller that accepts
        a stored result cannot count on, and what --diff needs the memory of for the program
        at the revision."""
        self.tus = self.program = self.graph = self.context = self.inference = None
        gc.collect()    # the analyses' summaries and explorers refer to each other


def load_config(options: Options) -> configmod.Config:
    path = options.config_file or configmod.find(options.paths[0] if options.paths else ".")
    return configmod.load(path)


def selection_layers(options: Options, cfg) -> list[Layer]:
    """The configuration's rule selection, then the command line's (rules/selection.py)."""
    return [Layer.of(cfg.get("select"), cfg.get("extend-select"), cfg.get("ignore")),
            Layer.of(options.select, options.extend_select, options.ignore)]


def excludes(options: Options, cfg) -> list[Glob]:
    """`--exclude` replaces the configured `exclude`; the `extend-exclude`s add to it. The
    configuration's globs are relative to the project root, the command line's to the working
    directory (qlint/project.py)."""
    cwd = os.getcwd()
    chosen = globs(cfg.get("exclude")) if options.exclude is None else globs(options.exclude, cwd)
    return chosen + globs(cfg.get("extend-exclude")) + globs(options.extend_exclude, cwd)


def file_ignores(options: Options, cfg, root: str) -> list[PerFileIgnore]:
    """The per-file ignores, chosen as the excludes are."""
    cwd = os.getcwd()
    chosen = per_file_ignores(cfg.get("per-file-ignores")) if options.per_file_ignores is None \
        else per_file_ignores(options.per_file_ignores, cwd)
    found = chosen + per_file_ignores(cfg.get("extend-per-file-ignores")) + \
        per_file_ignores(options.extend_per_file_ignores, cwd)
    return [i.at(root) for i in found]


def context_globs(options: Options, cfg) -> ContextGlobs | None:
    """The configuration's choice of the program's TUs; None: the named paths only."""
    if not options.whole_program:
        return None
    return ContextGlobs(globs(cfg.get("context-include")), globs(cfg.get("context-exclude")))


def _setup(options: Options):
    cfg = load_config(options)
    pack = configmod.build_pack(cfg)
    plan = discover.plan(options.paths, options.build_dir or cfg.get("build-dir"),
                         includes=list(cfg.get("include", [])) + list(options.includes),
                         defines=list(cfg.get("define", [])) + list(options.defines),
                         excludes=excludes(options, cfg),
                         force_exclude=cfg.flag("force-exclude", options.force_exclude),
                         degraded=options.degraded, config_path=cfg.path,
                         context=context_globs(options, cfg),
                         through=options.report_paths_through)
    cache = None
    if not options.no_cache:
        cache = FactsCache(options.cache_dir or cfg.get("cache-dir") or default_dir(plan.database))
    return cfg, pack, plan, cache


def _collect(options: Options, cfg, plan, cache, progress=None, announce=None) -> list:
    """The facts of the plan's TUs; the progress bar counts those parsed, then says
    "analysing" (all of it when every TU comes from the cache). `announce(to_parse, outside,
    cached)` is told first how many TUs will be parsed, how many of them lie outside the scope,
    and whether their facts are kept; for the program at a revision (--diff), also `rev=`."""
    jobs = options.jobs or cfg.get("jobs") or os.cpu_count() or 1
    todo = [job for job in plan.jobs if cache is None or not cache.peek(job)]
    checked = set(plan.checked)
    outside = sum(1 for job in todo if job.file not in checked)
    if announce and todo:
        announce(len(todo), outside, cache is not None)
    if progress:
        progress.start(len(todo))
    facts, collected = collect(plan.jobs, jobs, options.timeout, cache,
                               on_parsed=progress.advance if progress else None)
    if progress:
        progress.analysing()
    if cache is not None:
        cache.prune()
    plan.collected = collected
    return [facts[job.file] for job in plan.jobs]


def without_cycle_collection(func):
    """A run builds about a million long-lived objects (facts, call graph, summaries) and
    drops them at exit; the cycle collector's passes over them took a third of a run and
    found nothing it could free (Result.release collects once, for what --diff drops).
    Workers, forked meanwhile, turn it back on (frontend/workers.py)."""
    @functools.wraps(func)
    def run(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()
    return run


@without_cycle_collection
def load(options: Options):
    """Configuration, built-in and configured packs, and the program's facts."""
    cfg, pack, plan, cache = _setup(options)
    tus = _collect(options, cfg, plan, cache)
    return cfg, pack, plan, tus, Program(tus)


def shard_of(jobs: list, index: int, count: int) -> list:
    """Shard `index` (from 1) of `count`: every count-th of the program's TUs, in the plan's
    order (sorted by path), so that every runner of a CI matrix takes the same share."""
    return jobs[index - 1::count]


def parse_shard(options: Options, index: int, count: int, progress=None) -> dict:
    """Parse shard `index` of `count` of the program's TUs into the cache and stop: a later
    run over the cache the shards filled analyses the whole program without parsing."""
    cfg, _pack, plan, cache = _setup(options)
    if cache is None:
        raise QlintError("--shard fills the cache: it cannot go with --no-cache")
    mine = shard_of(plan.jobs, index, count)
    todo = [job for job in mine if not cache.peek(job)]
    if progress:
        progress.start(len(todo))
    try:
        _facts, collected = collect(todo, options.jobs or cfg.get("jobs") or os.cpu_count() or 1,
                                    options.timeout, cache,
                                    on_parsed=progress.advance if progress else None)
    finally:
        if progress:
            progress.stop()
    cache.prune()
    return {"tus": len(plan.jobs), "shard": len(mine), "parsed": collected.parsed,
            "cached": len(mine) - len(todo), "cache": cache.directory}


@without_cycle_collection
def analyse(options: Options, progress=None, reuse: bool = True, announce=None) -> Result:
    """The findings of the whole program (the context) in the scope of the options' paths;
    with `options.diff`, those on lines of the paths changed since that revision, and those
    the changes made there introduced, wherever they are.
    With `reuse`, a run over facts, configuration and rules that are all unchanged takes the
    program's findings from the cache, and --diff analyses the program at the revision after
    releasing the current one (one program in memory at a time). `announce`: as for
    _collect."""
    started = time.monotonic()
    cfg, pack, plan, cache = _setup(options)
    rules = select(selection_layers(options, cfg))
    run = Run(options, cfg, pack, cache, rules, reuse)
    result = run.program(plan, progress, announce)
    base = os.getcwd()
    wanted = plan.scope.covers
    if options.diff:
        change = diff.changes(options.diff, options.paths[0] if options.paths else ".",
                              plan.scope.holds)
        then = _as_before(plan, change, cache, result.tus)
        if reuse:
            result.release()
        before = run.program(then, None, announce and functools.partial(announce, rev=change.rev))
        known = {f.fingerprint: {w.message for w in f.ways} for f in before.findings}
        newly_reached = _new_ways(result.findings, known, change.rev)
        result.diff = change

        def wanted(f, base):
            """On a changed line, or introduced by the change wherever it is reported, or
            reached by a way in that the change opened."""
            return (change.touches(f, base) or f.fingerprint not in known or
                    f.fingerprint in newly_reached) and \
                not plan.scope.excluded(os.path.join(base, f.path))
    return _in_scope(result, base, started, wanted)


@dataclass
class Run:
    """What analysing a program takes besides its plan."""
    options: Options
    cfg: object
    pack: object
    cache: object
    rules: list
    reuse: bool

    def program(self, plan, progress=None, announce=None) -> Result:
        """The whole program's findings, paths relative to the project root: from the cache,
        or collected and analysed (and then cached)."""
        cache, cfg, rules = self.cache, self.cfg, self.rules
        key = _result_key(cache, plan, cfg, rules, self.options.infer) \
            if cache is not None and self.reuse else None
        stored = cache.load_result(key) if key else None
        if stored is not None:
            plan.collected = CollectStats(cached=len(plan.jobs))
            return Result([finding_from_dict(d) for d in stored["findings"]],
                          dict(stored["stats"]), plan, None, rules=rules,
                          collected=plan.collected, problems=stored["problems"],
                          inactive=stored.get("inactive", {}), reused=True)
        try:
            tus = _collect(self.options, cfg, plan, cache, progress, announce)
            program, graph, ctx, findings = check_facts(tus, self.pack, rules, plan.root,
                                                        plan.root, infer_settings(cfg, self.options))
        finally:
            if progress:
                progress.stop()
        stats = _stats(plan, tus, program, graph, ctx)
        problems = [problem_record(tu) for tu in tus if tu.problem or tu.errors]
        inactive = {r.code: why for r in rules if (why := r.inactive_reason(ctx.pack))}
        if key:
            cache.store_result(key, {"findings": [finding_to_dict(f) for f in findings],
                                     "stats": stats, "problems": problems,
                                     "inactive": inactive}, plan.jobs)
            if ctx.inference is not None:      # what `qlint infer` would compute again
                cache.store_result(_contracts_key(cache, plan, cfg),
                                   contracts_record(ctx.inference, ctx.pack), plan.jobs)
        return Result(findings, stats, plan, tus, program, graph, ctx, ctx.inference, rules,
                      plan.collected, problems, inactive)


def _new_ways(findings, known: dict, rev: str) -> set:
    """The fingerprints of the findings there were at `rev` (`known`: fingerprint -> the
    messages of its ways in) that a way in reaches now and did not then; each such way is
    listed first among the finding's related locations."""
    reached = set()
    for f in findings:
        then = known.get(f.fingerprint)
        new = [w for w in f.ways if w.message not in then] if then is not None else []
        if new:
            reached.add(f.fingerprint)
            f.related = [Related(w.path, w.line, f"since {rev}, {w.message}", w.column)
                         for w in new] + f.related
    return reached


def _as_before(plan, change, cache, tus) -> discover.Plan:
    """The plan of the program as it was at the change's revision: each TU that consists of a
    changed file parsed with that file's content at the revision, and without the TUs whose
    source did not exist then."""
    before = copy.copy(plan)
    jobs = []
    for i, job in enumerate(plan.jobs):
        if change.added(job.file):
            continue
        overlay = change.overlay(_files_of(i, job, tus, cache))
        jobs.append(job.with_overlay(overlay) if overlay else job)
    before.jobs = jobs
    return before


def _in_scope(result: Result, base: str, started: float, wanted) -> Result:
    """The program's findings with paths relative to `base` (they are relative to the project
    root), those `wanted(finding, base)` as the result's findings, and the problems in the
    plan's scope."""
    plan = result.plan
    result.program_findings = rebase(result.findings, plan.root, base)
    result.findings = [f for f in result.program_findings if wanted(f, base)]
    inside = [p for p in result.problems if plan.scope.holds(p["path"])]
    result.problems_outside = len(result.problems) - len(inside)
    result.problems = [problem_report(p, base) for p in inside]
    result.stats["seconds"] = round(time.monotonic() - started, 3)
    return result


@without_cycle_collection
def inferred(options: Options, progress=None) -> dict:
    """What `qlint infer`, `qlint rules` and `qlint explain` tell of the contracts inferred
    from the whole program that the options' paths state (with evidence in a file of the
    translation units they name): {"toml": the inferred pack, "counts": entries per kind of
    evidence, "cells": [table, kind of lock, kind of evidence] per entry}. The whole
    program's contracts are cached with its facts (a `qlint check` stores them too)."""
    cfg, pack, plan, cache = _setup(options)
    key = _contracts_key(cache, plan, cfg)
    record = cache.load_result(key) if key else None
    tus = None
    if record is None:
        try:
            tus = _collect(options, cfg, plan, cache, progress)
            program = Program(tus)
            active = pack.active(program.declared)
            settings = replace(infer_settings(cfg, options), enabled=True)
            inference, with_inferred, _analysis = infer(program, CallGraph(program, active),
                                                        active, settings)
        finally:
            if progress:
                progress.stop()
        record = contracts_record(inference, with_inferred)
        if key:
            cache.store_result(key, record, plan.jobs)
    files = _checked_files(plan, tus, cache)
    shown = [r for r in record if any(e["file"] in files for e in r["evidence"])]
    entries = [_requirement(r) for r in shown]
    used = [(entry, r) for entry, r in zip(entries, shown) if r["used"]]
    counts = dict.fromkeys(KINDS, 0)
    for entry, _r in used:
        counts[kind_of(entry)] += 1
    locks = {r["lock_def"]["name"]: r["lock_def"] for r in shown if r.get("lock_def")}
    return {"toml": render(entries, os.getcwd(), locks.values()), "counts": counts,
            "cells": [[entry.kind, r["lock_kind"], kind_of(entry)] for entry, r in used]}


def _contracts_key(cache, plan, cfg) -> str | None:
    return _result_key(cache, plan, cfg, [], "contracts") if cache is not None else None


def contracts_record(inference: Inference, pack) -> list[dict]:
    """A whole program's inferred contracts as plain data: the entries used (`used`) and
    those the packs state as well, each with its evidence and the kind of its lock."""
    kinds = pack.section_kinds()
    made = {s.name: definition(s) for s in pack.sections
            if s.origin is not None and s.origin.pack == "inferred"}

    def plain(r, used: bool) -> dict:
        out = {"kind": r.kind, "function": r.function, "lock": r.lock, "used": used,
               "lock_kind": kinds.get(r.lock, ""), "evidence": [asdict(e) for e in r.evidence]}
        return dict(out, lock_def=made[r.lock]) if r.lock in made else out
    return [plain(r, True) for r in inference.entries] + \
        [plain(r, False) for r in inference.stated()[len(inference.entries):]]


def _requirement(record: dict) -> Requirement:
    evidence = tuple(Evidence(**dict(e, deviants=tuple(e["deviants"])))
                     for e in record["evidence"])
    return Requirement(record["lock"], record["kind"], record["function"], evidence=evidence)


def _checked_files(plan, tus, cache) -> set[str]:
    """The files of the translation units the paths name: their sources and headers."""
    checked = set(plan.checked)
    return {f for i, job in enumerate(plan.jobs) if job.file in checked
            for f in _files_of(i, job, tus, cache)}


def _files_of(i: int, job, tus, cache) -> tuple:
    """The files the plan's i-th TU consists of (its source, its headers, its prefix's): from
    its parsed facts, or else from its cache entry."""
    return (job.file, *tus[i].includes) if tus is not None else tuple(cache.inputs(job) or ())


def infer_settings(cfg, options: Options) -> Settings:
    """Whether and how to use inferred contracts: the command line, else the configuration."""
    enabled = cfg.get("infer", True) if options.infer is None else options.infer
    return Settings(enabled=enabled, min_confidence=cfg.get("infer-min-confidence", 0.8),
                    rejected=tuple(cfg.get("infer-reject", ())))


def context_of(tus: list, pack, settings: Settings | None = None):
    """Program, call graph and rule context of parsed TUs, with the contracts inferred from
    them unless `settings` says not to (no settings: none)."""
    program = Program(tus)
    active = pack.active(program.declared)
    graph = CallGraph(program, active)
    if settings is None or not settings.enabled:
        return program, graph, Context(program, graph, active)
    inference, inferred, analysis = infer(program, graph, active, settings)
    ctx = Context(program, graph, inferred, before=analysis)
    ctx.inference = inference
    return program, graph, ctx


def check_facts(tus: list, pack, rules: list, base: str, root: str | None = None,
                settings: Settings | None = None):
    """Program, call graph, rule context and the finalized findings of parsed TUs (paths
    relative to `base`, fingerprints to the project `root`), with the contracts inferred
    from them unless `settings` says not to."""
    program, graph, ctx = context_of(tus, pack, settings)
    findings = dispatch(ctx, rules) + [f for rule_cls in rules
                                       for f in rule_cls().about_input(ctx)]
    return program, graph, ctx, finalize(findings, base, root)


def _result_key(cache, plan, cfg, rules, *more) -> str:
    """The identity of a whole-program run's inputs besides the content of its files: each
    TU's cache key (its path, its flags, qlint's front end), the packs, the configuration, the
    rules and `more` (what else the result depends on). It does not depend on the paths named
    or the working directory."""
    packs = [_text(os.path.join(builtin_pack_dir(), n)) for n in sorted(os.listdir(builtin_pack_dir()))]
    return cache.key("result", code_digest(), plan.root, [cache.tu_key(j) for j in plan.jobs],
                     packs, cfg.path or "", cfg.text, [r.code for r in rules], *more)


def _text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def problem_record(tu) -> dict:
    """A TU that failed or had parse errors, with absolute paths (as the cache keeps it)."""
    first = tu.errors[0] if tu.errors else None
    return {"path": tu.path, "kind": "failed" if tu.problem else "parse-errors",
            "errors": len(tu.errors), "problem": tu.problem,
            "first": [first.file, first.line, first.col, first.message] if first else None}


def problem_report(record: dict, base: str) -> dict:
    """A problem as reports show it, its paths relative to `base`."""
    message = record["problem"]
    if not message and record["first"]:
        file, line, col, text = record["first"]
        message = f"{portable(file, base)}:{line}:{col}: {text}" if file else text
    return {"path": relative(record["path"], base), "kind": record["kind"],
            "errors": record["errors"], "message": message}


def problems_of(tus, base: str) -> list[dict]:
    """TUs that failed or had parse errors, for the report."""
    return [problem_report(problem_record(tu), base) for tu in tus if tu.problem or tu.errors]


def _stats(plan, tus, program, graph, ctx) -> dict:
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
    if ctx.inference is not None:
        stats["inferred"] = ctx.inference.counts()
    if locks is not None:
        stats["requirements_at_unknown_callers"] = len(locks.unknown_callers())
        stats["functions_explored_partially"] = len(locks.truncated)
        stats["summaries_unsettled"] = len(locks.unsettled)
    return stats

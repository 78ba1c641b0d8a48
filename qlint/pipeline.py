"""One `qlint check` run: discover → parse (workers) → program → call graph → rules → findings."""
from __future__ import annotations

import functools
import gc
import os
import time
from dataclasses import dataclass, field, replace

from . import config as configmod
from .frontend import discover
from .frontend.cache import FactsCache, code_digest, default_dir
from .frontend.collect import CollectStats, collect
from .graph.callgraph import CallGraph
from .graph.program import Program
from .infer.contracts import Settings, infer, kind_of
from .infer.render import render
from .project import Glob, PerFileIgnore, globs, per_file_ignores
from .report.model import finalize, finding_from_dict, finding_to_dict, portable, relative
from .pack.load import builtin_pack_dir
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
    infer: bool | None = None              # None: as configured (on by default)


@dataclass
class Result:
    findings: list
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


def _setup(options: Options):
    cfg = load_config(options)
    pack = configmod.build_pack(cfg)
    plan = discover.plan(options.paths, options.build_dir or cfg.get("build-dir"),
                         includes=list(cfg.get("include", [])) + list(options.includes),
                         defines=list(cfg.get("define", [])) + list(options.defines),
                         excludes=excludes(options, cfg),
                         force_exclude=cfg.flag("force-exclude", options.force_exclude),
                         degraded=options.degraded, config_path=cfg.path)
    cache = None
    if not options.no_cache:
        cache = FactsCache(options.cache_dir or cfg.get("cache-dir") or default_dir(plan.database))
    return cfg, pack, plan, cache


def _collect(options: Options, cfg, plan, cache, progress=None) -> list:
    """The facts of the plan's TUs; the progress bar counts those parsed, then says
    "analysing" (all of it when every TU comes from the cache)."""
    jobs = options.jobs or cfg.get("jobs") or os.cpu_count() or 1
    if progress:
        progress.start(sum(1 for job in plan.jobs if cache is None or not cache.peek(job)))
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
    found nothing. Workers, forked meanwhile, turn it back on (frontend/workers.py)."""
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


@without_cycle_collection
def analyse(options: Options, progress=None, reuse: bool = True) -> Result:
    """Findings for the options' paths. With `reuse`, a run over facts, configuration and
    rules that are all unchanged returns the previous run's result from the cache."""
    started = time.monotonic()
    cfg, pack, plan, cache = _setup(options)
    rules = select(selection_layers(options, cfg))
    base = os.getcwd()
    key = _result_key(cache, plan, cfg, rules, base, options.infer) \
        if cache is not None and reuse else None
    stored = cache.load_result(key) if key else None
    if stored is not None:
        plan.collected = CollectStats(cached=len(plan.jobs))
        findings = [finding_from_dict(d) for d in stored["findings"]]
        stats = dict(stored["stats"], seconds=round(time.monotonic() - started, 3))
        return Result(findings, stats, plan, None, rules=rules, collected=plan.collected,
                      problems=stored["problems"], inactive=stored.get("inactive", {}))
    try:
        tus = _collect(options, cfg, plan, cache, progress)
        program, graph, ctx, findings = check_facts(tus, pack, rules, base, plan.root,
                                                    infer_settings(cfg, options))
    finally:
        if progress:
            progress.stop()
    stats = _stats(plan, tus, program, graph, ctx, started)
    problems = problems_of(tus, base)
    inactive = {r.code: why for r in rules if (why := r.inactive_reason(ctx.pack))}
    if cache is not None and reuse:
        key = _result_key(cache, plan, cfg, rules, base, options.infer)
        if key:
            cache.store_result(key, {"findings": [finding_to_dict(f) for f in findings],
                                     "stats": {k: v for k, v in stats.items() if k != "seconds"},
                                     "problems": problems, "inactive": inactive})
    return Result(findings, stats, plan, tus, program, graph, ctx, ctx.inference, rules,
                  plan.collected, problems, inactive)


@without_cycle_collection
def inferred(options: Options, progress=None) -> dict:
    """What `qlint infer`, `qlint rules` and `qlint explain` tell of the contracts inferred
    from the options' paths: {"toml": the inferred pack, "counts": entries per kind of
    evidence, "cells": [table, kind of lock, kind of evidence] per entry}. Cached with the
    facts: a second run over the same facts, configuration and packs reads it back."""
    cfg, pack, plan, cache = _setup(options)
    base = os.getcwd()
    settings = replace(infer_settings(cfg, options), enabled=True)
    key = _result_key(cache, plan, cfg, [], base, "infer") if cache else None
    stored = cache.load_result(key) if key else None
    if stored is not None:
        return stored
    try:
        tus = _collect(options, cfg, plan, cache, progress)
        program = Program(tus)
        active = pack.active(program.declared)
        inference, with_inferred, _analysis = infer(program, CallGraph(program, active),
                                                    active, settings)
    finally:
        if progress:
            progress.stop()
    kinds = with_inferred.section_kinds()
    out = {"toml": render(inference.stated(), base), "counts": inference.counts(),
           "cells": [[r.kind, kinds.get(r.lock, ""), kind_of(r)] for r in inference.entries]}
    if cache is not None:
        key = _result_key(cache, plan, cfg, [], base, "infer")
        if key:
            cache.store_result(key, out)
    return out


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
    ctx = Context(program, graph, inferred)
    ctx.inference = inference
    if analysis is not None:
        ctx.locks = analysis
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


def _result_key(cache, plan, cfg, rules, base, infer_option=None) -> str | None:
    """The identity of a run's inputs, if every TU's facts are cached and valid."""
    sums = [cache.peek(job) for job in plan.jobs]
    if not all(sums):
        return None
    packs = [_text(os.path.join(builtin_pack_dir(), n)) for n in sorted(os.listdir(builtin_pack_dir()))]
    return cache.key("result", code_digest(), base, plan.root, sums, [j.file for j in plan.jobs], packs,
                     cfg.path or "", cfg.text, [r.code for r in rules],
                     sorted(plan.not_in_database), plan.warnings, infer_option)


def _text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def problems_of(tus, base: str) -> list[dict]:
    """TUs that failed or had parse errors, for the report."""
    out = []
    for tu in tus:
        if not (tu.problem or tu.errors):
            continue
        out.append({"path": relative(tu.path, base),
                    "kind": "failed" if tu.problem else "parse-errors",
                    "errors": len(tu.errors),
                    "message": tu.problem or _first_error(tu, base)})
    return out


def _first_error(tu, base: str) -> str:
    """FILE:LINE:COL: message; an error of the command line has no location."""
    first = tu.errors[0] if tu.errors else None
    if first is None:
        return ""
    if not first.file:
        return first.message
    return f"{portable(first.file, base)}:{first.line}:{first.col}: {first.message}"


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
    if ctx.inference is not None:
        stats["inferred"] = ctx.inference.counts()
    if locks is not None:
        stats["requirements_at_unknown_callers"] = len(locks.unknown_callers())
        stats["functions_explored_partially"] = len(locks.truncated)
        stats["summaries_unsettled"] = len(locks.unsettled)
    stats["seconds"] = round(time.monotonic() - started, 3)
    return stats

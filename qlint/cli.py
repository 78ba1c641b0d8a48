"""qlint's command line: check, replay, rules, explain, graph."""
from __future__ import annotations

import gc
import os
import re
import sys
from types import SimpleNamespace

import click

from . import __version__
from .errors import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, QlintError
from .files import write_output
from .report.model import relative


def _commas(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [c.strip() for c in value.split(",") if c.strip()]


def _warn(message: str) -> None:
    click.echo(f"qlint: warning: {message}", err=True)


def _note(message: str) -> None:
    click.echo(f"qlint: {message}", err=True)


_build_dir_option = click.option("-p", "--build-dir", metavar="DIR",
                                 help="Directory holding compile_commands.json.")
_config_option = click.option("--config", "config_file", metavar="FILE",
                              help="Configuration file to use.")
_jobs_option = click.option("-j", "--jobs", type=click.IntRange(min=1),
                            help="Worker processes (default: CPUs).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qlint")
def cli():
    """Static analysis of QEMU's C source for locking, section and event-loop bugs."""


def _pairs(value: str | None) -> dict | None:
    """`GLOB:CODES` pairs, comma-separated as ruff takes them (`a.c:QL000,b/*.c:QL101`), as
    {glob: [codes]}."""
    if not value:
        return None
    table: dict[str, list] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        glob, sep, code = pair.rpartition(":")
        if not sep or not glob or not code:
            raise QlintError(f"--per-file-ignores: '{pair}' is not GLOB:CODE")
        table.setdefault(glob, []).append(code.strip())
    return table


def _unknown_codes_in(table: dict | None, option: str) -> None:
    from .rules.registry import unknown_codes
    unknown = unknown_codes([c for codes in (table or {}).values() for c in codes])
    if unknown:
        raise QlintError(f"{option}: unknown rule code '{unknown[0]}' (see `qlint rules`)")


@cli.command(short_help="Analyse the program and report the findings in C files or directories.")
@click.argument("paths", nargs=-1)
@_build_dir_option
@click.option("--format", "--output-format", "fmt",
              type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True,
              help="Report format: flake8-style text, JSON, SARIF 2.1.0 (GitHub code scanning) "
                   "or GitHub Actions annotations.")
@click.option("-o", "--output", metavar="FILE", help="Write the report here instead of stdout.")
@click.option("--select", metavar="CODES", help="Only these rule codes (prefixes), e.g. QL1,QL202.")
@click.option("--ignore", metavar="CODES", help="Skip these rule codes (prefixes).")
@click.option("--extend-select", metavar="CODES", help="Add these codes to the selection.")
@click.option("--exclude", metavar="GLOBS",
              help="Paths not to analyse, comma-separated globs (replaces the configured ones).")
@click.option("--extend-exclude", metavar="GLOBS", help="Add these globs to the excluded paths.")
@click.option("--per-file-ignores", metavar="GLOB:CODE,...",
              help="Rules not reported in files matching GLOB (replaces the configured ones).")
@click.option("--extend-per-file-ignores", metavar="GLOB:CODE,...",
              help="Add these GLOB:CODE pairs to the per-file ignores.")
@click.option("--report-paths-through", is_flag=True,
              help="Also report findings whose path from the entry point passes through PATHS.")
@click.option("--shard", metavar="I/N",
              help="Parse shard I of N of the program's translation units into the cache and "
                   "stop (a CI matrix; a last run over the merged caches reports).")
@click.option("--diff", "diff_rev", metavar="REV",
              help="Report only findings on lines changed since the git revision REV, or that "
                   "the change introduced or opened a new way into anywhere.")
@click.option("--show-path", is_flag=True, help="Print each finding's path from its entry point.")
@click.option("--show-source", is_flag=True,
              help="Print the source line of each finding (and of each path step), with a caret.")
@click.option("--statistics", is_flag=True, help="Count findings per rule.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("-q", "--quiet", is_flag=True, help="No warnings, progress or summary on stderr.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Color the text report (auto: on a terminal, without NO_COLOR).")
@_jobs_option
@_config_option
@click.option("-I", "includes", multiple=True, metavar="DIR", help="Include dir (degraded mode).")
@click.option("-D", "defines", multiple=True, metavar="NAME[=V]", help="Define (degraded mode).")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Seconds one translation unit may take to parse.")
@click.option("--no-cache", is_flag=True, help="Parse every file; neither read nor write the cache.")
@click.option("--cache-dir", metavar="DIR", help="Cache directory (default: BUILD/qlint-cache).")
@click.option("-v", "--verbose", is_flag=True,
              help="Say on stderr what was parsed, cached and skipped.")
@click.option("--sarif-category", metavar="NAME",
              help="SARIF automationDetails.id category (default: qlint/ and the PATHS).")
@click.option("--absolute-paths", is_flag=True,
              help="JSON: absolute paths; SARIF: define %SRCROOT% as the working directory. "
                   "By default neither report holds an absolute path.")
@click.option("--report-unused-suppressions", is_flag=True, default=None,
              help="Report inline suppressions that silence nothing (QL002).")
@click.option("--baseline", "baseline_file", metavar="FILE",
              help="Report only findings not recorded in this baseline.")
@click.option("--write-baseline", metavar="FILE",
              help="Record the current findings in FILE (for --baseline) and exit 0.")
@click.option("--force-exclude", is_flag=True, default=None,
              help="Apply the configured excludes to paths named on the command line too.")
@click.option("--degraded/--no-degraded", default=True, show_default=True,
              help="Without compile_commands.json, guess include paths / fail.")
@click.option("--dot", is_flag=True, help="Print the findings' paths as a Graphviz digraph.")
@click.option("--dot-dir", metavar="DIR",
              help="Write one Graphviz file per finding into DIR (finding-001.dot ...).")
@click.option("--confirm", is_flag=True,
              help="Replay each finding on the reference AIO engine (docs/replay.md).")
@click.option("--infer/--no-infer", default=None,
              help="Use the contracts inferred from the tree (`qlint infer`; default: on, or "
                   "the configuration's `infer`).")
def check(paths, **given):
    """Analyse the whole program and report the findings in PATHS (files or directories; the
    current directory if none)."""
    from . import baseline, suppressions
    from .pipeline import analyse, file_ignores, load_config
    from .project import PerFileIgnore

    a = SimpleNamespace(paths=paths or (".",), **given)
    options = _check_options(a)
    if a.shard:
        _parse_shard(options, a)
    cfg = load_config(options)
    baseline_file = a.baseline_file or cfg.get("baseline")
    known = baseline.load(baseline_file) if baseline_file and not a.write_baseline else None
    result = analyse(options, progress=None if a.quiet else _progress_bar(), reuse=not a.confirm,
                     announce=None if a.quiet else _announce_parsing)
    _keep_out_of_collection()
    _fail_if_nothing_was_analysed(result)
    if a.verbose:
        _verbose(result)
    base, root = os.getcwd(), result.plan.root
    if not a.quiet:
        _warn_about_inputs(result, a.verbose)
        _warn_about_inactive_rules(result, options, cfg)
    result.findings, result.stats["suppressed"] = suppressions.apply(
        result.findings, {r.code for r in result.rules}, _suppression_files(result.plan, a.paths),
        cfg.flag("report-unused-suppressions", a.report_unused_suppressions), base, root)
    ignores: list[PerFileIgnore] = file_ignores(options, cfg, root)
    result.findings = [f for f in result.findings if not any(i.covers(f, base) for i in ignores)]
    for f in result.findings:           # [tool.qlint] severity = { QL304 = "warning" }
        f.level = cfg.get("severity", {}).get(f.rule, f.level)
    if a.write_baseline:
        write_output(baseline.render(result.findings, base, root), a.write_baseline, "baseline")
        if not a.quiet:
            click.echo(f"qlint: {len(result.findings)} finding(s) recorded in {a.write_baseline}",
                       err=True)
        sys.exit(EXIT_CLEAN)
    if known is not None:
        result.findings, result.stats["baselined"] = baseline.split(result.findings, known)
    if a.confirm:
        from .replay.command import confirm_findings
        confirm_findings(result)
    _report(a, result, base)
    sys.exit(EXIT_FINDINGS if result.findings and not a.exit_zero else EXIT_CLEAN)


def _parse_shard(options, a) -> None:
    """--shard I/N: parse a share of the program into the cache, say what was done, exit 0."""
    from .pipeline import parse_shard
    match = re.fullmatch(r"(\d+)/(\d+)", a.shard)
    index, count = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not 1 <= index <= count:
        raise QlintError(f"--shard {a.shard}: expected I/N with 1 <= I <= N (shard 2 of 4: 2/4)")
    if a.diff_rev:
        raise QlintError("--shard only parses: it cannot go with --diff")
    done = parse_shard(options, index, count, None if a.quiet else _progress_bar())
    if not a.quiet:
        _note(f"shard {index}/{count}: {done['shard']} of the program's {done['tus']} "
              f"translation unit(s), {done['parsed']} parsed, {done['cached']} already cached, "
              f"in {relative(done['cache'], os.getcwd())}")
    sys.exit(EXIT_CLEAN)


def _check_options(a):
    from .pipeline import Options
    options = Options(paths=list(a.paths), build_dir=a.build_dir, config_file=a.config_file,
                      select=_commas(a.select), ignore=_commas(a.ignore),
                      extend_select=_commas(a.extend_select), includes=list(a.includes),
                      defines=list(a.defines), jobs=a.jobs, timeout=a.timeout,
                      cache_dir=a.cache_dir, no_cache=a.no_cache,
                      force_exclude=a.force_exclude, degraded=a.degraded,
                      exclude=_commas(a.exclude), extend_exclude=_commas(a.extend_exclude) or [],
                      per_file_ignores=_pairs(a.per_file_ignores),
                      extend_per_file_ignores=_pairs(a.extend_per_file_ignores) or {},
                      report_paths_through=a.report_paths_through, diff=a.diff_rev,
                      infer=a.infer)
    _unknown_codes_in(options.per_file_ignores, "--per-file-ignores")
    _unknown_codes_in(options.extend_per_file_ignores, "--extend-per-file-ignores")
    return options


def _report(a, result, base: str) -> None:
    """Write the report in the format asked for; on a terminal, close the text with a summary."""
    if a.dot_dir:
        from .report import dot as dotfmt
        dotfmt.write_each(result.findings, a.dot_dir)
    if a.dot:
        from .report import dot as dotfmt
        write_output(dotfmt.findings(result.findings), a.output)
        return
    color = a.color == "always" or (a.color == "auto" and a.output is None and _color(sys.stdout))
    report = _render(a.fmt, result, result.problems, base, show_path=a.show_path,
                     statistics=a.statistics, color=color, category=a.sarif_category,
                     paths=a.paths, absolute=a.absolute_paths, show_source=a.show_source)
    write_output(report, a.output)
    if a.fmt == "text" and a.output is None and not a.quiet and sys.stdout.isatty():
        from .report import text
        sys.stdout.write(text.summary(len(result.findings), result.stats.get("baselined", 0)))


def _fail_if_nothing_was_analysed(result) -> None:
    """Every translation unit failed (none could be read, or libclang rejected them all): no
    finding could mean anything."""
    stats = result.stats
    if not stats["tus"] or stats["tus_failed"] < stats["tus"]:
        return
    first = result.problems[0]
    raise QlintError(f"no translation unit could be analysed: all {stats['tus']} failed, the "
                     f"first: {first['path']}: {first['message']}")


def _suppression_files(plan, paths) -> list[str]:
    """Where suppressions are looked for besides the findings' files: the checked C files and
    the files named on the command line (a pre-commit hook names changed .c.inc files)."""
    return list(plan.checked) + [p for p in paths if os.path.isfile(p)]


def _announce_parsing(to_parse: int, outside: int, cached: bool, rev: str = "") -> None:
    """Parsing the program's TUs beyond those checked takes a while the first time: say so."""
    if rev:
        _note(f"parsing {to_parse} translation unit(s) as they were at {rev}")
    elif outside:
        _note(f"parsing {to_parse} translation unit(s), {outside} of them for the program around "
              f"the checked paths{' (once: the cache keeps their facts)' if cached else ''}")


def _warn_about_inputs(result, verbose: bool = False) -> None:
    """Degraded mode, paths the plan could not use, and the translation units with problems
    when QL000 does not report them (it is not selected): nothing fails without a word."""
    plan, problems = result.plan, result.problems
    if plan.degraded:
        _warn("no compile_commands.json found: degraded mode, include paths guessed "
              "(-p BUILD_DIR points at a configured build); " + _degraded_program(result))
    for w in plan.warnings:
        _warn(w)
    if plan.not_in_database:
        _warn(f"{len(plan.not_in_database)} C file(s) not in the compile database were skipped "
              f"(not built in this configuration{'' if verbose else '; -v names them'})")
    if result.problems_outside:
        _warn(f"{result.problems_outside} translation unit(s) of the program outside the checked "
              f"paths had parse errors or failed: the analysis around them is partial "
              f"(`qlint check .` reports them)")
    from .rules.input_rules import PARSE_ERROR
    if not problems or any(r.code == PARSE_ERROR for r in result.rules):
        return
    for p in problems:
        what = f"{p['errors']} parse error(s), first: {p['message']}" if p["kind"] == "parse-errors" \
            else p["message"]
        _warn(f"{p['path']}: {what}")
    _warn(f"{len(problems)} of {result.stats['tus']} translation unit(s) had parse errors or "
          f"failed (QL000, not selected, would report them)")


def _degraded_program(result) -> str:
    """What the program is without a compile database."""
    plan = result.plan
    if plan.context == "project":
        return (f"the program is the {len(plan.jobs)} C file(s) under "
                f"{os.path.relpath(plan.root)} (`context-include` and `context-exclude` in the "
                f"configuration choose them)")
    return "the program is the checked files alone (no configuration file or git work tree " \
           "marks a project)"


def _warn_about_inactive_rules(result, options, cfg) -> None:
    """A selector the user gave whose running rules are all inactive on this tree (the packs
    they read do not apply to it): it was asked for, and will report nothing."""
    from .pipeline import selection_layers
    from .rules.selection import matching, selectors
    running = {r.code: r for r in result.rules}
    warned: set[str] = set()
    for selector in selectors(selection_layers(options, cfg)):
        chosen = matching(list(running), selector)
        if chosen and all(code in result.inactive for code in chosen):
            for code in sorted(set(chosen) - warned):
                _warn(f"{code} [{running[code].name}] is selected but inactive on this tree, so "
                      f"it reports nothing: {result.inactive[code]}")
            warned.update(chosen)


def _verbose(result) -> None:
    """What collecting the facts took: cache hits, parses, precompiled prefix headers; and the
    C files skipped because the build does not compile them."""
    c = result.collected
    if result.reused:
        _note("nothing changed: the previous result is reused")
    _note(f"{result.stats['tus']} translation unit(s): {c.cached} from the cache, {c.parsed} parsed, "
          f"{c.prefixes} prefix header(s) precompiled, {c.prefixes_reused} reused")
    for note in c.notes:
        _note(note)
    base = os.getcwd()
    for path in result.plan.not_in_database:
        _note(f"skipped {relative(path, base)}: not in the compile database (not built in this "
              f"configuration)")
    _note(f"analysed in {result.stats['seconds']:.2f} s")


def _progress_bar():
    """A progress bar on a terminal's stderr; none in CI or when stderr is redirected."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None
    from .progress import ParseProgress
    return ParseProgress()


def _color(stream) -> bool:
    """Colors on a terminal only, and never with NO_COLOR set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _render(fmt: str, result, problems: list, base: str, show_path: bool, statistics: bool,
            color: bool, category: str | None, paths, absolute: bool = False,
            show_source: bool = False) -> str:
    if fmt == "json":
        from .report import jsonfmt
        return jsonfmt.render(result.findings, result.stats, problems, base, absolute)
    if fmt == "sarif":
        from .report import sarif
        from .rules.registry import all_rules
        return sarif.render(result.findings, all_rules(), problems,
                            category or sarif.default_category(paths, base), base,
                            srcroot=absolute)
    if fmt == "github":
        from .report import github
        return github.render(result.findings)
    from .report import text
    report = text.render(result.findings, show_path=show_path, color=color,
                         source=text.Source() if show_source else None)
    return report + text.statistics(result.findings) if statistics else report


@cli.command(short_help="Replay a JSON report's findings on the reference AIO engine.")
@click.argument("finding_file", metavar="FINDING.json")
@click.option("--bound", type=click.IntRange(min=0), help="Preemption bound (default 2).")
@click.option("--pct", is_flag=True, help="Randomized PCT schedules instead of the exhaustive search.")
@click.option("--seed", type=int, default=0, show_default=True, help="PCT random seed.")
@click.option("--runs", type=click.IntRange(min=1), help="PCT runs (default 100).")
@click.option("--schedule", "schedule_file", metavar="FILE", help="Follow a saved schedule.")
@click.option("--save-schedule", metavar="FILE", help="Write the counterexamples' schedules.")
@click.option("--html", "html_file", metavar="FILE", help="Write an HTML/SVG swimlane picture.")
@click.option("--fingerprint", metavar="FP", help="Replay only this finding of a report.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Report format.")
@_build_dir_option
@_config_option
@_jobs_option
def replay(**options):
    """Replay findings of a JSON report (or one finding) on the current code, on the reference
    AIO engine: confirmed with a concrete interleaving, or not reproduced within the bound."""
    from .replay.command import ReplayOptions, run_replay
    sys.exit(run_replay(ReplayOptions(**options)))


@cli.command(short_help="Print a rule's documentation, by code or name.")
@click.argument("rule_name", metavar="RULE")
@click.argument("paths", nargs=-1)
@_build_dir_option
@_config_option
@_jobs_option
def explain(rule_name, paths, build_dir, config_file, jobs):
    """Print the documentation of RULE, a code or a name (QL101, ql101, lock-required): what it
    does, why, an example, how to fix it. Rendered on a terminal, plain markdown otherwise.
    With PATHS, also how many contracts inferred from that tree it checks."""
    rule = _rule_named(rule_name)
    doc = rule.doc().rstrip("\n")
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown
        Console(no_color=bool(os.environ.get("NO_COLOR"))).print(Markdown(doc))
    else:
        click.echo(doc)
    if paths:
        from . import pipeline
        from .analysis.cells import possible
        found = pipeline.inferred(pipeline.Options(paths=list(paths), build_dir=build_dir,
                                                   config_file=config_file, jobs=jobs))
        counts = dict.fromkeys(found["counts"], 0)
        for table, kind, evidence in found["cells"]:
            if set(rule.owns) & set(possible(table, kind, "name")):
                counts[evidence] += 1
        click.echo(f"\nContracts inferred from {' '.join(paths)} that {rule.code} checks: "
                   f"{_inferred_words(counts)}.")


def _inferred_words(counts: dict) -> str:
    from .infer.contracts import counted
    return counted(counts)


@cli.command(name="infer", short_help="Infer lock and context contracts from PATHS.")
@click.argument("paths", nargs=-1)
@_build_dir_option
@click.option("-o", "--output", metavar="FILE", help="Write the pack here instead of stdout.")
@_config_option
@_jobs_option
@click.option("--cache-dir", metavar="DIR", help="Cache directory (default: BUILD/qlint-cache).")
@click.option("--no-cache", is_flag=True, help="Parse every file; neither read nor write the cache.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def infer_cmd(paths, build_dir, output, config_file, jobs, cache_dir, no_cache, quiet):
    """Infer which function needs which lock or context from PATHS (default: .): from the
    comments above declarations, the assertions at the top of bodies, the locks a function
    drops for a while and the lock state at call sites; write them as a rule pack, each entry
    with its evidence."""
    from .pipeline import Options, inferred
    options = Options(paths=list(paths) or ["."], build_dir=build_dir, config_file=config_file,
                      jobs=jobs, cache_dir=cache_dir, no_cache=no_cache)
    found = inferred(options, progress=None if quiet else _progress_bar())
    write_output(found["toml"], output)
    if output and not quiet:
        _note(f"{_inferred_words(found['counts'])} contract(s) written to {output}")


def _rule_named(name: str):
    from .rules.registry import all_rules
    rules = all_rules()
    by_name = {cls.name: cls for cls in rules.values()}
    found = rules.get(name.upper()) or by_name.get(name.lower())
    if found is None:
        what = "code" if re.fullmatch(r"(?i)QL\d+", name) else "name"
        raise QlintError(f"unknown rule {what} '{name}' (see `qlint rules`)")
    return found


@cli.command(name="rules", short_help="List the rules, and which are active for PATHS.")
@click.argument("paths", nargs=-1)
@_build_dir_option
@_config_option
@_jobs_option
def rules_cmd(paths, build_dir, config_file, jobs):
    """List the rules; with PATHS, which packs and rules are active for that tree, and why
    not (the same decision `qlint check PATHS` makes)."""
    from . import config as configmod
    from . import pipeline
    from .rules.registry import all_rules
    options = pipeline.Options(paths=list(paths) or ["."], build_dir=build_dir,
                               config_file=config_file, jobs=jobs)
    if paths:
        _cfg, pack, _plan, _tus, program = pipeline.load(options)
        for name, state in pack.status(program.declared):
            click.echo(f"pack {name:<18} {state}")
        pack = pack.active(program.declared)
        found = pipeline.inferred(options)
        click.echo(f"inferred contracts: {_inferred_words(found['counts'])}")
    else:
        pack = None
        configmod.build_pack(pipeline.load_config(options))     # reports a broken config
    for code, cls in all_rules().items():
        status = ""
        if pack is not None:
            reason = cls.inactive_reason(pack)
            status = "  active" if not reason else f"  inactive: {reason}"
        click.echo(f"{code} {cls.name:<32} {cls.summary}{status}")


@cli.group(short_help="Query the call graph, callback edges included.")
def graph():
    """Query the call graph (including callback edges)."""


def _graph_context(paths, build_dir, config_file, jobs):
    from .pipeline import Options, analyse
    return analyse(Options(paths=list(paths), build_dir=build_dir, config_file=config_file,
                           jobs=jobs, select=["QL101"], whole_program=False), reuse=False)


def _graph_options(f):
    f = _build_dir_option(_config_option(_jobs_option(f)))
    return click.option("--in", "paths", multiple=True, default=["."], show_default=True,
                        metavar="PATH", help="Files or directories to build the graph from.")(f)


_dot_option = click.option("--dot", is_flag=True, help="Print a Graphviz digraph instead.")


def _hop_line(program, hop, subject: str, base: str) -> str:
    return f"{program.name_of(subject)}  {relative(hop.file, base)}:{hop.line}  [{hop.label}]"


def _print_hops(result, hops, subject_of, highlight, dot: bool) -> None:
    from .report import dot as dotfmt
    base = os.getcwd()
    if dot:
        click.echo(dotfmt.hops(result.program, hops, highlight, lambda p: relative(p, base)),
                   nl=False)
        return
    for hop in hops:
        click.echo(_hop_line(result.program, hop, subject_of(hop), base))


@graph.command(short_help="Who calls or registers FUNCTION.")
@click.argument("function")
@_graph_options
@_dot_option
def callers(function, paths, build_dir, config_file, jobs, dot):
    """Who calls or registers FUNCTION."""
    _neighbours(function, paths, build_dir, config_file, jobs, dot, incoming=True)


@graph.command(short_help="What FUNCTION calls or registers.")
@click.argument("function")
@_graph_options
@_dot_option
def callees(function, paths, build_dir, config_file, jobs, dot):
    """What FUNCTION calls or registers."""
    _neighbours(function, paths, build_dir, config_file, jobs, dot, incoming=False)


def _neighbours(function, paths, build_dir, config_file, jobs, dot, incoming: bool) -> None:
    from .graph import query
    result = _graph_context(paths, build_dir, config_file, jobs)
    keys = query.keys_named(result.program, function)
    hops_of = query.into if incoming else query.out_of
    hops = [h for key in keys for h in hops_of(result.program, result.graph, key)]
    _print_hops(result, hops, (lambda h: h.caller) if incoming else (lambda h: h.callee), keys, dot)


@graph.command(name="paths", short_help="Paths from FROM to TO, shortest first.")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
@_graph_options
@_dot_option
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="At most this many paths.")
@click.option("--max-hops", type=click.IntRange(min=1), default=12, show_default=True,
              help="Longest path considered.")
def paths_cmd(source, target, paths, build_dir, config_file, jobs, dot, limit, max_hops):
    """Paths from FROM to TO over calls and callback registrations, shortest first."""
    from .graph import query
    result = _graph_context(paths, build_dir, config_file, jobs)
    program = result.program
    sources, targets = query.keys_named(program, source), query.keys_named(program, target)
    found = query.paths(program, result.graph, sources, targets, limit, max_hops)
    if not found:
        click.echo(f"qlint: no path from {source}() to {target}() within {max_hops} hops",
                   err=True)
        sys.exit(EXIT_FINDINGS)
    if dot:
        _print_hops(result, [h for p in found for h in p], None, sources + targets, True)
        return
    base = os.getcwd()
    for n, path in enumerate(found, 1):
        names = [program.name_of(h.caller) for h in path] + [program.name_of(path[-1].callee)]
        click.echo(f"{n}. " + " -> ".join(names))
        for hop in path:
            click.echo("   " + _hop_line(program, hop, hop.caller, base))


@graph.command(short_help="Lock requirements left at functions without callers.")
@_graph_options
def requirements(paths, build_dir, config_file, jobs):
    """Lock requirements left unsatisfied at functions with no known caller."""
    result = _graph_context(paths, build_dir, config_file, jobs)
    base = os.getcwd()
    locks = result.context.locks
    for key, lock in locks.unknown_callers():
        fn = result.program.functions[key]
        click.echo(f"{fn.name}  {relative(fn.file, base)}:{fn.line}  requires {lock}  "
                   f"({_why_uncalled(locks.stored_only(key), base)})")


def _why_uncalled(stores: list, base: str) -> str:
    """Why a requirement of a function nothing calls is not reported."""
    if not stores:
        return "no caller in the analysed files"
    field, file, line, called = stores[0]
    more = f" (and {len(stores) - 1} more)" if len(stores) > 1 else ""
    where = f"stored into {field} at {relative(file, base)}:{line}{more}"
    return f"{where}; its calls reach it on no path" if called else \
        f"{where}, which no analysed code calls through"


_ends_with_exit = False     # main() runs: the process ends with os._exit


def _keep_out_of_collection() -> None:
    """The analysis ran without the cycle collector (pipeline.without_cycle_collection), so
    its million objects are all young: the first collection after it would walk every one of
    them, several times over as they age (seconds on a whole QEMU build). A process that ends
    with os._exit never frees them, so they are set aside for good; a caller in the same
    process (a test) keeps the collector's view of them."""
    if _ends_with_exit:
        gc.freeze()


def main(argv=None) -> None:
    global _ends_with_exit
    _ends_with_exit = True
    code = _run(argv)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass
    # Leave without freeing the run's million objects one by one: that took longer than
    # analysing a changed file. Workers are stopped and every file is written by now.
    os._exit(code)


def _run(argv) -> int:
    """The exit code of one command line."""
    try:
        cli.main(args=argv, prog_name="qlint", standalone_mode=False)
        return EXIT_CLEAN
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_ERROR)
    except QlintError as e:
        click.echo(f"qlint: error: {e.message}", err=True)
        return e.code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("qlint: aborted", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("qlint: interrupted", err=True)
        return EXIT_ERROR
    except Exception as e:  # a bug: still one line, with a way to see more
        if os.environ.get("QLINT_DEBUG"):
            raise
        click.echo(f"qlint: internal error: {type(e).__name__}: {e} "
                   f"(set QLINT_DEBUG=1 for a traceback)", err=True)
        return EXIT_ERROR

"""qlint's command line: check, replay, rules, explain, graph."""
from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, QlintError
from .files import write_output
from .report.model import relative


def _codes(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [c.strip() for c in value.split(",") if c.strip()]


def _warn(message: str) -> None:
    click.echo(f"qlint: warning: {message}", err=True)


def _note(message: str) -> None:
    click.echo(f"qlint: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qlint")
def cli():
    """Static analysis of QEMU's C source for locking, section and event-loop bugs."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-p", "--build-dir", metavar="DIR", help="Directory holding compile_commands.json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]),
              default="text", show_default=True,
              help="Report format: flake8-style text, JSON, SARIF 2.1.0 (GitHub code scanning) "
                   "or GitHub Actions annotations.")
@click.option("-o", "--output", metavar="FILE", help="Write the report here instead of stdout.")
@click.option("--select", metavar="CODES", help="Only these rule codes (prefixes), e.g. QL1,QL202.")
@click.option("--ignore", metavar="CODES", help="Skip these rule codes (prefixes).")
@click.option("--extend-select", metavar="CODES", help="Add these codes to the selection.")
@click.option("--show-path", is_flag=True, help="Print each finding's path from its entry point.")
@click.option("--statistics", is_flag=True, help="Count findings per rule.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("-q", "--quiet", is_flag=True, help="No warnings on stderr.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: CPUs).")
@click.option("--config", "config_file", metavar="FILE", help="Configuration file to use.")
@click.option("-I", "includes", multiple=True, metavar="DIR", help="Include dir (degraded mode).")
@click.option("-D", "defines", multiple=True, metavar="NAME[=V]", help="Define (degraded mode).")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Seconds one translation unit may take to parse.")
@click.option("--no-cache", is_flag=True, help="Parse every file; neither read nor write the cache.")
@click.option("--cache-dir", metavar="DIR", help="Cache directory (default: BUILD/qlint-cache).")
@click.option("-v", "--verbose", is_flag=True, help="Say on stderr what was parsed and cached.")
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
@click.option("--confirm", is_flag=True,
              help="Replay each finding on the reference AIO engine (docs/replay.md).")
@click.option("--infer/--no-infer", default=None,
              help="Use the contracts inferred from the tree (`qlint infer`; default: on, or "
                   "the configuration's `infer`).")
def check(paths, build_dir, fmt, output, select, ignore, extend_select, show_path, statistics,
          exit_zero, quiet, jobs, config_file, includes, defines, timeout, no_cache, cache_dir,
          verbose, sarif_category, absolute_paths, report_unused_suppressions, baseline_file, write_baseline,
          force_exclude, degraded, dot, confirm, infer):
    """Analyse PATHS (files or directories) and report findings."""
    from . import baseline, suppressions
    from .pipeline import Options, analyse, load_config

    options = Options(paths=list(paths), build_dir=build_dir, config_file=config_file,
                      select=_codes(select), ignore=_codes(ignore),
                      extend_select=_codes(extend_select), includes=list(includes),
                      defines=list(defines), jobs=jobs, timeout=timeout,
                      cache_dir=cache_dir, no_cache=no_cache,
                      force_exclude=force_exclude, degraded=degraded, infer=infer)
    cfg = load_config(options)
    baseline_file = baseline_file or cfg.get("baseline")
    known = baseline.load(baseline_file) if baseline_file and not write_baseline else None
    result = analyse(options, progress=None if quiet else _progress_bar(), reuse=not confirm)
    if verbose:
        _verbose(result)
    base = os.getcwd()
    problems = result.problems
    if not quiet:
        _warn_about_inputs(result, problems)
    result.findings, result.stats["suppressed"] = suppressions.apply(
        result.findings, {r.code for r in result.rules}, _suppression_files(result.plan, paths),
        cfg.flag("report-unused-suppressions", report_unused_suppressions), base)
    if write_baseline:
        write_output(baseline.render(result.findings), write_baseline, "baseline")
        if not quiet:
            click.echo(f"qlint: {len(result.findings)} finding(s) recorded in {write_baseline}",
                       err=True)
        sys.exit(EXIT_CLEAN)
    if known is not None:
        result.findings, result.stats["baselined"] = baseline.split(result.findings, known)
    if confirm:
        from .replay.command import confirm_findings
        confirm_findings(result)
    if dot:
        from .report import dot as dotfmt
        report = dotfmt.findings(result.findings)
    else:
        report = _render(fmt, result, problems, base, show_path=show_path, statistics=statistics,
                         color=output is None and _color(sys.stdout),
                         category=sarif_category, paths=paths, absolute=absolute_paths)
    write_output(report, output)
    sys.exit(EXIT_FINDINGS if result.findings and not exit_zero else EXIT_CLEAN)


def _suppression_files(plan, paths) -> list[str]:
    """Where suppressions are looked for besides the findings' files: the analysed C files and
    the files named on the command line (a pre-commit hook names changed .c.inc files)."""
    return [job.file for job in plan.jobs] + [p for p in paths if os.path.isfile(p)]


def _warn_about_inputs(result, problems: list) -> None:
    plan = result.plan
    if plan.degraded:
        _warn("no compile_commands.json found: degraded mode, include paths guessed "
              "(-p BUILD_DIR points at a configured build)")
    for w in plan.warnings:
        _warn(w)
    if plan.not_in_database:
        _warn(f"{len(plan.not_in_database)} C file(s) not in the compile database were skipped "
              f"(not built in this configuration)")
    for p in problems:
        what = f"{p['errors']} parse error(s), first: {p['message']}" if p["kind"] == "parse-errors" \
            else p["message"]
        _warn(f"{p['path']}: {what}")
    if problems:
        _warn(f"{len(problems)} of {result.stats['tus']} translation unit(s) had parse errors or failed")


def _verbose(result) -> None:
    """What collecting the facts took: cache hits, parses, precompiled prefix headers."""
    c = result.collected
    if result.program is None:
        _note("nothing changed: the previous result is reused")
    _note(f"{result.stats['tus']} translation unit(s): {c.cached} from the cache, {c.parsed} parsed, "
          f"{c.prefixes} prefix header(s) precompiled, {c.prefixes_reused} reused")
    for note in c.notes:
        _note(note)
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
            color: bool, category: str | None, paths, absolute: bool = False) -> str:
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
    report = text.render(result.findings, show_path=show_path, color=color)
    return report + text.statistics(result.findings) if statistics else report


@cli.command()
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
              show_default=True)
@click.option("-p", "--build-dir", metavar="DIR", help="Directory holding compile_commands.json.")
@click.option("--config", "config_file", metavar="FILE", help="Configuration file to use.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: CPUs).")
def replay(**options):
    """Replay findings of a JSON report (or one finding) on the current code, on the reference
    AIO engine: confirmed with a concrete interleaving, or not reproduced within the bound."""
    from .replay.command import ReplayOptions, run_replay
    sys.exit(run_replay(ReplayOptions(**options)))


@cli.command()
@click.argument("code")
@click.argument("paths", nargs=-1)
@click.option("-p", "--build-dir", metavar="DIR")
@click.option("--config", "config_file", metavar="FILE")
@click.option("-j", "--jobs", type=click.IntRange(min=1))
def explain(code, paths, build_dir, config_file, jobs):
    """Print the documentation of rule CODE (what, why, example, fix); with PATHS, also how
    many contracts inferred from that tree it checks."""
    from .rules.registry import all_rules
    rules = all_rules()
    if code not in rules:
        raise QlintError(f"unknown rule code '{code}' (see `qlint rules`)")
    click.echo(rules[code].doc().rstrip("\n"))
    if paths:
        from . import pipeline
        from .analysis.cells import possible
        found = pipeline.inferred(pipeline.Options(paths=list(paths), build_dir=build_dir,
                                                   config_file=config_file, jobs=jobs))
        owned = set(rules[code].owns)
        counts = dict.fromkeys(found["counts"], 0)
        for table, kind, evidence in found["cells"]:
            if owned & set(possible(table, kind, "name")):
                counts[evidence] += 1
        click.echo(f"\nContracts inferred from {' '.join(paths)} that {code} checks: "
                   f"{_inferred_words(counts)}.")


def _inferred_words(counts: dict) -> str:
    nouns = {"comment": "written", "assertion": "asserted", "observed": "observed"}
    return ", ".join(f"{n} {nouns[kind]}" for kind, n in counts.items())


@cli.command(name="infer")
@click.argument("paths", nargs=-1)
@click.option("-p", "--build-dir", metavar="DIR", help="Directory holding compile_commands.json.")
@click.option("-o", "--output", metavar="FILE", help="Write the pack here instead of stdout.")
@click.option("--config", "config_file", metavar="FILE", help="Configuration file to use.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: CPUs).")
@click.option("--cache-dir", metavar="DIR", help="Cache directory (default: BUILD/qlint-cache).")
@click.option("--no-cache", is_flag=True, help="Parse every file; neither read nor write the cache.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def infer_cmd(paths, build_dir, output, config_file, jobs, cache_dir, no_cache, quiet):
    """Infer which function needs which lock or context from PATHS (default: .): from the
    comments above declarations, the assertions at the top of bodies and the lock state at
    call sites; write them as a rule pack, each entry with its evidence."""
    from .pipeline import Options, inferred
    options = Options(paths=list(paths) or ["."], build_dir=build_dir, config_file=config_file,
                      jobs=jobs, cache_dir=cache_dir, no_cache=no_cache)
    found = inferred(options, progress=None if quiet else _progress_bar())
    write_output(found["toml"], output)
    if output and not quiet:
        _note(f"{_inferred_words(found['counts'])} contract(s) written to {output}")


@cli.command(name="rules")
@click.argument("paths", nargs=-1)
@click.option("-p", "--build-dir", metavar="DIR")
@click.option("--config", "config_file", metavar="FILE")
@click.option("-j", "--jobs", type=click.IntRange(min=1))
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


@cli.group()
def graph():
    """Query the call graph (including callback edges)."""


def _graph_context(paths, build_dir, config_file, jobs):
    from .pipeline import Options, analyse
    return analyse(Options(paths=list(paths), build_dir=build_dir, config_file=config_file,
                           jobs=jobs, select=["QL101"]), reuse=False)


def _graph_options(f):
    f = click.option("-p", "--build-dir", metavar="DIR")(f)
    f = click.option("--config", "config_file", metavar="FILE")(f)
    f = click.option("-j", "--jobs", type=click.IntRange(min=1))(f)
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


@graph.command()
@click.argument("function")
@_graph_options
@_dot_option
def callers(function, paths, build_dir, config_file, jobs, dot):
    """Who calls or registers FUNCTION."""
    _neighbours(function, paths, build_dir, config_file, jobs, dot, incoming=True)


@graph.command()
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


@graph.command(name="paths")
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


@graph.command()
@_graph_options
def requirements(paths, build_dir, config_file, jobs):
    """Lock requirements left unsatisfied at functions with no known caller."""
    result = _graph_context(paths, build_dir, config_file, jobs)
    base = os.getcwd()
    for key, lock in result.context.locks.unknown_callers():
        fn = result.program.functions[key]
        click.echo(f"{fn.name}  {relative(fn.file, base)}:{fn.line}  requires {lock}")


def main(argv=None) -> None:
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

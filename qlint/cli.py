"""qlint's command line: check, replay, rules, explain, graph."""
from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, QlintError
from .report.model import relative


def _codes(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [c.strip() for c in value.split(",") if c.strip()]


def _problems(tus, base: str) -> list[dict]:
    out = []
    for tu in tus:
        if not (tu.problem or tu.errors):
            continue
        first = tu.errors[0] if tu.errors else None
        item = {"path": relative(tu.path, base),
                "kind": "failed" if tu.problem else "parse-errors",
                "errors": len(tu.errors),
                "message": tu.problem or (f"{relative(first.file, base)}:{first.line}:{first.col}: "
                                          f"{first.message}" if first else "")}
        out.append(item)
    return out


def _warn(message: str) -> None:
    click.echo(f"qlint: warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qlint")
def cli():
    """Static analysis of QEMU's C source for locking, section and event-loop bugs."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-p", "--build-dir", metavar="DIR", help="Directory holding compile_commands.json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
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
@click.option("--confirm", is_flag=True,
              help="Replay each finding on the reference AIO engine (docs/replay.md).")
def check(paths, build_dir, fmt, output, select, ignore, extend_select, show_path, statistics,
          exit_zero, quiet, jobs, config_file, includes, defines, timeout, confirm):
    """Analyse PATHS (files or directories) and report findings."""
    from .pipeline import Options, analyse
    from .report import jsonfmt, text

    options = Options(paths=list(paths), build_dir=build_dir, config_file=config_file,
                      select=_codes(select), ignore=_codes(ignore),
                      extend_select=_codes(extend_select), includes=list(includes),
                      defines=list(defines), jobs=jobs, timeout=timeout)
    result = analyse(options)
    if confirm:
        from .replay.command import confirm_findings
        confirm_findings(result)
    base = os.getcwd()
    problems = _problems(result.tus, base)
    if not quiet:
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
            _warn(f"{len(problems)} of {len(result.tus)} translation unit(s) had parse errors or failed")
    if fmt == "json":
        report = jsonfmt.render(result.findings, result.stats, problems)
    else:
        color = output is None and sys.stdout.isatty()
        report = text.render(result.findings, show_path=show_path, color=color)
        if statistics:
            report += text.statistics(result.findings)
    _write(report, output)
    sys.exit(EXIT_FINDINGS if result.findings and not exit_zero else EXIT_CLEAN)


def _write(report: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(report)
        return
    tmp = output + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(report)
        os.replace(tmp, output)
    except OSError as e:
        raise QlintError(f"{output}: cannot write report: {e.strerror}") from None


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
def explain(code):
    """Print the documentation of rule CODE (what, why, example, fix)."""
    from .rules.registry import all_rules
    rules = all_rules()
    if code not in rules:
        raise QlintError(f"unknown rule code '{code}' (see `qlint rules`)")
    click.echo(rules[code].doc().rstrip("\n"))


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
    from .rules.pack import unmet_needs
    from .rules.registry import all_rules
    options = pipeline.Options(paths=list(paths) or ["."], build_dir=build_dir,
                               config_file=config_file, jobs=jobs)
    if paths:
        _cfg, pack, _plan, _tus, program = pipeline.load(options)
        for info in pack.packs:
            missing = unmet_needs(info.needs, program.declared)
            state = "active" if not missing else "inactive: " + ", ".join(missing)
            click.echo(f"pack {info.name:<18} {state}")
        pack = pack.active(program.declared)
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
                           jobs=jobs, select=["QL101"]))


def _graph_options(f):
    f = click.option("-p", "--build-dir", metavar="DIR")(f)
    f = click.option("--config", "config_file", metavar="FILE")(f)
    f = click.option("-j", "--jobs", type=click.IntRange(min=1))(f)
    return click.option("--in", "paths", multiple=True, required=True, metavar="PATH",
                        help="Files or directories to build the graph from.")(f)


def _find_keys(result, name: str) -> list[str]:
    keys = result.program.by_name.get(name, [])
    if not keys:
        raise QlintError(f"no function named '{name}' in the analysed files")
    return keys


@graph.command()
@click.argument("function")
@_graph_options
def callers(function, paths, build_dir, config_file, jobs):
    """Who calls or registers FUNCTION."""
    result = _graph_context(paths, build_dir, config_file, jobs)
    base = os.getcwd()
    for key in _find_keys(result, function):
        for e in result.graph.callers_of(key):
            fn = result.program.functions[e.caller]
            label = e.kind + (f" {e.label}" if e.label else "")
            click.echo(f"{fn.name}  {relative(fn.file, base)}:{e.call.line}  [{label}]")
        for r in result.graph.registered.get(key, []):
            fn = result.program.functions[r.caller]
            click.echo(f"{fn.name}  {relative(r.file, base)}:{r.line}  [{r.kind} via {r.api}]")


@graph.command()
@click.argument("function")
@_graph_options
def callees(function, paths, build_dir, config_file, jobs):
    """What FUNCTION calls or registers."""
    result = _graph_context(paths, build_dir, config_file, jobs)
    base = os.getcwd()
    for key in _find_keys(result, function):
        fn = result.program.functions[key]
        for e in result.graph.edges_from.get(key, []):
            label = e.kind + (f" {e.label}" if e.label else "")
            callee = result.program.functions[e.callee]
            click.echo(f"{callee.name}  {relative(fn.file, base)}:{e.call.line}  [{label}]")
        for r in result.graph.registrations:
            if r.caller == key:
                click.echo(f"{result.program.name_of(r.func)}  {relative(r.file, base)}:{r.line}  "
                           f"[{r.kind} via {r.api}]")


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
    try:
        cli.main(args=argv, prog_name="qlint", standalone_mode=False)
    except QlintError as e:
        click.echo(f"qlint: error: {e.message}", err=True)
        sys.exit(e.code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        click.echo("qlint: aborted", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("qlint: interrupted", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as e:  # a bug: still one line, with a way to see more
        if os.environ.get("QLINT_DEBUG"):
            raise
        click.echo(f"qlint: internal error: {type(e).__name__}: {e} "
                   f"(set QLINT_DEBUG=1 for a traceback)", err=True)
        sys.exit(EXIT_ERROR)

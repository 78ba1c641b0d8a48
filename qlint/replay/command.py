"""`qlint replay` and `qlint check --confirm`: replay findings on the reference AIO engine."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import click

from .. import __version__
from ..errors import EXIT_CLEAN, EXIT_FINDINGS, QlintError
from ..files import write_output
from ..report.jsonfmt import finding_dict
from ..report.text import count, explored
from . import findings as findings_mod
from . import html, schedule, timeline
from .run import Mode, replay_finding


@dataclass
class ReplayOptions:
    finding_file: str
    bound: int | None = None
    pct: bool = False
    seed: int = 0
    runs: int | None = None
    schedule_file: str | None = None
    save_schedule: str | None = None
    html_file: str | None = None
    fingerprint: str | None = None
    fmt: str = "text"
    build_dir: str | None = None
    config_file: str | None = None
    jobs: int | None = None


def confirm_findings(result) -> None:
    """Fill each finding's `confirmation` from the analysis that produced it."""
    for f in result.findings:
        f.confirmation = replay_finding(finding_dict(f), result, Mode()).confirmation


def run_replay(options: ReplayOptions) -> int:
    if options.schedule_file and options.pct:
        raise QlintError("--schedule follows a recorded schedule; it cannot be combined with --pct")
    findings = findings_mod.load(options.finding_file, options.fingerprint)
    schedules = schedule.load(options.schedule_file) if options.schedule_file else None
    analysis = current_code(findings, options)
    replays = [replay_finding(f, analysis, _mode(options, f, schedules)) for f in findings]
    confirmed = [r for r in replays if r.confirmation["status"] == "confirmed"]
    notes = []
    if options.save_schedule:
        if confirmed:
            write_output(schedule.dumps(confirmed), options.save_schedule)
            notes.append(f"schedule written to {options.save_schedule} (follow it again: qlint "
                         f"replay {options.finding_file} --schedule {options.save_schedule})")
        else:
            notes.append(f"no counterexample: {options.save_schedule} not written")
    if options.html_file:
        write_output(html.render(replays), options.html_file)
    if options.fmt == "json":
        data = {"version": __version__,
                "replays": [dict(r.finding, confirmation=r.confirmation) for r in replays]}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(text_report(r) for r in replays) + "".join(n + "\n" for n in notes),
                   nl=False)
    return EXIT_FINDINGS if confirmed else EXIT_CLEAN


def _mode(options: ReplayOptions, finding: dict, schedules) -> Mode:
    mode = Mode(bound=options.bound, pct=options.pct, seed=options.seed, runs=options.runs)
    if schedules is not None:
        item = schedule.matching(schedules, finding)
        if item is None:
            raise QlintError(f"{options.schedule_file}: no schedule for the {finding['rule']} "
                             f"finding at {finding['path']}:{finding['line']}")
        mode.schedule = (schedule.expand(item["steps"], item.get("choices", ())),
                         schedule.starts_of(item))
    return mode


def current_code(findings: list[dict], options: ReplayOptions):
    """The analysis (program, call graph, active pack) of the current code of the files the
    findings' paths go through, read again."""
    from ..pipeline import Options, analyse
    paths = {f["path"] for f in findings}
    paths |= {s["path"] for f in findings for s in f["trace"]}
    existing = sorted(p for p in paths if os.path.exists(p))
    if not existing:
        raise QlintError(f"{sorted(paths)[0]}: no such file or directory (replay in the directory "
                         f"`qlint check` ran in)")
    result = analyse(Options(paths=existing, build_dir=options.build_dir,
                             config_file=options.config_file, jobs=options.jobs), reuse=False)
    if result.plan.degraded:
        click.echo("qlint: warning: no compile_commands.json found: degraded mode, include paths "
                   "guessed", err=True)
    return result


def text_report(r) -> str:
    f, c = r.finding, r.confirmation
    lines = [f"{f['path']}:{f['line']}:{f.get('column', 0)}: {f['rule']} [{f.get('name', '')}] "
             f"{f.get('message', '')} [{c['status']}]"]
    status = c["status"]
    if status == "not-modelled":
        return "\n".join(lines + [f"  not modelled: {c['reason']}"]) + "\n"
    if status == "confirmed":
        lines.append(f"  confirmed: {c['invariant']}: {c['message']}")
        lines.append(f"  with {c['satisfied']['change']}: not broken")
    elif status == "violation-not-attributable":
        lines.append(f"  broken, but not by the finding's defect: {c['invariant']}: "
                     f"{c['message']}")
        lines.append(f"  with {c['satisfied']['change']}: broken too: "
                     f"{c['satisfied']['message']}")
    else:
        lines.append("  not reproduced: " + (c.get("reason") or "no schedule within the bounds "
                                             "breaks an invariant"))
    lines.append(f"  scenario: era {c['era']}; threads {', '.join(c['threads'])}")
    lines += [f"    {a}" for a in c["assumptions"]]
    lines.append("  explored: " + explored(c))
    if "schedule" in c:
        lines.append(f"  counterexample: {count(c['steps'], 'step')}, "
                     f"{count(c['preemptions'], 'preemption')}")
        lines.append(timeline.render(r.timeline, r.threads).rstrip("\n"))
    return "\n".join(lines) + "\n"

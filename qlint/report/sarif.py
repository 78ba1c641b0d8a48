"""SARIF 2.1.0 for GitHub code scanning (docs/sarif.md).

The log is modelled with sarif-om's classes but not written by jschema_to_python, which drops
every value equal to its schema default (`"level": "warning"` vanishes), writes sets as their
repr and deep-copies the whole log. An object made with `node()` remembers the properties it was
given; `to_data()` writes exactly those, in the order given, so output is deterministic.
"""
from __future__ import annotations

import gc
import gzip
import json
import os
import re
import urllib.parse
from contextlib import contextmanager
from functools import lru_cache

import attr
import sarif_om as om

from .. import PROJECT_URL, __version__
from .model import portable

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "qlintFingerprint/v1"

# GitHub code scanning keeps at most this much of a run and silently drops the rest (hard limits,
# which reject the file, lie above: 25,000 results, 1,000 locations, 10,000 flow steps, 20 tags).
# qlint cuts at the kept amounts itself, deterministically and with a note.
MAX_RESULTS = 5000
MAX_RELATED = 100
MAX_FLOW_STEPS = 1000
MAX_TAGS = 10
MAX_DESCRIPTION = 1024
MAX_GZIPPED_BYTES = 10 * 1024 * 1024

SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation", "none": "recommendation"}
LEVEL_RANK = {"error": 0, "warning": 1, "note": 2, "none": 3}


# ---- serializer -------------------------------------------------------------------------------

def node(cls, **given):
    """A sarif-om object that will be written with exactly the properties given here."""
    obj = cls(**given)
    obj._given = tuple(k for k, v in given.items() if v is not None)
    return obj


@lru_cache(maxsize=None)
def _schema_names(cls) -> dict:
    return {f.name: f.metadata["schema_property_name"] for f in attr.fields(cls)}


def to_data(value):
    """Plain JSON data of a sarif-om tree (property bags are dicts, written with sorted keys)."""
    if attr.has(type(value)):
        names = _schema_names(type(value))
        return {names[name]: to_data(getattr(value, name)) for name in value._given}
    if isinstance(value, dict):
        return {k: to_data(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [to_data(v) for v in sorted(value)]
    return value


def dumps(log) -> str:
    """Compact JSON: json's C encoder only runs without indentation (5x faster on 25,000 results,
    and a third of the size); `python3 -m json.tool` shows it indented."""
    return json.dumps(to_data(log), ensure_ascii=False, separators=(",", ":")) + "\n"


@contextmanager
def _no_gc():
    """The log is hundreds of thousands of small objects that all live until it is written:
    the cyclic collector would rescan the whole program's facts many times over for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ---- rules ------------------------------------------------------------------------------------

def doc_section(doc: str, heading: str) -> str:
    """The text under `## heading` of a rule's markdown documentation, on one line."""
    match = re.search(rf"^## {re.escape(heading)}\s*\n(.*?)(?=^## |\Z)", doc, re.M | re.S)
    return " ".join(match.group(1).split()) if match else ""


def shorten(text: str, limit: int = MAX_DESCRIPTION) -> str:
    if len(text) <= limit:
        return text
    return text[:limit - 1].rsplit(" ", 1)[0] + "…"


def help_uri(code: str) -> str:
    return f"{PROJECT_URL}/blob/main/docs/rules/{code}.md"


def descriptor(rule_cls) -> om.ReportingDescriptor:
    doc = rule_cls.doc()
    return node(
        om.ReportingDescriptor,
        id=rule_cls.code,
        name=rule_cls.name,
        short_description=node(om.MultiformatMessageString, text=shorten(rule_cls.summary)),
        full_description=node(om.MultiformatMessageString,
                              text=shorten(doc_section(doc, "What it does") or rule_cls.summary)),
        help=node(om.MultiformatMessageString, text=doc, markdown=doc),
        help_uri=help_uri(rule_cls.code),
        default_configuration=node(om.ReportingConfiguration, level=rule_cls.level),
        properties={"tags": list(rule_cls.tags)[:MAX_TAGS], "precision": rule_cls.precision,
                    "problem.severity": SEVERITY.get(rule_cls.level, "warning")},
    )


# ---- results ----------------------------------------------------------------------------------

def artifact_uri(path: str, root: str) -> str:
    """`path` as a URI reference relative to %SRCROOT% (never absolute)."""
    return urllib.parse.quote(portable(path, root).replace(os.sep, "/"))


def location(path: str, line: int, column: int, root: str, message: str = "", ident: int = 0):
    region = node(om.Region, start_line=max(line, 1), start_column=column if column > 0 else None)
    physical = node(om.PhysicalLocation,
                    artifact_location=node(om.ArtifactLocation, uri=artifact_uri(path, root),
                                           uri_base_id=SRCROOT),
                    region=region)
    return node(om.Location, id=ident or None, physical_location=physical,
                message=node(om.Message, text=message) if message else None)


def code_flow(trace: list, root: str) -> om.CodeFlow:
    steps = [location(s.path, s.line, s.column, root, f"{s.function}: {s.note}") for s in trace]
    if len(steps) > MAX_FLOW_STEPS:
        omitted = len(steps) - MAX_FLOW_STEPS + 1
        last = steps[MAX_FLOW_STEPS - 2]
        last.message.text += f" ({omitted} further step(s) omitted)"
        steps = steps[:MAX_FLOW_STEPS - 1] + steps[-1:]
    return node(om.CodeFlow, thread_flows=[node(om.ThreadFlow, locations=[
        node(om.ThreadFlowLocation, location=loc) for loc in steps])])


def result(f, rule_index: dict, root: str) -> om.Result:
    related = [location(r.path, r.line, r.column, root, r.message, i)
               for i, r in enumerate(f.related[:MAX_RELATED], 1)]
    properties = {"confirmation": f.confirmation} if f.confirmation else {}
    if f.contract is not None:                 # the inferred contract it rests on
        c = f.contract
        related.append(location(c.path, c.line, 0, root, f"contract: {c.words()}",
                                len(related) + 1))
        properties["contract"] = {"function": c.function, "lock": c.lock, "kind": c.kind,
                                  "text": c.text, "held": c.held, "total": c.total,
                                  "confidence": c.confidence}
    code_flows = [code_flow(f.trace, root)] if f.trace else []
    if f.confirmation:                         # qlint check --confirm: the counterexample too
        code_flows += [flow for flow in [counterexample_flow(f.confirmation, root)] if flow]
    text = f.message
    if len(f.related) > MAX_RELATED:
        text += f" ({len(f.related) - MAX_RELATED} further related location(s) omitted)"
    return node(
        om.Result,
        rule_id=f.rule,
        rule_index=rule_index[f.rule] if f.rule in rule_index else None,
        level=f.level,
        message=node(om.Message, text=text),
        locations=[location(f.path, f.line, f.column, root)],
        partial_fingerprints={FINGERPRINT_KEY: f.fingerprint},
        code_flows=code_flows or None,
        related_locations=related or None,
        properties=properties or None,
    )


def counterexample_flow(confirmation: dict, root: str):
    """A confirmation's counterexample (docs/replay.md) as a codeFlow with one threadFlow per
    thread, or None when there is none: each location's executionOrder is the event's place in
    the interleaving, so a viewer can rebuild the timeline across threads, and the violating
    event is `essential`."""
    events = confirmation.get("schedule") or []
    if confirmation.get("status") != "confirmed" or not events:
        return None
    names = list(dict.fromkeys((confirmation.get("threads") or []) +
                               [e["thread"] for e in events]))   # the setup's too
    flows = []
    for name in names:
        steps = [node(om.ThreadFlowLocation, execution_order=order,
                      importance="essential" if e.get("violation") else None,
                      location=_event_location(e, root))
                 for order, e in enumerate(events, 1) if e["thread"] == name]
        if steps:
            flows.append(node(om.ThreadFlow, id=name, locations=steps,
                              message=node(om.Message, text=f"thread {name}")))
    text = f"counterexample ({confirmation['invariant']}): {confirmation['message']}"
    return node(om.CodeFlow, message=node(om.Message, text=text), thread_flows=flows)


def _event_location(event: dict, root: str):
    text = f"{event['function']}: {event['event']}"
    if event.get("path"):
        return location(event["path"], event["line"], 0, root, text)
    return node(om.Location, message=node(om.Message, text=text))


def most_severe(findings: list, limit: int) -> list:
    """At most `limit` findings, the most severe first as GitHub keeps them, in report order."""
    if len(findings) <= limit:
        return findings
    ranked = sorted(range(len(findings)), key=lambda i: LEVEL_RANK.get(findings[i].level, 3))
    return [findings[i] for i in sorted(ranked[:limit])]


# ---- the log ----------------------------------------------------------------------------------

def default_category(paths: list[str], base: str) -> str:
    """`qlint/` and the analysed paths: one category per set of paths, so two uploads of
    different parts of a tree do not replace each other's alerts."""
    names = sorted({portable(os.path.abspath(p), base).rstrip("/") for p in paths} - {".", ""})
    return "qlint/" + ",".join(names) if names else "qlint"


def notification(text: str, level: str = "warning", path: str = "", root: str = ""):
    return node(om.Notification, message=node(om.Message, text=text), level=level,
                locations=[location(path, 1, 0, root)] if path else None)


COUNT_REASON = f"GitHub code scanning keeps at most {MAX_RESULTS} per run"


def size_reason(max_gzipped: int) -> str:
    return f"all would exceed GitHub's upload size of {max_gzipped} bytes gzipped"


def build(findings, rules: dict, problems: list, category: str, root: str,
          max_results: int = MAX_RESULTS, cut_reason: str = COUNT_REASON,
          srcroot: bool = False) -> om.SarifLog:
    """The log; with `srcroot`, %SRCROOT% is defined as `root`'s file:// URI (an absolute path,
    written only when asked: --absolute-paths)."""
    codes = list(rules)
    rule_index = {code: i for i, code in enumerate(codes)}
    kept = most_severe(findings, max_results)
    notices = [notification(f"{portable(p['path'], root)}: {p['message']}", "warning", p["path"], root)
               for p in problems]
    if len(kept) < len(findings):
        notices.append(notification(
            f"{len(findings)} findings, of which only the {len(kept)} most severe are in this "
            f"SARIF file ({cut_reason}); the JSON report (--format json) has them all"))
    driver = node(om.ToolComponent, name="qlint", version=__version__,
                  semantic_version=__version__, information_uri=PROJECT_URL,
                  rules=[descriptor(rules[c]) for c in codes])
    run = node(
        om.Run,
        tool=node(om.Tool, driver=driver),
        automation_details=node(om.RunAutomationDetails, id=category.rstrip("/") + "/"),
        original_uri_base_ids={SRCROOT: node(om.ArtifactLocation,
                                             uri=urllib.parse.quote(_dir_uri(root), safe=":/"))}
        if srcroot else None,
        invocations=[node(om.Invocation, execution_successful=True,
                          tool_execution_notifications=notices or None)],
        column_kind="unicodeCodePoints",
        results=[result(f, rule_index, root) for f in kept],
    )
    return node(om.SarifLog, schema_uri=SCHEMA_URI, version="2.1.0", runs=[run])


def _dir_uri(root: str) -> str:
    path = os.path.abspath(root).replace(os.sep, "/")
    return "file://" + (path if path.startswith("/") else "/" + path).rstrip("/") + "/"


def gzipped_size(text: str) -> int:
    return len(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0))


def render(findings, rules: dict, problems: list, category: str, root: str,
           max_gzipped: int = MAX_GZIPPED_BYTES, srcroot: bool = False) -> str:
    """The SARIF text; if it exceeds GitHub's upload size, the largest number of most severe
    findings that fits, with a note saying so."""
    with _no_gc():
        return _render(findings, rules, problems, category, root, max_gzipped, srcroot)


def _render(findings, rules, problems, category, root, max_gzipped, srcroot) -> str:
    text = dumps(build(findings, rules, problems, category, root, srcroot=srcroot))
    if gzipped_size(text) <= max_gzipped:
        return text
    low, high = 0, min(len(findings), MAX_RESULTS)
    reason = size_reason(max_gzipped)
    best = dumps(build(findings, rules, problems, category, root, 0, reason, srcroot))
    while low < high:
        middle = (low + high + 1) // 2
        candidate = dumps(build(findings, rules, problems, category, root, middle, reason,
                                srcroot))
        if gzipped_size(candidate) <= max_gzipped:
            low, best = middle, candidate
        else:
            high = middle - 1
    return best

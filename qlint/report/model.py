"""Findings as every output format sees them."""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field


@dataclass(slots=True)
class Step:
    """One step of a finding's path: a function, where, and what happens there."""
    function: str
    path: str
    line: int
    note: str
    column: int = 0


@dataclass(slots=True)
class Related:
    """A location that explains a finding (a section's begin, where a callback was registered)."""
    path: str
    line: int
    message: str
    column: int = 0


@dataclass(slots=True)
class Contract:
    """The inferred contract a finding rests on, and what the tree says for it (qlint infer):
    a comment above a declaration, an assertion at the top of a body, or what the function's
    call sites hold."""
    function: str
    lock: str
    kind: str                            # "comment" | "assertion" | "release" | "observed"
    path: str
    line: int
    text: str = ""
    held: int = 0
    total: int = 0
    confidence: float = 1.0

    def words(self) -> str:
        """`comment at include/block/block.h:123 'The caller must hold ...'`."""
        where = f"{self.kind} at {self.path}:{self.line}"
        if self.kind == "observed":
            return f"{where}: {self.held} of {self.total} call sites of {self.function}() " \
                   f"hold {self.lock} (confidence {self.confidence:.2f})"
        return f"{where} '{self.text}'"


@dataclass(slots=True)
class Finding:
    rule: str
    name: str
    path: str
    line: int
    column: int
    function: str
    message: str
    detail: str = ""                     # stable, line-free text that tells findings apart
    trace: list = field(default_factory=list)
    related: list = field(default_factory=list)
    fingerprint: str = ""
    confirmation: dict | None = None
    level: str = "warning"
    unit: str = ""                       # the translation unit it is about (QL000), if not its path
    contract: Contract | None = None     # the inferred contract it rests on, if it does
    # Every way into the violation (where each entry point that reaches it comes from), not
    # only the first MAX_RELATED of `related`: --diff reports a way in that is new. Not in
    # the reports.
    ways: list = field(default_factory=list)

    def sort_key(self):
        return (self.path, self.line, self.column, self.rule, self.function, self.message)


def relative(path: str, base: str) -> str:
    """`path` relative to `base` when it lies below it, else as given (never machine-specific
    when the analysed tree lies below the working directory)."""
    if not path:
        return path
    rel = os.path.relpath(path, base)
    return path if rel.startswith("..") else rel


def portable(path: str, base: str) -> str:
    """`path` relative to `base`, with `../` when it lies outside: how JSON and SARIF write
    paths, so that a report names no machine-specific directory unless asked to."""
    return os.path.relpath(path, base) if path and os.path.isabs(path) else path


def project_path(path: str, base: str, root: str) -> str:
    """`path` (relative to `base`, or absolute) relative to the project root `root`."""
    return os.path.relpath(os.path.join(base, path), root) if path else path


def finalize(findings: list[Finding], base: str, root: str | None = None) -> list[Finding]:
    """Make paths relative to `base`, sort, and give each finding a fingerprint that survives
    unrelated line shifts and does not depend on the working directory: rule + function + the
    path relative to the project `root` (default `base`) + detail, with an ordinal among equals."""
    anchored = {id(f): project_path(f.path, base, root or base) for f in findings}
    for f in findings:
        f.path = relative(f.path, base)
        f.unit = relative(f.unit, base)
        for step in f.trace:
            step.path = relative(step.path, base)
        for r in f.related + f.ways:
            r.path = relative(r.path, base)
        if f.contract is not None:
            f.contract.path = relative(f.contract.path, base)
    findings.sort(key=Finding.sort_key)
    counts: dict[str, int] = {}
    for f in findings:
        basis = "\0".join((f.rule, anchored[id(f)], f.function, f.detail or f.message))
        n = counts.get(basis, 0)
        counts[basis] = n + 1
        f.fingerprint = hashlib.sha256(f"{basis}\0{n}".encode()).hexdigest()[:32]
    return findings


def rebase(findings: list[Finding], root: str, base: str) -> list[Finding]:
    """Findings whose paths are relative to `root` (finalize's, with `root` as the base) with
    paths relative to `base` instead, sorted again."""
    if root == base:
        return findings

    def moved(path: str) -> str:
        return relative(os.path.join(root, path), base) if path else path
    for f in findings:
        f.path, f.unit = moved(f.path), moved(f.unit)
        for step in f.trace:
            step.path = moved(step.path)
        for r in f.related + f.ways:
            r.path = moved(r.path)
        if f.contract is not None:
            f.contract.path = moved(f.contract.path)
    return sorted(findings, key=Finding.sort_key)


def finding_to_dict(f: Finding) -> dict:
    return asdict(f)


def finding_from_dict(d: dict) -> Finding:
    d = dict(d)
    d["trace"] = [Step(**s) for s in d["trace"]]
    d["related"] = [Related(**r) for r in d["related"]]
    d["ways"] = [Related(**r) for r in d["ways"]]
    if d.get("contract") is not None:
        d["contract"] = Contract(**d["contract"])
    return Finding(**d)

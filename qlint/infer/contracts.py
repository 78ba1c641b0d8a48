"""From the evidence to the pack entries `qlint check` uses: one [[requires]] or [[excludes]]
entry per function (or struct field), kind and lock, with all its evidence; minus what the
packs already say (shipped and user entries win, and so do attributes), what the configuration
rejects, conflicting evidence and what falls below the minimum confidence."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..analysis.locks import LockAnalysis
from ..analysis.semantics import Semantics
from ..facts.ir import Call
from ..pack.model import Origin, Requirement, Section
from .asserted import asserted_contracts
from .observed import observed_contracts
from .released import released_contracts
from .written import written_contracts

KINDS = ("comment", "assertion", "release", "observed")     # evidence kinds, strongest first
# How counts of each kind are said ("3 written, 2 asserted, 1 released, 0 observed").
NOUNS = {"comment": "written", "assertion": "asserted", "release": "released",
         "observed": "observed"}


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    min_confidence: float = 0.8
    rejected: tuple = ()          # (function, lock) the user's configuration rejects


SAID = "the packs say what it needs of this lock"
OPERATION = "it takes or releases this lock: what it needs of it is the lock's own semantics"


@dataclass
class Inference:
    entries: list = field(default_factory=list)    # Requirements used
    dropped: list = field(default_factory=list)    # (Requirement, why) not used

    def stated(self) -> list:
        """What the tree says: the entries used and those the packs state as well."""
        return self.entries + [r for r, why in self.dropped if why == SAID]

    def counts(self) -> dict[str, int]:
        """Entries used per kind of their strongest evidence."""
        return kinds_of(self.entries)

    def words(self) -> str:
        return counted(self.counts())


def counted(counts: dict) -> str:
    """`3 written, 2 asserted, 1 released, 0 observed` of {kind: count}."""
    return ", ".join(f"{n} {NOUNS[kind]}" for kind, n in counts.items())


def kinds_of(entries) -> dict[str, int]:
    """How many of `entries` rest on each kind of evidence (their strongest)."""
    out = dict.fromkeys(KINDS, 0)
    for entry in entries:
        out[kind_of(entry)] += 1
    return out


def kind_of(entry: Requirement) -> str:
    return min((e.kind for e in entry.evidence), key=KINDS.index)


def infer(program, graph, pack, settings: Settings):
    """(Inference, the pack with the inferred entries, the lock analysis made on the way).
    Written and asserted contracts come from the facts; observed ones from a lock analysis
    with those, which serves the check when nothing observed is new (its pack is the one
    returned), and otherwise lends it the summaries the new entries do not touch."""
    locks = frozenset(pack.section_kinds())
    sem = Semantics(pack, program)
    stated = written_contracts(program, pack, locks) + \
        asserted_contracts(program, pack, sem, locks) + \
        released_contracts(program, pack, sem, locks)
    stated, made, unknown = field_locks(stated, program, pack, sem)
    pack = replace(pack, sections=pack.sections + made) if made else pack
    first = _decide(stated, program, pack, sem, settings)
    with_stated = replace(pack, requirements=pack.requirements + first.entries)
    analysis = LockAnalysis(program, graph, with_stated)
    final = _decide(stated + observed_contracts(analysis, with_stated), program, pack, sem,
                    settings)
    final.dropped += unknown
    if {_ident(r) for r in final.entries} == {_ident(r) for r in first.entries}:
        # Nothing new to check: the analysis serves.
        return Inference(first.entries, final.dropped), with_stated, analysis
    return final, replace(pack, requirements=pack.requirements + final.entries), analysis


NOT_TAKEN = "no lock operation of the program takes it"


def field_locks(found, program, pack, sem) -> tuple[list, list, list]:
    """Contracts on a lock in a struct field ("BDRVNBDState.requests_lock", from a comment's
    "s->requests_lock"), given a lock: the one the packs declare for that field, else one made
    of the [[written]] `field-of` locks whose functions take it somewhere in the program (a
    QemuMutex's or a CoMutex's, through lock guards too). (the contracts with their lock's
    name, the locks made, (Requirement, why) of those on a field no lock operation takes.)"""
    declared = pack.section_kinds()
    wanted = {lock for _s, _k, lock, _e in found if lock not in declared}
    if not wanted:
        return found, [], []
    generic = {name for w in pack.written for name in w.field_of}
    takers = _takers(program, sem, wanted, generic)
    own = {s.field: s.name for s in pack.sections if s.field}
    made, names = [], {}
    for lock in sorted(wanted):
        if lock in own:
            names[lock] = own[lock]
        elif takers.get(lock):
            names[lock] = lock
            first = min((e for _s, _k, w, e in found if w == lock), key=lambda e: (e.file, e.line))
            made.append(_field_lock(lock, [pack.section(n) for n in sorted(takers[lock])], first))
    kept, unknown = [], []
    for subject, kind, lock, evidence in found:
        if lock not in wanted:
            kept.append((subject, kind, lock, evidence))
        elif lock in names:
            kept.append((subject, kind, names[lock], evidence))
        else:
            unknown.append((Requirement(lock=lock, kind=kind, function=subject,
                                        evidence=(evidence,)), NOT_TAKEN))
    return kept, made, unknown


def _takers(program, sem, fields: set, generic: set) -> dict[str, set]:
    """The `generic` locks whose operations take each of `fields` somewhere in the program."""
    names = {m.name for s in sem.pack.sections if s.name in generic
             for m in s.begin + tuple(t for t, _ in s.try_begin)}
    out: dict[str, set] = {}
    for fn in program.functions.values():
        for block in fn.blocks:
            for event in block.events:
                if isinstance(event, Call) and (event.name in names or event.macro in names):
                    for op in sem.section_ops(event):
                        if op.ident in fields and op.section in generic:
                            out.setdefault(op.ident, set()).add(op.section)
    return out


def _field_lock(field: str, kinds: list, evidence) -> Section:
    """The lock in `field`, taken and released by the functions of `kinds` (those that
    designate it by the same argument)."""
    kinds = [k for k in kinds if k.arg == kinds[0].arg]

    def union(attr):
        return tuple(dict.fromkeys(m for k in kinds for m in getattr(k, attr)))
    return Section(name=field, kind="lock", begin=union("begin"), end=union("end"),
                   try_begin=union("try_begin"), unheld=union("unheld"),
                   recursive=any(k.recursive for k in kinds), field=field,
                   arg=kinds[0].arg,
                   description=f"the {'/'.join(k.name for k in kinds)} in {field}",
                   origin=Origin(evidence.file, evidence.line, "inferred", "lock"))


def _ident(r: Requirement) -> tuple:
    return (r.function, r.kind, r.lock)


def _decide(found, program, pack, sem, settings: Settings) -> Inference:
    """The entries the evidence makes, and those left out with the reason."""
    grouped: dict[tuple, list] = {}
    for subject, kind, lock, evidence in found:
        grouped.setdefault((subject, kind, lock), []).append(evidence)
    said = {(program.name_of(r.function), r.lock) for r in pack.requirements if r.function}
    rejected = set(settings.rejected)
    out = Inference()
    for (subject, kind, lock), evidence in sorted(grouped.items()):
        first = min(evidence, key=lambda e: (KINDS.index(e.kind), e.file, e.line))
        entry = Requirement(lock=lock, kind=kind, function=subject,
                            evidence=tuple(sorted(set(evidence), key=_evidence_order)),
                            origin=Origin(first.file, first.line, "inferred", kind))
        name = program.name_of(subject)
        other = "excludes" if kind == "requires" else "requires"
        if (name, lock) in said:
            why = SAID
        elif (name, lock) in rejected or (subject, lock) in rejected:
            why = "rejected by the configuration"
        elif sem.operates(name, lock):
            why = OPERATION
        elif (subject, other, lock) in grouped:
            why = f"the evidence also says it {other} {lock}"
        elif _declared(program, sem, subject, kind, lock):
            why = "its declaration's attributes say so already"
        elif entry.confidence < settings.min_confidence:
            why = f"confidence {entry.confidence:.2f} below {settings.min_confidence:.2f}"
        else:
            out.entries.append(entry)
            continue
        out.dropped.append((entry, why))
    return out


def _evidence_order(e) -> tuple:
    return (KINDS.index(e.kind), e.file, e.line, e.text)


def _declared(program, sem, subject: str, kind: str, lock: str) -> bool:
    """Whether the function's (or field's) attributes already carry this requirement, or let
    it assume the lock (a coroutine_fn runs in coroutine context: its callers are checked)."""
    attrs = program.field_attrs.get(subject, ()) if subject not in program.functions and \
        "." in subject else program.attrs(subject)
    if any(r.lock == lock for r in sem.attribute_requirements(attrs, kind)):
        return True
    return kind == "requires" and lock in sem.contract_holds(program.name_of(subject), attrs)

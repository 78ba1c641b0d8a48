"""RulePack: the merged knowledge of every pack and the user's configuration, and which of it
is active in the analysed tree."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from .matcher import assumption_key
from .model import (AcrossDeferral, Asserted, Assume, Boundary, Callback, Contract, Deferral,
                    Entry, Inside, Item, NoReturn, Observed, PackInfo, Phrase, Protects,
                    Released, Requirement, Section, Transaction, Written, needs_met, unmet_needs)
from .schema import inactive_reason


@dataclass
class RulePack:
    """The merged knowledge of every pack and the user's configuration. Each list holds the
    entries of the tables schema.TABLES sends there."""
    packs: list[PackInfo] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)
    deferrals: list[Deferral] = field(default_factory=list)
    inside: list[Inside] = field(default_factory=list)
    across_deferral: list[AcrossDeferral] = field(default_factory=list)
    assume: list[Assume] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    boundaries: list[Boundary] = field(default_factory=list)
    protects: list[Protects] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    noreturn: list[NoReturn] = field(default_factory=list)
    written: list[Written] = field(default_factory=list)
    phrases: list[Phrase] = field(default_factory=list)
    asserted: list[Asserted] = field(default_factory=list)
    observed: list[Observed] = field(default_factory=list)
    released: list[Released] = field(default_factory=list)
    inactive: list = field(default_factory=list)     # (entry, why) dropped by active()

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section_kinds(self) -> dict[str, str]:
        """Each declared section's kind ("lock", "section", "context") by name."""
        return {s.name: s.kind for s in self.sections}

    def entry_holds(self, kind: str) -> tuple[str, ...]:
        """Locks held when a callback of this kind starts (the union of its [[entry]] tables)."""
        return tuple(sorted({h for e in self.entries if e.kind == kind for h in e.holds}))

    def entry_maybe(self, kind: str) -> tuple[str, ...]:
        """Locks a callback of this kind may or may not hold when it starts."""
        return tuple(sorted({h for e in self.entries if e.kind == kind for h in e.maybe}))

    def items(self) -> list[Item]:
        """Every entry, list by list."""
        return [item for name in entry_lists() for item in getattr(self, name)]

    def assumptions(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, set] = {}
        for a in self.assume:
            out.setdefault(assumption_key(a.condition), set()).update(a.holds)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    def active(self, declared) -> "RulePack":
        """The entries whose pack and own `needs` are met by the analysed tree; the others
        are kept in `inactive` with the reason (schema.inactive_reason)."""
        dead = {p.name: unmet_needs(p.needs, declared) for p in self.packs
                if not needs_met(p.needs, declared)}
        out = RulePack(packs=self.packs)
        for name in entry_lists():
            for item in getattr(self, name):
                why = inactive_reason(item, dead, declared)
                if why:
                    out.inactive.append((item, why))
                else:
                    getattr(out, name).append(item)
            if name == "entries":            # the sections, before them, are settled
                out.entries = _live_holds(out.entries, {s.name for s in out.sections},
                                          out.inactive)
        return out

    def status(self, declared) -> list[tuple[str, str]]:
        """Per pack, whether the analysed tree activates it: "active", "inactive: why", or
        "partially active: K of N entries (inactive: why)"."""
        dropped = self.active(declared).inactive
        out = []
        for info in self.packs:
            missing = unmet_needs(info.needs, declared)
            if missing:
                out.append((info.name, "inactive: " + ", ".join(missing)))
                continue
            mine = lambda item: item.origin is not None and item.origin.pack == info.name  # noqa: E731
            total = sum(1 for item in self.items() if mine(item))
            reasons = list(dict.fromkeys(why for item, why in dropped if mine(item)))
            dead = sum(1 for item, _why in dropped if mine(item))
            if not dead:
                out.append((info.name, "active"))
            elif dead == total:
                out.append((info.name, "inactive: " + "; ".join(reasons)))
            else:
                out.append((info.name, f"partially active: {total - dead} of {total} entries "
                                       f"(inactive: {'; '.join(reasons)})"))
        return out


def entry_lists() -> list[str]:
    """RulePack's lists of entries, in their order."""
    return [f.name for f in fields(RulePack) if f.name not in ("packs", "inactive")]


def _live_holds(entries: list[Entry], alive: set, inactive: list) -> list[Entry]:
    """An entry keeps only the live locks it holds: an inactive context is nobody's. One that
    existed only to hold inactive locks is inactive itself."""
    out = []
    for e in entries:
        held = tuple(h for h in e.holds if h in alive)
        maybe = tuple(h for h in e.maybe if h in alive)
        if (e.holds or e.maybe) and not (held or maybe) and not e.functions:
            inactive.append((e, f"holds only inactive locks ({', '.join(e.holds + e.maybe)})"))
        else:
            out.append(replace(e, holds=held, maybe=maybe))
    return out

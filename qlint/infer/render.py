"""The inferred pack as TOML (`qlint infer`): a [pack] table, then one [[requires]] or
[[excludes]] entry per contract with its evidence, sorted, paths relative to where qlint runs.
It loads as a pack, and an entry copied into the configuration is the user's."""
from __future__ import annotations

import json

from ..pack.schema import SUCCESS
from ..report.model import relative
from .contracts import counted, kinds_of

HEADER = """\
# Contracts qlint inferred from the analysed tree (`qlint infer`): what the tree states in
# comments and assertions, and what its call sites show. `qlint check` uses them by default
# (`--no-infer` does not). To keep one whatever the tree says, copy it into .qlint.toml; to
# reject one, list it there: infer-reject = [{{ function = "...", lock = "..." }}].
# {counts}
"""


def render(entries, base: str, locks=()) -> str:
    """TOML for `entries` (Requirements with evidence), after the `locks` they name that no
    pack declares (definitions of locks in struct fields, `definition()`)."""
    words = counted(kinds_of(entries))
    out = [HEADER.format(counts=f"{len(entries)} contracts: {words}."),
           '[pack]', 'name = "inferred"',
           'description = "contracts inferred from the analysed tree (qlint infer)"', '']
    for lock in sorted(locks, key=lambda d: d["name"]):
        out += _lock_table(lock)
    for entry in sorted(entries, key=lambda e: (_function(e.function, base), e.kind, e.lock)):
        out += [f"[[{entry.kind}]]",
                f"function = {_string(_function(entry.function, base))}",
                f"lock = {_string(entry.lock)}",
                "evidence = ["]
        out += [f"  {_evidence(e, base)}," for e in entry.evidence]
        out += ["]", ""]
    return "\n".join(out)


_SUCCESS_WORD = {ok: word for word, ok in SUCCESS.items()}


def definition(section) -> dict:
    """A lock in a struct field that inference made (contracts.field_locks) as plain data: the
    keys of its [[lock]] table."""
    return {"name": section.name, "description": section.description,
            "acquire": [str(m) for m in section.begin], "release": [str(m) for m in section.end],
            "try-acquire": [{"function": str(m), "success": _SUCCESS_WORD[ok]}
                            for m, ok in section.try_begin],
            "none-held": [str(m) for m in section.unheld], "recursive": section.recursive,
            "field": section.field}


def _lock_table(lock: dict) -> list[str]:
    out = [f"[[lock]]   # {lock['description']}, as the program takes it",
           f"name = {_string(lock['name'])}"]
    for key in ("acquire", "release", "none-held"):
        if lock[key]:
            out.append(f"{key} = [" + ", ".join(_string(m) for m in lock[key]) + "]")
    if lock["try-acquire"]:
        out.append("try-acquire = [" + ", ".join(
            f"{{ function = {_string(t['function'])}, success = {_string(t['success'])} }}"
            for t in lock["try-acquire"]) + "]")
    if lock["recursive"]:
        out.append("recursive = true")
    return out + [f"field = {_string(lock['field'])}", ""]


def _function(function: str, base: str) -> str:
    """A static function's key with its file relative: `name@block/qcow2.c`."""
    name, at, file = function.partition("@")
    return f"{name}@{relative(file, base)}" if at else function


def _evidence(e, base: str) -> str:
    fields = [f"kind = {_string(e.kind)}", f"at = {_string(f'{relative(e.file, base)}:{e.line}')}"]
    if e.text:
        fields.append(f"text = {_string(e.text)}")
    if e.kind == "observed":
        fields += [f"held = {e.held}", f"total = {e.total}", f"confidence = {e.confidence}"]
        if e.deviants:
            fields.append("deviants = [" + ", ".join(_string(_site(d, base))
                                                     for d in e.deviants) + "]")
    return "{ " + ", ".join(fields) + " }"


def _site(site: str, base: str) -> str:
    file, _, line = site.rpartition(":")
    return f"{relative(file, base)}:{line}"


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)

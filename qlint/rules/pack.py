"""Rule packs: QEMU's locking and event-loop knowledge as data.

A pack is a TOML file in rules/ (shipped) or the tables of a user's configuration; both have the
same schema (docs/configuration.md). Loading validates every entry and reports the first defect
as a one-line error naming the file, the line and the key.

Names in acquire/release/begin/end/api lists are matchers:
  "aio_context_acquire"                                   a call of that function
  "aio_disable_external(iohandler_get_aio_context())"     ... with those argument spellings
  "aio_bh_schedule_oneshot(qemu_get_aio_context(), *)"    '*' matches any argument
  "macro:WITH_QEMU_LOCK_GUARD"                            a call written by that macro
"""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field, replace

from ..errors import QlintError
from ..facts.ir import Call

try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_MATCHER_RE = re.compile(r"^(macro:)?([A-Za-z_]\w*)\s*(?:\((.*)\))?$", re.S)


def _squash(text: str) -> str:
    return "".join(text.split())


def _bare(text: str) -> str:
    """Without the parentheses a macro puts around its argument: `(&error_fatal)`."""
    while text.startswith("(") and text.endswith(")") and _balanced_inside(text[1:-1]):
        text = text[1:-1]
    return text


def _balanced_inside(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    macro: bool = False
    args: tuple | None = None      # squashed argument patterns, None for '*'

    def matches(self, call: Call) -> bool:
        if self.macro:
            if call.macro != self.name:
                return False
        elif call.name != self.name:
            return False
        if self.args is None:
            return True
        for index, pattern in enumerate(self.args):
            if pattern is None:
                continue
            if index >= len(call.args) or _bare(_squash(call.args[index].text)) != pattern:
                return False
        return True

    def __str__(self) -> str:
        prefix = "macro:" if self.macro else ""
        if self.args is None:
            return prefix + self.name
        return f"{prefix}{self.name}({', '.join(a or '*' for a in self.args)})"


def parse_matcher(spec: str) -> Matcher:
    m = _MATCHER_RE.match(spec.strip()) if isinstance(spec, str) else None
    if not m:
        raise ValueError(f"not a function matcher: {spec!r}")
    args = None
    if m.group(3) is not None:
        args = tuple(None if a == "*" else a
                     for a in (_bare(_squash(x)) for x in _split_args(m.group(3))))
    return Matcher(name=m.group(2), macro=bool(m.group(1)), args=args)


def _split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        cur.append(ch)
    if "".join(cur).strip() or out:
        out.append("".join(cur))
    return out


@dataclass(slots=True)
class Origin:
    file: str
    line: int
    pack: str           # pack name, or "config"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class Section:
    """A begin/end pair. Locks are sections of kind "lock" (acquire/release)."""
    name: str
    kind: str                        # "lock" | "section"
    begin: tuple[Matcher, ...]
    end: tuple[Matcher, ...]
    recursive: bool = False
    switch: tuple[Matcher, ...] = ()  # calls after which the lock is held by execution context
    begin_attrs: tuple[str, ...] = ()   # ... and the same by the callee's attributes
    end_attrs: tuple[str, ...] = ()
    switch_attrs: tuple[str, ...] = ()
    arg: int = 0                     # the argument that designates the instance
    field: str = ""                  # only instances whose argument is this Record.field
    origin: Origin | None = None
    needs: tuple[str, ...] = ()
    try_begin: tuple[tuple[Matcher, bool], ...] = ()   # (trylock, its result where it locked
                                                       # is true: "nonzero", or false: "zero")


@dataclass(slots=True)
class Callback:
    """A call of `api` registers the functions in `args` as entry points of kind `entry`. With
    `source`, the arguments are objects that call produced (a Coroutine * made by
    qemu_coroutine_create) and the functions are those it was given. With `invoke`, the
    functions run right away, in the caller's lock state (qemu_coroutine_enter), plus what
    `holds` names (entering a coroutine provides coroutine context)."""
    api: Matcher
    args: tuple[int, ...]
    entry: str
    origin: Origin | None = None
    needs: tuple[str, ...] = ()
    source: str = ""
    invoke: bool = False
    holds: tuple[str, ...] = ()


@dataclass(slots=True)
class Entry:
    kind: str = ""                   # an entry kind created by callbacks ...
    functions: tuple[str, ...] = ()  # ... or roots named by glob
    attrs: tuple[str, ...] = ()      # ... that carry these attributes ("annotate:coroutine_fn")
    holds: tuple[str, ...] = ()
    description: str = ""
    origin: Origin | None = None

    def names(self, function: str, attrs=()) -> bool:
        return any(fnmatch.fnmatchcase(function, g) for g in self.functions) and \
            all(a in attrs for a in self.attrs)


@dataclass(slots=True)
class Requirement:
    """`function` (or calls through "Record.field") requires / excludes `lock`; or, with
    `attribute`, every function or field declared with that attribute does."""
    function: str
    lock: str
    kind: str                        # "requires" | "excludes"
    origin: Origin | None = None
    needs: tuple[str, ...] = ()
    attribute: str = ""


@dataclass(slots=True)
class Deferral:
    api: Matcher
    callback_arg: int
    entry: str = "deferred"
    origin: Origin | None = None
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class Inside:
    function: str
    section: str
    origin: Origin | None = None
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class AcrossDeferral:
    """`section` open across a deferral needs `requires` open for the same span, unless the
    path took one of the `unless` branches ("cond" true, "!cond" false; `*` matches any text)."""
    section: str
    requires: str
    origin: Origin | None = None
    needs: tuple[str, ...] = ()
    reason: str = ""
    unless: tuple[str, ...] = ()

    def exempt(self, conds) -> bool:
        """Does a path with these (condition, truth) pairs satisfy an `unless`?"""
        for pattern in self.unless:
            truth = not pattern.startswith("!")
            glob = _squash(pattern.lstrip("!"))
            if any(v == truth and fnmatch.fnmatchcase(_squash(c), glob) for c, v, *_ in conds):
                return True
        return False

    def patterns(self) -> list[str]:
        return [_squash(p.lstrip("!")) for p in self.unless]


@dataclass(slots=True)
class Transaction:
    """A call of `add` puts an action (a driver: a struct of callbacks, argument `driver_arg`)
    into a transaction (argument `transaction_arg`); a call of `run` runs the callbacks of the
    actions added to it (commit or abort, then clean). A section open when an action whose
    callbacks end it is added is the transaction's to end from then on."""
    add: tuple[Matcher, ...]
    run: tuple[Matcher, ...]
    transaction_arg: int = 0
    driver_arg: int = 1
    origin: Origin | None = None
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class NoReturn:
    """Calls that do not return, though nothing in their declaration says so (glib's assertion
    messages), or not with these arguments (`error_setg(&error_fatal, ...)` exits)."""
    function: tuple[Matcher, ...]
    reason: str = ""
    origin: Origin | None = None
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class Protects:
    """Fields that `lock` protects: two threads must not access them unless both hold it
    (checked by the runtime checker, qlint replay)."""
    lock: str
    fields: tuple[str, ...]
    origin: Origin | None = None
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class Assume:
    """Where `condition` is true, `holds` are held (`qemu_in_coroutine()`: coroutine context)."""
    condition: str
    holds: tuple[str, ...]
    origin: Origin | None = None
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class Boundary:
    """Calls of functions matching `function` (a glob) are not followed for what they need:
    their callees' requirements and exclusions are not their callers' (error reporting, whose
    output callbacks reach every chardev and channel)."""
    function: str
    reason: str = ""
    origin: Origin | None = None
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class Contract:
    """A function declared with `attribute` may assume `holds` at its entry: its callers
    are checked for them instead (coroutine_fn: coroutine context; GRAPH_RDLOCK: the lock).
    What it `accepts` it answers for itself: its calls that need it are not checked, nor
    passed on to its callers (coroutine_mixed_fn tests qemu_in_coroutine() as it sees fit).
    With `function` (globs) instead, the named functions are vouched for the same way."""
    attribute: str = ""
    function: str = ""
    holds: tuple[str, ...] = ()
    accepts: tuple[str, ...] = ()
    origin: Origin | None = None
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class PackInfo:
    name: str
    description: str
    file: str
    needs: tuple[str, ...] = ()
    user: bool = False


@dataclass
class RulePack:
    """The merged knowledge of every pack and the user's configuration."""
    packs: list[PackInfo] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
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
    inactive: list = field(default_factory=list)     # (table, entry, why) dropped by active()

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section_kinds(self) -> dict[str, str]:
        """Each declared section's kind ("lock", "section", "context") by name."""
        return {s.name: s.kind for s in self.sections}

    def entry_holds(self, kind: str) -> tuple[str, ...]:
        """Locks held when a callback of this kind starts (the union of its [[entry]] tables)."""
        return tuple(sorted({h for e in self.entries if e.kind == kind for h in e.holds}))

    def active(self, declared) -> "RulePack":
        """The entries whose pack and own `needs` are met by the analysed tree; the others
        are kept in `inactive` with the reason."""
        dead = {p.name: unmet_needs(p.needs, declared) for p in self.packs
                if not needs_met(p.needs, declared)}
        inactive = []

        def live(table: str, items: list) -> list:
            kept = []
            for item in items:
                o = item.origin
                if o is not None and o.pack in dead:
                    why = f"pack {o.pack} is inactive ({', '.join(dead[o.pack])})"
                elif not needs_met(getattr(item, "needs", ()), declared):
                    why = ", ".join(unmet_needs(item.needs, declared))
                else:
                    kept.append(item)
                    continue
                if table not in ("boundary", "noreturn") and getattr(item, "reason", ""):   # a boundary's
                    why += f" ({item.reason})"       # reason says what it is, not why it is off
                inactive.append((table, item, why))
            return kept
        sections = live("section", self.sections)
        alive = {s.name for s in sections}
        # An entry keeps only the live locks it holds: an inactive context is nobody's. One
        # that existed only to hold inactive locks is inactive itself.
        entries = []
        for e in live("entry", self.entries):
            held = tuple(h for h in e.holds if h in alive)
            if e.holds and not held and not e.functions:
                inactive.append(("entry", e, f"holds only inactive locks ({', '.join(e.holds)})"))
            else:
                entries.append(replace(e, holds=held))
        return RulePack(
            packs=self.packs,
            sections=sections,
            callbacks=live("callback", self.callbacks),
            entries=entries,
            requirements=live("requires", self.requirements),
            deferrals=live("deferral", self.deferrals),
            inside=live("inside", self.inside),
            across_deferral=live("across-deferral", self.across_deferral),
            assume=live("assume", self.assume),
            contracts=live("contract", self.contracts),
            boundaries=live("boundary", self.boundaries),
            protects=live("protects", self.protects),
            transactions=live("transaction", self.transactions),
            noreturn=live("noreturn", self.noreturn),
            inactive=inactive)

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
            total = sum(1 for item in self._items() if mine(item))
            reasons = list(dict.fromkeys(why for _t, item, why in dropped if mine(item)))
            dead = sum(1 for _t, item, _why in dropped if mine(item))
            if not dead:
                out.append((info.name, "active"))
            elif dead == total:
                out.append((info.name, "inactive: " + "; ".join(reasons)))
            else:
                out.append((info.name, f"partially active: {total - dead} of {total} entries "
                                       f"(inactive: {'; '.join(reasons)})"))
        return out

    def _items(self):
        return (self.sections + self.callbacks + self.entries + self.requirements +
                self.deferrals + self.inside + self.across_deferral + self.assume +
                self.contracts + self.boundaries + self.protects + self.transactions +
                self.noreturn)

    def assumptions(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, set] = {}
        for a in self.assume:
            out.setdefault(_squash(a.condition), set()).update(a.holds)
        return {k: tuple(sorted(v)) for k, v in out.items()}


def needs_met(needs, declared) -> bool:
    """`needs` lists names the tree must declare; "!name" one it must not. A name
    "attr:ATTRIBUTE" is declared when some declaration carries that attribute."""
    return all((n[1:] not in declared) if n.startswith("!") else (n in declared) for n in needs)


def unmet_needs(needs, declared) -> list[str]:
    """The unmet needs, in words: "aio_disable_external is not declared"."""
    def words(n: str) -> str:
        return f"no declaration has attribute {n[5:]}" if n.startswith("attr:") else f"{n} is not declared"
    return [(f"{n[1:]} is declared" if n.startswith("!") else words(n))
            for n in needs if not needs_met((n,), declared)]


# ---- loading -----------------------------------------------------------------------------

_TABLE_KEYS = {
    "lock": {"name", "acquire", "release", "switch", "acquire_attribute", "release_attribute",
             "switch_attribute", "recursive", "arg", "field", "needs", "try-acquire", "success"},
    "context": {"name", "description", "needs"},
    "section": {"name", "begin", "end", "recursive", "arg", "field", "needs"},
    "callback": {"api", "args", "entry", "source", "invoke", "holds", "needs"},
    "entry": {"kind", "functions", "attrs", "holds", "description"},
    "requires": {"function", "attribute", "lock", "needs"},
    "excludes": {"function", "attribute", "lock", "needs"},
    "deferral": {"api", "callback_arg", "entry", "needs"},
    "inside": {"function", "section", "needs"},
    "across-deferral": {"section", "requires", "needs", "reason", "unless"},
    "assume": {"condition", "holds", "needs"},
    "boundary": {"function", "reason", "needs"},
    "contract": {"attribute", "function", "holds", "accepts", "needs"},
    "protects": {"lock", "fields", "needs"},
    "transaction": {"add", "run", "transaction_arg", "driver_arg", "needs"},
    "noreturn": {"function", "reason", "needs"},
}
PACK_TABLES = tuple(_TABLE_KEYS)


def builtin_pack_dir() -> str:
    """rules/ of a source checkout, or the copy the wheel carries as qlint/packs."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(os.path.dirname(here), "rules"), os.path.join(here, "packs")):
        if os.path.isdir(candidate):
            return candidate
    raise QlintError("built-in rule packs not found (expected rules/*.toml)")


def load_builtin() -> RulePack:
    pack = RulePack()
    directory = builtin_pack_dir()
    for name in sorted(os.listdir(directory)):
        if name.endswith(".toml"):
            add_file(pack, os.path.join(directory, name))
    check_references(pack)
    return pack


def read_toml(path: str) -> tuple[dict, str]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise QlintError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text), text
    except UnicodeDecodeError:
        raise QlintError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise QlintError(f"{path}: invalid TOML: {e}") from None


def add_file(pack: RulePack, path: str) -> None:
    data, text = read_toml(path)
    info = data.get("pack")
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        raise QlintError(f"{path}: a rule pack needs a [pack] table with a name")
    unknown = set(data) - set(PACK_TABLES) - {"pack"}
    if unknown:
        key = sorted(unknown)[0]
        raise QlintError(f"{path}:{line_of(text, key)}: unknown table '{key}'")
    name = info["name"]
    needs = _strings(info.get("needs", []), path, text, "pack", "needs")
    pack.packs.append(PackInfo(name=name, description=str(info.get("description", "")),
                               file=path, needs=tuple(needs)))
    add_tables(pack, data, path, text, name)


def add_tables(pack: RulePack, data: dict, path: str, text: str, pack_name: str) -> None:
    """Add the [[lock]], [[requires]] ... arrays of one file (a pack or a user config)."""
    for table in PACK_TABLES:
        items = data.get(table, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise QlintError(f"{path}:{line_of(text, table)}: '{table}' must be an array of tables "
                             f"([[{table}]])")
        occurrences = _table_lines(text, table)
        for index, item in enumerate(items):
            line = occurrences[index] if index < len(occurrences) else line_of(text, table)
            origin = Origin(path, line, pack_name)
            _add_item(pack, table, item, origin, text)


def _add_item(pack: RulePack, table: str, item: dict, origin: Origin, text: str) -> None:
    where = f"{origin.file}:{origin.line}"
    unknown = set(item) - _TABLE_KEYS[table]
    if unknown:
        raise QlintError(f"{where}: [[{table}]] unknown key '{sorted(unknown)[0]}'")

    def need(key, kind):
        if key not in item:
            raise QlintError(f"{where}: [[{table}]] missing key '{key}'")
        return get(key, kind)

    def get(key, kind, default=None):
        value = item.get(key, default)
        if kind == "str" and not (isinstance(value, str) and value):
            raise QlintError(f"{where}: [[{table}]] '{key}' must be a non-empty string")
        if kind == "strs":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise QlintError(f"{where}: [[{table}]] '{key}' must be a list of strings")
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise QlintError(f"{where}: [[{table}]] '{key}' must be a non-negative integer")
        if kind == "ints" and (not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
            raise QlintError(f"{where}: [[{table}]] '{key}' must be a list of non-negative integers")
        if kind == "bool" and not isinstance(value, bool):
            raise QlintError(f"{where}: [[{table}]] '{key}' must be true or false")
        return value

    def matchers(key, optional=False):
        if optional and key not in item:
            return ()
        try:
            return tuple(parse_matcher(s) for s in need(key, "strs"))
        except ValueError as e:
            raise QlintError(f"{where}: [[{table}]] '{key}': {e}") from None

    needs = tuple(get("needs", "strs", []))
    if table == "context":
        pack.sections.append(Section(name=need("name", "str"), kind="context", begin=(), end=(),
                                     origin=origin, needs=needs))
    elif table in ("lock", "section"):
        begin, end = ("acquire", "release") if table == "lock" else ("begin", "end")
        attrs = {k: tuple(get(k, "strs", [])) for k in
                 ("acquire_attribute", "release_attribute", "switch_attribute")}
        by_attribute = table == "lock" and (attrs["acquire_attribute"] or attrs["release_attribute"])
        pack.sections.append(Section(
            name=need("name", "str"), kind=table,
            begin=matchers(begin, optional=bool(by_attribute)),
            end=matchers(end, optional=bool(by_attribute)),
            recursive=get("recursive", "bool", False), switch=matchers("switch", optional=True),
            begin_attrs=attrs["acquire_attribute"], end_attrs=attrs["release_attribute"],
            switch_attrs=attrs["switch_attribute"], arg=get("arg", "int", 0),
            field=get("field", "str", None) if "field" in item else "", origin=origin, needs=needs,
            try_begin=_try_acquire(item, where) if table == "lock" else ()))
    elif table == "callback":
        invoke = get("invoke", "bool", False)
        entry = get("entry", "str", "") if "entry" in item or not invoke else ""
        if "holds" in item and not invoke:
            raise QlintError(f"{where}: [[callback]] 'holds' needs invoke = true (an entry "
                             f"point's locks are its [[entry]] kind's)")
        for m in matchers("api"):
            pack.callbacks.append(Callback(
                api=m, args=tuple(need("args", "ints")), entry=entry, origin=origin, needs=needs,
                source=get("source", "str", "") if "source" in item else "", invoke=invoke,
                holds=tuple(get("holds", "strs", []))))
    elif table == "entry":
        if "kind" not in item and "functions" not in item:
            raise QlintError(f"{where}: [[entry]] needs 'kind' or 'functions'")
        pack.entries.append(Entry(
            kind=get("kind", "str") if "kind" in item else "",
            functions=tuple(get("functions", "strs", [])), attrs=tuple(get("attrs", "strs", [])),
            holds=tuple(get("holds", "strs", [])),
            description=str(item.get("description", "")), origin=origin))
    elif table in ("requires", "excludes"):
        if ("function" in item) == ("attribute" in item):
            raise QlintError(f"{where}: [[{table}]] needs 'function' or 'attribute' (one of them)")
        for function in get("function", "strs", []):
            pack.requirements.append(Requirement(function=function, lock=need("lock", "str"),
                                                 kind=table, origin=origin, needs=needs))
        for attribute in get("attribute", "strs", []):
            pack.requirements.append(Requirement(function="", lock=need("lock", "str"),
                                                 kind=table, origin=origin, needs=needs,
                                                 attribute=attribute))
    elif table == "contract":
        if "holds" not in item and "accepts" not in item:
            raise QlintError(f"{where}: [[contract]] needs 'holds' or 'accepts'")
        if ("function" in item) == ("attribute" in item):
            raise QlintError(f"{where}: [[contract]] needs 'function' or 'attribute' (one of them)")
        holds, accepts = tuple(get("holds", "strs", [])), tuple(get("accepts", "strs", []))
        for attribute in get("attribute", "strs", []):
            pack.contracts.append(Contract(attribute=attribute, holds=holds, accepts=accepts,
                                           origin=origin, needs=needs))
        for function in get("function", "strs", []):
            pack.contracts.append(Contract(function=function, holds=holds, accepts=accepts,
                                           origin=origin, needs=needs))
    elif table == "deferral":
        for m in matchers("api"):
            pack.deferrals.append(Deferral(api=m, callback_arg=need("callback_arg", "int"),
                                           entry=get("entry", "str", "deferred") if "entry" in item
                                           else "deferred", origin=origin, needs=needs))
    elif table == "inside":
        for function in need("function", "strs"):
            pack.inside.append(Inside(function=function, section=need("section", "str"),
                                      origin=origin, needs=needs))
    elif table == "boundary":
        for function in need("function", "strs"):
            pack.boundaries.append(Boundary(function=function, reason=get("reason", "str", ""),
                                            origin=origin, needs=needs))
    elif table == "assume":
        pack.assume.append(Assume(condition=need("condition", "str"),
                                  holds=tuple(need("holds", "strs")), origin=origin, needs=needs))
    elif table == "protects":
        fields = tuple(need("fields", "strs"))
        if not fields:
            raise QlintError(f"{where}: [[protects]] 'fields' must name at least one field")
        pack.protects.append(Protects(lock=need("lock", "str"), fields=fields, origin=origin,
                                      needs=needs))
    elif table == "noreturn":
        pack.noreturn.append(NoReturn(function=matchers("function"),
                                      reason=get("reason", "str", "") if "reason" in item else "",
                                      origin=origin, needs=needs))
    elif table == "transaction":
        pack.transactions.append(Transaction(
            add=matchers("add"), run=matchers("run"),
            transaction_arg=get("transaction_arg", "int", 0), driver_arg=get("driver_arg", "int", 1),
            origin=origin, needs=needs))
    elif table == "across-deferral":
        pack.across_deferral.append(AcrossDeferral(
            section=need("section", "str"), requires=need("requires", "str"), origin=origin,
            needs=needs, reason=str(item.get("reason", "")),
            unless=tuple(get("unless", "strs", []))))


SUCCESS = {"zero": False, "nonzero": True}


def _try_acquire(item: dict, where: str) -> tuple:
    """[[lock]] try-acquire: trylock functions (matchers), each locking only when its result
    is `success` ("zero": QEMU's qemu_mutex_trylock(), pthread_mutex_trylock(); "nonzero"),
    given for the lock or per function as `{ function = "...", success = "..." }`."""
    entries = item.get("try-acquire", [])
    if isinstance(entries, (str, dict)):
        entries = [entries]
    default = item.get("success")
    if default is not None and default not in SUCCESS:
        raise QlintError(f"{where}: [[lock]] 'success' must be \"zero\" or \"nonzero\"")
    if not isinstance(entries, list):
        raise QlintError(f"{where}: [[lock]] 'try-acquire' must be a list of function matchers")
    if default is not None and not entries:
        raise QlintError(f"{where}: [[lock]] 'success' is for the functions of 'try-acquire'")
    out = []
    for entry in entries:
        spec, success = (entry.get("function"), entry.get("success", default)) \
            if isinstance(entry, dict) else (entry, default)
        if isinstance(entry, dict) and set(entry) - {"function", "success"}:
            key = sorted(set(entry) - {"function", "success"})[0]
            raise QlintError(f"{where}: [[lock]] 'try-acquire' entry: unknown key '{key}'")
        if success not in SUCCESS:
            raise QlintError(f"{where}: [[lock]] 'try-acquire' {spec!r} needs 'success' "
                             f"(\"zero\" or \"nonzero\": the result where it locked)")
        try:
            out.append((parse_matcher(spec), SUCCESS[success]))
        except ValueError as e:
            raise QlintError(f"{where}: [[lock]] 'try-acquire': {e}") from None
    return tuple(out)


def check_references(pack: RulePack) -> None:
    """Every lock, section and entry kind an entry names must be declared somewhere."""
    names = {s.name for s in pack.sections}
    kinds = {e.kind for e in pack.entries if e.kind}
    for r in pack.requirements:
        if r.lock not in names:
            raise QlintError(f"{r.origin}: [[{r.kind}]] names unknown lock '{r.lock}'")
    for i in pack.inside:
        if i.section not in names:
            raise QlintError(f"{i.origin}: [[inside]] names unknown section '{i.section}'")
    for a in pack.across_deferral:
        for name in (a.section, a.requires):
            if name not in names:
                raise QlintError(f"{a.origin}: [[across-deferral]] names unknown section '{name}'")
    for e in pack.entries:
        for lock in e.holds:
            if lock not in names:
                raise QlintError(f"{e.origin}: [[entry]] holds unknown lock '{lock}'")
    for p in pack.protects:
        if p.lock not in names:
            raise QlintError(f"{p.origin}: [[protects]] names unknown lock '{p.lock}'")
    for a in pack.assume:
        for lock in a.holds:
            if lock not in names:
                raise QlintError(f"{a.origin}: [[assume]] holds unknown lock '{lock}'")
    for c in pack.contracts:
        for key in ("holds", "accepts"):
            for lock in getattr(c, key):
                if lock not in names:
                    raise QlintError(f"{c.origin}: [[contract]] {key} unknown lock '{lock}'")
    for c in pack.callbacks:
        for lock in c.holds:
            if lock not in names:
                raise QlintError(f"{c.origin}: [[callback]] holds unknown lock '{lock}'")
        if c.invoke and not c.entry:
            continue
        if c.entry not in kinds:
            raise QlintError(f"{c.origin}: [[callback]] names unknown entry kind '{c.entry}' "
                             f"(declare it with [[entry]] kind = \"{c.entry}\")")


def _strings(value, path, text, table, key) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QlintError(f"{path}:{line_of(text, key)}: [{table}] '{key}' must be a list of strings")
    return value


def _table_lines(text: str, table: str) -> list[int]:
    pattern = re.compile(r"^\s*\[\[\s*(?:tool\.qlint\.)?" + re.escape(table) + r"\s*\]\]", re.M)
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]


def line_of(text: str, key: str) -> int:
    """The line where `key` first appears as a key or table name (1 if not found)."""
    pattern = re.compile(r"^\s*(?:\[\[?\s*(?:tool\.qlint\.)?" + re.escape(key) + r"\s*\]\]?|"
                         + re.escape(key) + r"\s*=)", re.M)
    m = pattern.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else 1

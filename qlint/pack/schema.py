"""The pack format, defined once: every table a rule pack (or a user's configuration) may hold,
its keys with their types and defaults, what they refer to, and the entry each table makes.
Loading and validation (qlint/pack/load.py), activity (RulePack.active) and the table reference
in docs/configuration.md are derived from TABLES. A new key is one Key line here (and the
field of that name in the entry's class, qlint/pack/model.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .matcher import assumption_key, parse_matcher
from .model import (AcrossDeferral, Asserted, Assume, Boundary, Callback, Contract, Deferral,
                    Entry, Evidence, Inside, Item, NoReturn, Observed, Phrase, Protects,
                    Released, Requirement, Section, Transaction, Written, needs_met, unmet_needs)


class SchemaError(ValueError):
    """A defect of one entry, said after '[[table]] ' (load.py adds the file and line)."""


@dataclass(frozen=True)
class Type:
    name: str                       # in the table reference
    ok: object                      # value -> bool
    wrong: str                      # what the error says the value must be
    convert: object = None          # valid value -> the entry's field


def _text(v) -> bool:
    return isinstance(v, str) and bool(v)


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _strings(v) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v)


def _matchers(values) -> tuple:
    return tuple(parse_matcher(s) for s in values)


SUCCESS = {"zero": False, "nonzero": True}


def _trylocks(values) -> tuple:
    """(matcher, success or None) of each `"f"` or `{ function = "f", success = "..." }`."""
    out = []
    for value in values:
        if isinstance(value, str):
            out.append((parse_matcher(value), None))
            continue
        unknown = sorted(set(value) - {"function", "success"})
        if unknown:
            raise ValueError(f"entry with unknown key '{unknown[0]}'")
        if not isinstance(value.get("function"), str):
            raise ValueError("entry without a 'function' string")
        success = value.get("success")
        if success is not None and success not in SUCCESS:
            raise ValueError(f"{value['function']!r}: 'success' must be \"zero\" or \"nonzero\"")
        out.append((parse_matcher(value["function"]), SUCCESS.get(success)))
    return tuple(out)


def _patterns(values) -> tuple:
    for v in values:
        try:
            re.compile(v.replace("{lock}", "x"))
        except re.error as e:
            raise ValueError(f"not a regular expression: {v!r} ({e})") from None
    return tuple(values)


EVIDENCE_KEYS = {"kind": str, "at": str, "text": str, "held": int, "total": int,
                 "confidence": (int, float), "deviants": list}


def _condition(value: str) -> str:
    """A branch condition as written, checked as [[assume]] reads it (matcher.assumption_key)."""
    assumption_key(value)
    return value


def _is_evidence(v) -> bool:
    return isinstance(v, list) and all(
        isinstance(e, dict) and isinstance(e.get("kind"), str) and isinstance(e.get("at"), str)
        and all(k in EVIDENCE_KEYS and isinstance(x, EVIDENCE_KEYS[k]) and not isinstance(x, bool)
                for k, x in e.items()) for e in v)


def _evidence(values) -> tuple:
    out = []
    for e in values:
        file, _, line = e["at"].rpartition(":")
        if not file or not line.isdigit():
            raise ValueError(f"'at' must be FILE:LINE, not {e['at']!r}")
        deviants = e.get("deviants", [])
        if not all(isinstance(d, str) for d in deviants):
            raise ValueError("'deviants' must be a list of FILE:LINE strings")
        out.append(Evidence(e["kind"], file, int(line), e.get("text", ""), e.get("held", 0),
                            e.get("total", 0), float(e.get("confidence", 1.0)), tuple(deviants)))
    return tuple(out)


TYPES = {
    "string": Type("string", _text, "must be a non-empty string"),
    "strings": Type("string or list of strings", _strings, "must be a list of strings", tuple),
    "count": Type("non-negative integer", _count, "must be a non-negative integer"),
    "counts": Type("list of non-negative integers",
                   lambda v: isinstance(v, list) and all(_count(n) for n in v),
                   "must be a list of non-negative integers", tuple),
    "flag": Type("boolean", lambda v: isinstance(v, bool), "must be true or false"),
    "matchers": Type("matcher or list of matchers", _strings, "must be a list of strings",
                     _matchers),
    "prose": Type("text", lambda v: True, "", str),
    "condition": Type("string", _text, "must be a non-empty string", _condition),
    "trylocks": Type("list of matchers or { function, success } tables",
                     lambda v: isinstance(v, list) and all(isinstance(e, (str, dict)) for e in v),
                     "must be a list of function matchers", _trylocks),
    "success": Type('"zero" or "nonzero"', lambda v: v in SUCCESS, 'must be "zero" or "nonzero"',
                    SUCCESS.get),
    "kind": Type('"requires" or "excludes"', lambda v: v in ("requires", "excludes"),
                 'must be "requires" or "excludes"'),
    "kinds": Type('list of "requires" and "excludes"',
                  lambda v: _strings(v) and all(k in ("requires", "excludes") for k in v),
                  'must be a list of "requires" and "excludes"', tuple),
    "patterns": Type("regular expression or list of them", _strings, "must be a list of strings",
                     _patterns),
    "evidence": Type("list of tables (kind, at = FILE:LINE, text, held, total, confidence)",
                     _is_evidence, "must be a list of tables with a 'kind' and an 'at' "
                     "(FILE:LINE) and only the keys " + ", ".join(EVIDENCE_KEYS), _evidence),
}

REQUIRED = object()


@dataclass(frozen=True)
class Key:
    name: str
    type: str                       # a name in TYPES
    doc: str
    default: object = REQUIRED      # REQUIRED: the key must be given ...
    unless: tuple[str, ...] = ()    # ... unless one of these keys is given and true ("", ())
    refers: str = ""                # "lock" | "section" | "entry kind": names one declared
    verb: str = "names"             # how a reference error says it: "holds unknown lock 'X'"
    only_with: str = ""             # may be given only where this key is true, because ...
    because: str = ""
    at_least_one: str = ""          # the list must not be empty: "name at least one field"
    field: str = ""                 # the entry's field, when not named like the key

    @property
    def attribute(self) -> str:
        return self.field or self.name

    def read(self, item: dict):
        """The value of this key in one TOML table, checked and converted (SchemaError)."""
        given = self.name in item
        if not given:
            if self.default is not REQUIRED:
                return self.default
            if not any(item.get(k) for k in self.unless):
                raise SchemaError(f"missing key '{self.name}'")
            return "" if self.type == "string" else ()
        value = item[self.name]
        kind = TYPES[self.type]
        if isinstance(value, str) and kind.ok is _strings:
            value = [value]
        if not kind.ok(value):
            raise SchemaError(f"'{self.name}' {kind.wrong}")
        if self.at_least_one and not value:
            raise SchemaError(f"'{self.name}' must name at least one {self.at_least_one}")
        try:
            return kind.convert(value) if kind.convert else value
        except ValueError as e:
            raise SchemaError(f"'{self.name}': {e}") from None


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    entry: type                     # the class of its entries
    into: str                       # the RulePack list they join
    keys: tuple[Key, ...]
    each: tuple[str, ...] = ()      # one entry per value of these list keys
    fixed: dict = field(default_factory=dict)    # fields every entry of the table has
    one_of: tuple[str, ...] = ()    # exactly one of these keys
    any_of: tuple[str, ...] = ()    # at least one of these keys
    explained_by: str = ""          # the key whose text says why the entry matters

    def entries(self, item: dict, origin) -> list[Item]:
        """The entries one TOML table makes (SchemaError for its first defect)."""
        unknown = sorted(set(item) - {k.name for k in self.keys})
        if unknown:
            raise SchemaError(f"unknown key '{unknown[0]}'")
        if self.any_of and not any(k in item for k in self.any_of):
            raise SchemaError(f"needs {_either(self.any_of)}")
        if self.one_of and sum(k in item for k in self.one_of) != 1:
            raise SchemaError(f"needs {_either(self.one_of)} (one of them)")
        for key in self.keys:
            if key.only_with and key.name in item and not item.get(key.only_with):
                raise SchemaError(f"'{key.name}' needs {key.only_with} = true ({key.because})")
        values = {k.attribute: k.read(item) for k in self.keys}
        common = {k: v for k, v in values.items() if k not in self.each}
        common.update(self.fixed)
        try:
            if not self.each:
                return [self.entry(**common, origin=origin)]
            return [self.entry(**common, **{name: one}, origin=origin)
                    for name in self.each for one in values[name]]
        except ValueError as e:         # what an entry's keys say together (Section)
            raise SchemaError(str(e)) from None


def _either(keys) -> str:
    return " or ".join(f"'{k}'" for k in keys)


NEEDS = Key("needs", "strings", "names the tree must declare (`!name`: must not) for the entry "
            "to be active", default=())


def _lock_keys(begin: str, end: str, switch: str = "") -> tuple[Key, ...]:
    """The keys of a section and of a lock, whose begin and end are named acquire/release."""
    by_attribute = ("acquire_attribute", "release_attribute") if switch else ()
    keys = [Key("name", "string", "the name requirements and entries use"),
            Key(begin, "matchers", "calls that begin it", unless=by_attribute, field="begin"),
            Key(end, "matchers", "calls that end it", unless=by_attribute, field="end")]
    if switch:
        keys += [Key(switch, "matchers", "calls after which the execution context holds it",
                     default=(), field="switch"),
                 Key("acquire_attribute", "strings", "attributes of functions that take it",
                     default=(), field="begin_attrs"),
                 Key("release_attribute", "strings", "attributes of functions that release it",
                     default=(), field="end_attrs"),
                 Key("switch_attribute", "strings", "attributes of functions that assert it: "
                     "the execution context holds it from there on (where nothing holds it, "
                     "QL303 checks the callers in the context the function answers for)",
                     default=(), field="switch_attrs"),
                 Key("none-held", "matchers", "calls that assert no instance of it is held "
                     "(`assert_no_pages_locked()`): none is after them", default=(),
                     field="unheld"),
                 Key("try-acquire", "trylocks", "calls that take it only where their result "
                     "is `success` (per call `{ function = ..., success = ... }`)", default=(),
                     field="try_begin"),
                 Key("success", "success", "the result of a `try-acquire` call where it took "
                     "the lock: `\"zero\"` (qemu_mutex_trylock) or `\"nonzero\"`",
                     default=None)]
    return tuple(keys) + (
        Key("recursive", "flag", "may be begun again while open", default=False),
        Key("arg", "count", "the argument that designates the instance", default=0),
        Key("field", "string", "only instances whose argument is this `Record.field`", default=""),
        NEEDS)


def _requirement(table: str, doc: str) -> Table:
    return Table(
        table, doc, Requirement, "requirements", fixed={"kind": table},
        each=("function", "attribute"), one_of=("function", "attribute"), keys=(
            Key("function", "strings", "functions by name, or `Record.field` for calls through "
                "that field", default=()),
            Key("attribute", "strings", "every function or field declared with one of these "
                "attributes", default=()),
            Key("lock", "string", "a declared lock, section or context", refers="lock"),
            Key("instance", "string", "which one, as an expression of the call's arguments "
                "(`bdrv_get_aio_context(@0)`, `@N` the Nth): said in messages", default=""),
            Key("evidence", "evidence", "what the tree says for it (written by `qlint infer`)",
                default=()),
            NEEDS))


TABLES = (
    Table("lock", "a lock: what takes and releases it", Section, "sections",
          fixed={"kind": "lock"}, keys=_lock_keys("acquire", "release", "switch")),
    Table("context", "a state that is never taken or released, only provided (coroutine "
          "context)", Section, "sections", fixed={"kind": "context"}, keys=(
              Key("name", "string", "the name requirements and entries use"),
              Key("description", "prose", "what it means", default=""),
              NEEDS)),
    Table("section", "a section: what begins and ends it", Section, "sections",
          fixed={"kind": "section"}, keys=_lock_keys("begin", "end")),
    Table("callback", "an API that registers functions as entry points", Callback, "callbacks",
          each=("api",), keys=(
              Key("api", "matchers", "the registering calls"),
              Key("args", "counts", "0-based positions of the function arguments"),
              Key("entry", "string", "the entry kind the functions become (declared by [[entry]])",
                  unless=("invoke",), refers="entry kind"),
              Key("source", "string", "the call that made the objects passed (the functions "
                  "are those it was given)", default=""),
              Key("invoke", "flag", "the functions run at once, in the caller's state",
                  default=False),
              Key("holds", "strings", "declared locks an invoked function holds besides",
                  default=(), refers="lock", verb="holds", only_with="invoke",
                  because="an entry point's locks are its [[entry]] kind's"),
              Key("opaque", "count", "0-based position of the argument the functions receive as "
                  "their first parameter: the fields the registering code stores in it just "
                  "before (`s->detached = true`) hold when they start", default=None),
              NEEDS)),
    Table("entry", "entry points: a kind that callbacks create, or roots by name", Entry,
          "entries", any_of=("kind", "functions"), keys=(
              Key("kind", "string", "an entry kind created by [[callback]]", default=""),
              Key("functions", "strings", "roots by glob", default=()),
              Key("attrs", "strings", "only the roots declared with these attributes",
                  default=()),
              Key("holds", "strings", "declared locks held when it starts", default=(),
                  refers="lock", verb="holds"),
              Key("maybe", "strings", "declared locks it may or may not hold when it starts (it "
                  "depends on where it is registered): their requirements and exclusions are not "
                  "reported on its paths", default=(), refers="lock", verb="may hold"),
              Key("description", "prose", "what it is", default=""))),
    _requirement("requires", "a function that must run with a lock held (a section open, in "
                 "a context)"),
    _requirement("excludes", "a function that must run without a lock held (outside a "
                 "section or context)"),
    Table("deferral", "an API that runs a callback later, in the main loop", Deferral,
          "deferrals", each=("api",), keys=(
              Key("api", "matchers", "the deferring calls"),
              Key("callback_arg", "count", "0-based position of the callback"),
              Key("entry", "string", "the entry kind the callback becomes", default="deferred"),
              NEEDS)),
    Table("inside", "a function that must run inside a section", Inside, "inside",
          each=("function",), keys=(
              Key("function", "strings", "functions by name"),
              Key("section", "string", "a declared section", refers="section"),
              NEEDS)),
    Table("across-deferral", "a section that must be open wherever another is open across a "
          "deferral", AcrossDeferral, "across_deferral", explained_by="reason", keys=(
              Key("section", "string", "a declared section, open across the deferral",
                  refers="section"),
              Key("requires", "string", "a declared section that must span it", refers="section"),
              NEEDS,
              Key("reason", "prose", "why (said when the entry is inactive)", default=""),
              Key("unless", "strings", "branch conditions (`!cond`: false; `*` any text) "
                  "that exempt a path", default=()))),
    Table("assume", "a branch condition under which locks are held", Assume, "assume", keys=(
        Key("condition", "condition", "the condition, as written; `* == X`: a variable or a field "
            "found equal to X"),
        Key("holds", "strings", "declared locks held where it is true", refers="lock",
            verb="holds"),
        NEEDS)),
    Table("boundary", "functions whose callees' requirements are not their callers'", Boundary,
          "boundaries", each=("function",), keys=(
              Key("function", "strings", "functions by glob"),
              Key("reason", "string", "why they are a boundary"),
              NEEDS)),
    Table("contract", "what functions declared with an attribute (or named) may assume at "
          "entry, or answer for themselves", Contract, "contracts",
          each=("attribute", "function"), one_of=("function", "attribute"),
          any_of=("holds", "accepts"), keys=(
              Key("attribute", "strings", "functions declared with these attributes",
                  default=()),
              Key("function", "strings", "functions by glob", default=()),
              Key("holds", "strings", "declared locks they may assume held at entry (their "
                  "callers are checked)", default=(), refers="lock", verb="holds"),
              Key("accepts", "strings", "declared locks their own calls need that they answer for",
                  default=(), refers="lock", verb="accepts"),
              NEEDS)),
    Table("transaction", "an API that collects actions (structs of callbacks) and runs them "
          "later", Transaction, "transactions", keys=(
              Key("add", "matchers", "calls that add an action to a transaction"),
              Key("run", "matchers", "calls that run the actions added to a transaction"),
              Key("transaction_arg", "count", "the argument that is the transaction", default=0),
              Key("driver_arg", "count", "the argument that is the action's struct of "
                  "callbacks (a global)", default=1),
              NEEDS)),
    Table("noreturn", "calls after which a path does not go on", NoReturn, "noreturn",
          explained_by="", keys=(
              Key("function", "matchers", "the calls (matchers: name, arguments)"),
              Key("reason", "prose", "why they do not return", default=""),
              NEEDS)),
    Table("written", "the words that name a lock in a comment, for `qlint infer`", Written,
          "written", one_of=("lock", "field-of"), keys=(
              Key("lock", "string", "a declared lock or context", default="", refers="lock"),
              Key("field-of", "strings", "locks whose instance in a struct field the words name "
                  "through a parameter, with the groups `(?P<param>)` and `(?P<field>)`: the "
                  "contract is that field's lock", default=(), refers="lock", field="field_of"),
              Key("words", "patterns", "regular expressions (case ignored) that name it",
                  at_least_one="pattern"),
              Key("kinds", "kinds", "the contracts a comment may state of it",
                  default=("requires", "excludes")),
              NEEDS)),
    Table("phrase", "a sentence of a comment that states its declaration's contract, for "
          "`qlint infer`", Phrase, "phrases", each=("pattern",), keys=(
              Key("kind", "kind", "what the sentence says of the lock"),
              Key("pattern", "patterns", "regular expressions (case ignored); `{lock}` stands "
                  "for the words of a lock"),
              NEEDS)),
    Table("asserted", "an assertion at the top of a function's body that states its contract, "
          "for `qlint infer`", Asserted, "asserted", each=("condition", "call"),
          one_of=("condition", "call"), keys=(
              Key("condition", "strings", "asserted conditions, as written (`!` negates)",
                  default=()),
              Key("call", "strings", "helpers whose call asserts it", default=()),
              Key("kind", "kind", "what the assertion says of the lock"),
              Key("lock", "string", "a declared lock or context", refers="lock"),
              NEEDS)),
    Table("observed", "locks and sections whose state at call sites `qlint infer` counts",
          Observed, "observed", each=("lock",), keys=(
              Key("lock", "strings", "declared locks or sections", refers="lock"),
              Key("functions", "strings", "the functions it may be inferred for (globs)",
                  default=("*",)),
              NEEDS)),
    Table("released", "locks whose release a function writes before it takes them, taking "
          "them again after, says its caller holds them, for `qlint infer`", Released,
          "released", each=("lock",), keys=(
              Key("lock", "strings", "declared locks", refers="lock"),
              NEEDS)),
    Table("protects", "fields a lock protects (the runtime checker's)", Protects, "protects",
          keys=(
              Key("lock", "string", "a declared lock", refers="lock"),
              Key("fields", "strings", "`Record.field` access paths", at_least_one="field"),
              NEEDS)),
)

BY_NAME = {t.name: t for t in TABLES}


def inactive_reason(item: Item, dead: dict, declared) -> str:
    """Why an entry is inactive in a tree ("" if it is active): its pack is (`dead` maps those
    packs to their unmet needs), or its own needs are unmet; with the text of its table's
    `explained_by` key, which says why the entry matters."""
    origin = item.origin
    if origin is not None and origin.pack in dead:
        why = f"pack {origin.pack} is inactive ({', '.join(dead[origin.pack])})"
    elif not needs_met(item.needs, declared):
        why = ", ".join(unmet_needs(item.needs, declared))
    else:
        return ""
    table = BY_NAME.get(origin.table) if origin is not None else None
    explanation = getattr(item, table.explained_by, "") if table and table.explained_by else ""
    return f"{why} ({explanation})" if explanation else why


def references(item: Item):
    """(key, name) of every lock, section or entry kind the entry names."""
    table = BY_NAME[item.origin.table]
    for key in table.keys:
        if not key.refers:
            continue
        value = getattr(item, key.attribute)
        # A string key is empty only when it need not be given ([[callback]] entry, invoked).
        yield from ((key, name) for name in (value if isinstance(value, tuple) else
                                             (value,) if value else ()))


# ---- the table reference of docs/configuration.md -------------------------------------------

def reference() -> str:
    """Every table and key, in Markdown (docs/configuration.md, "Table reference")."""
    out = []
    for table in TABLES:
        out += [f"#### `[[{table.name}]]`", "", table.doc[0].upper() + table.doc[1:] + "."]
        if table.any_of:
            out[-1] += f" Needs {_keys(table.any_of)}."
        if table.one_of:
            out[-1] += f" Needs {_keys(table.one_of)}, one of them."
        if table.each:
            out[-1] += f" A list in {_keys(table.each)} makes one entry per value."
        out += ["", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        out += [f"| `{k.name}` | {TYPES[k.type].name} | {_default(k)} | {_meaning(k)} |"
                for k in table.keys]
        out.append("")
    return "\n".join(out)


def _keys(names) -> str:
    return " or ".join(f"`{n}`" for n in names)


def _default(key: Key) -> str:
    if key.default is REQUIRED:
        return "required" + (f" unless {_keys(key.unless)}" if key.unless else "")
    if key.default in ("", (), None):
        return "none"
    return f"`{str(key.default).lower() if isinstance(key.default, bool) else key.default}`"


def _meaning(key: Key) -> str:
    text = key.doc
    if key.only_with:
        text += f"; only with `{key.only_with} = true`"
    if key.at_least_one:
        text += f"; at least one {key.at_least_one}"
    return text

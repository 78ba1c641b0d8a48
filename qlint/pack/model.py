"""What a rule pack says, as plain data: one class per kind of entry. qlint/pack/schema.py
says which TOML table makes which entry; its keys are the entries' fields."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from .matcher import Matcher, squash


@dataclass(slots=True)
class Origin:
    file: str
    line: int
    pack: str           # pack name, or "config"
    table: str = ""     # the table that declared the entry ("lock", "excludes" ...)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True, kw_only=True)
class Item:
    """What every entry has: where it was declared and what the tree must declare for it
    to be active."""
    origin: Origin | None = None
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class Section(Item):
    """A begin/end pair. Locks are sections of kind "lock" (acquire/release); a context is
    one that is never begun or ended, only provided."""
    name: str
    kind: str                        # "lock" | "section" | "context"
    begin: tuple[Matcher, ...] = ()
    end: tuple[Matcher, ...] = ()
    recursive: bool = False
    switch: tuple[Matcher, ...] = ()  # calls after which the lock is held by execution context
    begin_attrs: tuple[str, ...] = ()   # ... and the same by the callee's attributes
    end_attrs: tuple[str, ...] = ()
    switch_attrs: tuple[str, ...] = ()
    unheld: tuple[Matcher, ...] = ()  # calls asserting that no instance of it is held
    arg: int = 0                     # the argument that designates the instance
    field: str = ""                  # only instances whose argument is this Record.field
    description: str = ""
    try_begin: tuple = ()            # (trylock matcher, its result where it locked is true:
                                     # "nonzero", or false: "zero"; None: the lock's `success`)
    success: bool | None = None

    def __post_init__(self):
        if self.success is not None and not self.try_begin:
            raise ValueError("'success' is for the functions of 'try-acquire'")
        resolved = []
        for matcher, success in self.try_begin:
            success = self.success if success is None else success
            if success is None:
                raise ValueError(f"'try-acquire' {str(matcher)!r} needs 'success' (\"zero\" or "
                                 f"\"nonzero\": the result where it locked)")
            resolved.append((matcher, success))
        self.try_begin = tuple(resolved)


@dataclass(slots=True)
class Callback(Item):
    """A call of `api` registers the functions in `args` as entry points of kind `entry`. With
    `source`, the arguments are objects that call produced (a Coroutine * made by
    qemu_coroutine_create) and the functions are those it was given. With `invoke`, the
    functions run right away, in the caller's lock state (qemu_coroutine_enter), plus what
    `holds` names (entering a coroutine provides coroutine context). `opaque`: the argument the
    functions receive as their first parameter (a thread's `arg`), whose fields the registering
    path may have set."""
    api: Matcher
    args: tuple[int, ...]
    entry: str = ""
    source: str = ""
    invoke: bool = False
    holds: tuple[str, ...] = ()
    opaque: int | None = None


@dataclass(slots=True)
class Entry(Item):
    kind: str = ""                   # an entry kind created by callbacks ...
    functions: tuple[str, ...] = ()  # ... or roots named by glob
    attrs: tuple[str, ...] = ()      # ... that carry these attributes ("annotate:coroutine_fn")
    holds: tuple[str, ...] = ()
    maybe: tuple[str, ...] = ()      # locks it may or may not hold: nothing is reported of them
    description: str = ""

    def names(self, function: str, attrs=()) -> bool:
        return any(fnmatch.fnmatchcase(function, g) for g in self.functions) and \
            all(a in attrs for a in self.attrs)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the analysed tree says for an inferred entry: a comment above a declaration, an
    assertion at the top of a body, a release of the caller's lock, or the lock state at a
    function's call sites."""
    kind: str                        # "comment" | "assertion" | "release" | "observed"
    file: str
    line: int
    text: str = ""                   # the comment's sentence, the assertion or release as written
    held: int = 0                    # observed: call sites where the lock is held ...
    total: int = 0                   # ... of the call sites whose lock state is known
    confidence: float = 1.0
    deviants: tuple = ()             # observed: "file:line" of the sites that do not hold it

    def words(self) -> str:
        """`comment at block.c:3104 'The caller must hold ...'`, `observed at ... (14 of 15
        call sites hold it)`: how a finding cites it (paths as given)."""
        where = f"{self.kind} at {self.file}:{self.line}"
        if self.kind == "observed":
            return f"{where}: {self.held} of {self.total} call sites hold it " \
                   f"(confidence {self.confidence:.2f})"
        return f"{where} '{self.text}'"


@dataclass(slots=True)
class Requirement(Item):
    """`function` (or calls through "Record.field") requires / excludes `lock`; or, with
    `attribute`, every function or field declared with that attribute does. An inferred entry
    carries its `evidence`; `function` is then a function's key ("name@file" for a static
    function: the contract is that function's, not its namesakes')."""
    lock: str
    kind: str                        # "requires" | "excludes"
    function: str = ""
    attribute: str = ""
    instance: str = ""               # which lock of that kind, from the call's arguments:
                                     # "bdrv_get_aio_context(@0)" (@N: the Nth argument)
    evidence: tuple = ()             # Evidence

    @property
    def confidence(self) -> float:
        return max((e.confidence for e in self.evidence), default=1.0)


@dataclass(slots=True)
class Deferral(Item):
    api: Matcher
    callback_arg: int
    entry: str = "deferred"


@dataclass(slots=True)
class Inside(Item):
    function: str
    section: str


@dataclass(slots=True)
class AcrossDeferral(Item):
    """`section` open across a deferral needs `requires` open for the same span, unless the
    path took one of the `unless` branches ("cond" true, "!cond" false; `*` matches any text)."""
    section: str
    requires: str
    reason: str = ""
    unless: tuple[str, ...] = ()

    def exempt(self, conds) -> bool:
        """Does a path with these (condition, truth) pairs satisfy an `unless`?"""
        for pattern in self.unless:
            truth = not pattern.startswith("!")
            glob = squash(pattern.lstrip("!"))
            if any(v == truth and fnmatch.fnmatchcase(squash(c), glob) for c, v, *_ in conds):
                return True
        return False

    def patterns(self) -> list[str]:
        return [squash(p.lstrip("!")) for p in self.unless]


@dataclass(slots=True)
class Protects(Item):
    """Fields that `lock` protects: two threads must not access them unless both hold it
    (checked by the runtime checker, qlint replay)."""
    lock: str
    fields: tuple[str, ...]


@dataclass(slots=True)
class Assume(Item):
    """Where `condition` is true, `holds` are held (`qemu_in_coroutine()`: coroutine context)."""
    condition: str
    holds: tuple[str, ...]


@dataclass(slots=True)
class Boundary(Item):
    """Calls of functions matching `function` (a glob) are not followed for what they need:
    their callees' requirements and exclusions are not their callers' (error reporting, whose
    output callbacks reach every chardev and channel)."""
    function: str
    reason: str = ""


@dataclass(slots=True)
class Contract(Item):
    """A function declared with `attribute` may assume `holds` at its entry: its callers
    are checked for them instead (coroutine_fn: coroutine context; GRAPH_RDLOCK: the lock).
    What it `accepts` it answers for itself: its calls that need it are not checked, nor
    passed on to its callers (coroutine_mixed_fn tests qemu_in_coroutine() as it sees fit).
    With `function` (globs) instead, the named functions are vouched for the same way."""
    attribute: str = ""
    function: str = ""
    holds: tuple[str, ...] = ()
    accepts: tuple[str, ...] = ()


@dataclass(slots=True)
class Written(Item):
    """Words that name `lock` in a comment (regular expressions, matched without case), and
    which `kinds` of contract a comment may state of it. With `field_of` instead of `lock`,
    the words name a lock in a struct field through a parameter, `(?P<param>)` and
    `(?P<field>)` ("s->lock"): the lock is that field's ("BDRVQcow2State.lock"), taken by
    those of these locks' functions that take it in the program."""
    lock: str = ""
    words: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ("requires", "excludes")
    field_of: tuple[str, ...] = ()

    def __post_init__(self):
        if self.field_of and not all("(?P<param>" in w and "(?P<field>" in w
                                     for w in self.words):
            raise ValueError("'field-of' needs words with the groups (?P<param>...) and "
                             "(?P<field>...)")


@dataclass(slots=True)
class Phrase(Item):
    """A sentence of a comment that states a contract of the declaration below it: `pattern`
    (a regular expression) with `{lock}` where a lock's words go."""
    kind: str                        # "requires" | "excludes"
    pattern: str


@dataclass(slots=True)
class Asserted(Item):
    """An assertion at the top of a body that states the function's contract: a branch
    `condition` whose other side does not return (`assert(bql_locked())`, with `!` for its
    negation), or a `call` of a helper that asserts (`assert_bdrv_graph_readable()`)."""
    lock: str
    kind: str                        # "requires" | "excludes"
    condition: str = ""
    call: str = ""


@dataclass(slots=True)
class Observed(Item):
    """A lock (or section) whose state at call sites tells what functions need: one that
    names a single thing (the BQL, a class of context locks), not a family of unrelated
    instances (every QemuMutex). Only the functions named by `functions` (globs) are
    candidates: the code the lock is about (the block layer's bdrv_*, blk_*)."""
    lock: str
    functions: tuple[str, ...] = ("*",)

    def covers(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, g) for g in self.functions)


@dataclass(slots=True)
class Released(Item):
    """A lock whose written release before the function takes it, taken again after, says
    that the function's caller holds it (QEMU 7.2's AioContext lock, dropped around a poll:
    bdrv_reopen())."""
    lock: str


@dataclass(slots=True)
class PackInfo:
    name: str
    description: str
    file: str
    needs: tuple[str, ...] = ()
    user: bool = False


def needs_met(needs, declared) -> bool:
    """`needs` lists names the tree must declare; "!name" one it must not. A name
    "attr:ATTRIBUTE" is declared when some declaration carries that attribute."""
    return all((n[1:] not in declared) if n.startswith("!") else (n in declared) for n in needs)


def unmet_needs(needs, declared) -> list[str]:
    """The unmet needs, in words: "aio_disable_external is not declared"."""
    def words(n: str) -> str:
        if n.startswith("attr:"):
            return f"no declaration has attribute {n[5:]}"
        return f"{n} is not declared"
    return [(f"{n[1:]} is declared" if n.startswith("!") else words(n))
            for n in needs if not needs_met((n,), declared)]


@dataclass(slots=True)
class Transaction(Item):
    """A call of `add` puts an action (a driver: a struct of callbacks, argument `driver_arg`)
    into a transaction (argument `transaction_arg`); a call of `run` runs the callbacks of the
    actions added to it (commit or abort, then clean). A section open when an action whose
    callbacks end it is added is the transaction's to end from then on."""
    add: tuple[Matcher, ...]
    run: tuple[Matcher, ...]
    transaction_arg: int = 0
    driver_arg: int = 1


@dataclass(slots=True)
class NoReturn(Item):
    """Calls that do not return, though nothing in their declaration says so (glib's assertion
    messages), or not with these arguments (`error_setg(&error_fatal, ...)` exits)."""
    function: tuple[Matcher, ...]
    reason: str = ""

"""The plain-data facts qlint extracts from one translation unit.

Nothing here refers to libclang: the front end fills these records, the cache stores them, and
every later stage (call graph, analyses, rules, replay) reads only them. That keeps the analysis
testable without clang and makes the cache "just the IR".

A function body is a control-flow graph: block 0 is the entry, block 1 the exit. Blocks hold
events in evaluation order; edges carry the branch decision that takes them, so rules can report
the path ("if (ret < 0) taken at line 40") and correlate branches that test the same condition.

Expressions the runtime checker evaluates (branch conditions, the values written to fields and
locals, `return` values, call arguments) are kept as small trees of plain tuples, as libclang
parsed them (macros expanded, constants folded, types resolved through typedefs):

    ("int", T, value)              a constant: a literal, an enum constant, `sizeof`, NULL, or a
                                   constant expression a macro expanded to (folded by libclang)
    ("var", T, name)               a local variable or parameter
    ("global", T, name)            a variable with static storage
    ("func", T, key)               a function designated as a value (a callback)
    ("field", T, base, "Record.field", arrow)   `base->field` (arrow true) or `base.field`
    ("call", T, name, line, col)   the value of the Call event at line:col (named as the event)
    ("stmt", T, value)             a statement expression: the value of its last statement
    ("cast", T, operand)           an explicit or implicit conversion to T
    (op, T, operand)               unary: "-", "+", "~", "!", "&" (address of), "*" (through a
                                   pointer), "++", "--" (prefix), "post++", "post--"
    (op, T, lhs, rhs)              binary: arithmetic, shifts, comparisons, "&&", "||", ",",
                                   "[]" (subscript), "=" and the compound assignments
    ("?:", T, cond, then, else)
    ("?", T, what)                 what the tree does not represent (a string, a float, an
                                   initializer list, _Generic ...): an explicit unknown

T is the C type, resolved through typedefs: "i8".."i64", "u8".."u64" (enums as their integer
type), "b" (_Bool), "f" (floating), "v" (void), "p:Record" / "p" (pointer to a record / to
anything else, arrays included), "s:Record" (a struct or union value), "" (unknown). See
qlint/facts/conditions.py for what the analyses read from conditions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ENTRY = 0
EXIT = 1

Expr = tuple            # an expression tree (above)


@dataclass(slots=True)
class Arg:
    """One argument of a call, as the analyses see it.

    text: normalized spelling ("&s->lock", "iohandler_get_aio_context()"), printed from the AST
          so it is the same whether the call was written directly or inside a macro.
    key:  identity of the object the argument designates: "Record.field" for a field of a
          struct (through &, casts and parentheses), the name of a global, or "" if unknown.
    funcs: keys of functions named in the argument (a callback being registered).
    source: the function whose call produced the argument's value, directly
          (`aio_co_enter(ctx, qemu_coroutine_create(f, x))`) or through a local variable
          (`co = qemu_coroutine_create(f, x); ...; aio_co_enter(ctx, co)`), or "".
    source_funcs: the functions named in that producing call's arguments (f).
    expr: the argument's expression tree.
    """
    text: str
    key: str = ""
    funcs: tuple[str, ...] = ()
    source: str = ""
    source_funcs: tuple[str, ...] = ()
    expr: Expr | None = None


@dataclass(slots=True)
class Call:
    """A call. `callee` is the resolved function key of a direct call, or "".

    name:  the called name: the function for a direct call, the field for a call through a
           struct field, the variable (or the function pointer global it was loaded from) for a
           call through a pointer variable.
    via:   "" for a direct call, "Record.field" for `p->field(...)`, "*name" for a pointer var.
    macro: the outermost macro whose body spelled this call ("qemu_mutex_lock" for the
           statement expression it expands to), or "".
    result: the local variable the call's value is stored into, or "".
    cleanup: True for the implicit call of a cleanup function when a variable declared with
           __attribute__((cleanup)) goes out of scope (lock guards).
    """
    name: str
    line: int
    col: int
    callee: str = ""
    via: str = ""
    args: tuple[Arg, ...] = ()
    macro: str = ""
    result: str = ""
    cleanup: bool = False

    @property
    def through_field(self) -> str:
        """The "Record.field" a call through a struct field goes through, else ""."""
        return self.via if self.via and not self.via.startswith("*") else ""


@dataclass(slots=True)
class Access:
    """A read or write of a record field.

    field: "Record.field" of the immediately enclosing record ("LaioQueue.in_flight").
    path:  the access path from the root variable's type ("LinuxAioState.io_q.in_flight").
    mode:  "r", "w", "inc", "dec" or "addr" (address taken, e.g. `&s->lock`).
    text:  the spelled expression ("s->io_q.in_flight").
    lvalue: its expression tree (a "field" node: the base pointer and the field's type).
    op:    how a write stores: "=", a compound assignment ("+=", "|=" ...), "++" or "--".
    value: the tree of the value a write stores (`=`) or combines (`+=`), else None.
    """
    field: str
    path: str
    mode: str
    line: int
    col: int
    text: str = ""
    lvalue: Expr | None = None
    op: str = ""
    value: Expr | None = None


@dataclass(slots=True)
class Assign:
    """Local variables (by name) written here: invalidates branch conditions that read them.
    `value` is the integer constant stored, if it is one (`var = NULL`, `need_drain = false`):
    later tests of the variable are decided (and a NULL lock guard ends its loop).
    `ref` is the value stored, where it is another's (a value reference: `locked =
    !trylock(m)`), and `accumulates` says the variable keeps what it held (`x |= f(mr)`).
    `op` is how it is written ("=", "+=", "++", "--", "&" when its address is taken), `expr`
    the tree of the value stored or combined and `target` the variable's ("var"/"global" with
    its type)."""
    names: tuple[str, ...]
    line: int
    value: int | None = None
    ref: str = ""
    accumulates: bool = False
    op: str = ""
    expr: Expr | None = None
    target: Expr | None = None

    @property
    def null(self) -> bool:
        return self.value == 0


@dataclass(slots=True)
class Return:
    """A return statement and what it returns, where the analyses can follow it: an integer
    constant (`value`), or a local's or a call's value (`ref`, a value reference); `expr` is
    the returned expression's tree."""
    line: int
    col: int
    value: int | None = None
    ref: str = ""
    expr: Expr | None = None        # the returned expression's tree


Event = Call | Access | Assign | Return


def call_ref(call: Call) -> str:
    """How a value reference names a call's result: "name:line:col" (as value_ref names a
    "call" node of a tree)."""
    return f"{call.name}:{call.line}:{call.col}"


# A value reference (`Edge.ref`, `Assign.ref`, `Return.ref`, made by value_ref from the
# expression's tree) names the value a branch tests, a store stores or a return returns when it
# is a local variable's ("ret") or a call's result (call_ref), seen through parentheses, casts,
# `!`, comparisons and statement expressions; with "!" in front when it is true exactly where that value is zero (`!trylock(m)`,
# `trylock(m) == 0`). A comparison with a non-zero constant decides one side only: "=" in
# front, true only where the value is non-zero (`trylock(m) == -EBUSY`); "!=" in front, false
# only where it is non-zero (`trylock(m) != -EBUSY`).


def value_ref(tree) -> str:
    """The value reference of an expression tree: the local or call whose value it is, seen
    through casts, `!`, comparisons with a constant and a statement expression's last statement
    (QEMU's `qemu_mutex_trylock(m)` is `({ ...; _f(m, __FILE__, __LINE__); })`, glib's
    G_LIKELY(e) `({ ...; _g_boolean_var_; })`; `__builtin_expect(e, 1)` is e in the tree);
    "" when it is neither."""
    positive = True
    while tree is not None:
        op = tree[0]
        if op in ("cast", "stmt"):
            tree = tree[2]
        elif op == "!":
            positive, tree = not positive, tree[2]
        elif op in ("==", "!=") and len(tree) == 4:
            lhs, constant = tree[2], constant_of(tree[3])
            if constant is None:
                lhs, constant = tree[3], constant_of(tree[2])
            if constant is None:
                return ""
            if constant != 0:
                # `trylock(m) == -EBUSY`: where true the value is non-zero; where false,
                # unknown (a value reference that decides one side only).
                inner = value_ref(lhs)
                if not inner or inner.startswith(("!", "=")):
                    return ""
                return ("=" if (op == "==") == positive else "!=") + inner
            positive, tree = positive != (op == "=="), lhs
        else:
            break
    if tree is None:
        return ""
    sign = "" if positive else "!"
    if tree[0] in ("var", "global"):
        return sign + tree[2]
    if tree[0] == "call":
        return sign + f"{tree[2]}:{tree[3]}:{tree[4]}"
    return ""


def uncast(tree):
    """A tree seen through its conversions."""
    while tree[0] == "cast":
        tree = tree[2]
    return tree


def constant_of(tree) -> int | None:
    """The integer a tree is, seen through conversions (NULL is `((void *)0)`), or None."""
    tree = uncast(tree)
    return tree[2] if tree[0] == "int" else None


def ref_target(ref: str) -> tuple[str, bool]:
    """(what a value reference names, whether it is true where that is non-zero)."""
    return ref.lstrip("!"), not ref.startswith("!")


def one_sided(ref: str) -> bool:
    """Whether a value reference decides its value on one side only."""
    return ref.startswith(("=", "!="))


def ref_decides(ref: str, truth: bool) -> tuple[str, bool | None]:
    """(what a value reference names, that value's truth where the reference is `truth`, or
    None where that says nothing)."""
    if ref.startswith("!="):
        return ref[2:], (None if truth else True)
    if ref.startswith("="):
        return ref[1:], (True if truth else None)
    target, positive = ref_target(ref)
    return target, truth == positive


@dataclass(slots=True)
class Edge:
    """A control-flow edge. `cond` is the normalized condition of a branch ("" if none) and
    `value` the decision that takes this edge: "true", "false", "case 3", "default". `case` is
    the folded value of a case label (`case FOO:` with FOO an enum constant or a macro)."""
    target: int
    cond: str = ""
    value: str = ""
    line: int = 0
    names: tuple[str, ...] = ()   # identifiers the condition reads
    ref: str = ""                 # the value the condition tests (a value reference)
    case: int | None = None


@dataclass(slots=True)
class Block:
    events: list = field(default_factory=list)
    succs: list = field(default_factory=list)
    cond: Expr | None = None     # the tree of the condition its edges decide (if, loop, switch)


@dataclass(slots=True)
class Function:
    key: str                 # unique program-wide: name, or name@file for static functions
    name: str
    file: str
    line: int
    col: int
    end_line: int
    static: bool
    attrs: tuple[str, ...] = ()          # "annotate:coroutine_fn", "requires_capability(...)"
    params: tuple[str, ...] = ()         # parameter names, in order
    param_types: tuple[str, ...] = ()
    blocks: list = field(default_factory=list)
    header: bool = False                 # a static inline definition from a header


@dataclass(slots=True)
class FieldStore:
    """A function stored into a struct field: `.bdrv_open = raw_open` or `s->cb = my_cb`."""
    field: str               # "BlockDriver.bdrv_open"
    func: str                # function key
    file: str
    line: int
    where: str = ""          # the enclosing function key, or the global variable's name


@dataclass(slots=True)
class Comment:
    """The comment written directly above a declaration of `subject`: a function (its key) or a
    struct field that holds functions ("Record.field"). QEMU writes contracts there ("Called
    with the AioContext lock held"). `line` is the comment's first line; `text` has the comment
    markers removed, its lines joined by "\n" (the first is the source's `line`)."""
    subject: str
    file: str
    line: int
    text: str


@dataclass(slots=True)
class Diagnostic:
    severity: str            # "error" | "fatal" | "warning"
    file: str
    line: int
    col: int
    message: str


@dataclass(slots=True)
class TUFacts:
    path: str                                    # the main file, absolute
    functions: list = field(default_factory=list)
    field_stores: list = field(default_factory=list)
    decl_attrs: dict = field(default_factory=dict)   # function key -> attrs, from declarations
    field_attrs: dict = field(default_factory=dict)  # "Record.field" called through -> attrs
    declared: tuple[str, ...] = ()               # every function name the TU declares, or
                                                 # those outside its prefix (prefix_declared)
    includes: tuple[str, ...] = ()               # files included (for the cache)
    diagnostics: list = field(default_factory=list)
    degraded: bool = False                       # parsed without a compile command
    problem: str = ""                            # why the TU could not be analysed, if it could not
    comments: list = field(default_factory=list)  # Comments above the declarations it uses
    # The names its precompiled prefix declares, where the cache keeps them once for all the
    # TUs of the prefix (thousands of names each): one tuple shared by those TUs, not stored.
    prefix_declared: tuple[str, ...] = ()

    @property
    def errors(self) -> list:
        return [d for d in self.diagnostics if d.severity in ("error", "fatal")]

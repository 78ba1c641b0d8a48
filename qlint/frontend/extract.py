"""Turn one parsed libclang translation unit into plain-data TUFacts.

Cost matters here more than anywhere: on a QEMU TU a naive cursor walk through the Python
bindings costs more than the parse. So the extractor
  * visits only the TU's top-level cursors, and descends only into definitions of the main file
    (and of the .c/.inc files it includes, plus header inline functions that it calls);
  * descends each definition with one C-driven clang_visitChildren pass that records (kind,
    cursor) per node and rebuilds the tree in Python from the parent hashes;
  * asks libclang for details (locations, spellings, referenced declarations) only for the
    nodes that become events, caching per declaration.
"""
from __future__ import annotations

import ctypes
import os
import re

from ..facts import ctype
from ..facts.ir import (EXIT, Access, Arg, Assign, Block, Call, Comment, Diagnostic, Edge,
                        FieldStore, Function, Return, TUFacts, value_ref)
from .clangenv import raw
from .comments import SourceText, comment_above

# CXCursorKind values used below (stable parts of libclang's C API).
STRUCT_DECL, UNION_DECL, FIELD_DECL, ENUM_CONSTANT_DECL = 2, 3, 6, 7
FUNCTION_DECL, VAR_DECL, PARM_DECL = 8, 9, 10
TYPE_REF, MEMBER_REF, LABEL_REF = 43, 47, 48
UNEXPOSED_EXPR, DECL_REF_EXPR, MEMBER_REF_EXPR, CALL_EXPR = 100, 101, 102, 103
INTEGER_LITERAL, FLOATING_LITERAL, STRING_LITERAL, CHARACTER_LITERAL = 106, 107, 109, 110
PAREN_EXPR, UNARY_OPERATOR, ARRAY_SUBSCRIPT_EXPR, BINARY_OPERATOR = 111, 112, 113, 114
COMPOUND_ASSIGNMENT_OPERATOR, CONDITIONAL_OPERATOR, CSTYLE_CAST_EXPR = 115, 116, 117
COMPOUND_LITERAL_EXPR, INIT_LIST_EXPR, STMT_EXPR, GENERIC_SELECTION_EXPR = 118, 119, 121, 122
UNARY_EXPR = 136
LABEL_STMT, COMPOUND_STMT, CASE_STMT, DEFAULT_STMT, IF_STMT, SWITCH_STMT = 201, 202, 203, 204, 205, 206
WHILE_STMT, DO_STMT, FOR_STMT, GOTO_STMT, INDIRECT_GOTO_STMT = 207, 208, 209, 210, 211
CONTINUE_STMT, BREAK_STMT, RETURN_STMT, ASM_STMT, NULL_STMT, DECL_STMT = 212, 213, 214, 215, 230, 231
UNEXPOSED_ATTR, ANNOTATE_ATTR = 400, 406
FIRST_ATTR, LAST_ATTR = 400, 441
FIRST_EXPR, LAST_EXPR = 100, 199

LINKAGE_INTERNAL = 2
TYPE_POINTER, TYPE_FUNCTIONPROTO, TYPE_FUNCTIONNOPROTO = 101, 111, 110
TYPE_FIRST_BUILTIN, TYPE_LAST_BUILTIN, TYPE_ENUM = 2, 40, 106     # void .. __ibm128
TYPE_RECORD = 105
TYPE_ARRAYS = (112, 114, 115)          # constant, incomplete and variable-length arrays
TYPE_LONG, TYPE_ULONG = 18, 10         # their width is the target's (clang_Type_getSizeOf)
# CXTypeKind of the builtin types -> the trees' type names (ir.py).
_BUILTIN_TYPES = {2: "v", 3: "b", 4: "u8", 5: "u8", 6: "u16", 7: "u32", 8: "u16", 9: "u32",
                  11: "u64", 13: "i8", 14: "i8", 15: "i32", 16: "i16", 17: "i32", 19: "i64",
                  21: "f", 22: "f", 23: "f", 24: "p", 30: "f", 31: "f", 32: "f"}

# CXBinaryOperatorKind / CXUnaryOperatorKind (libclang >= 17).
BO_SPELLING = {3: "*", 4: "/", 5: "%", 6: "+", 7: "-", 8: "<<", 9: ">>", 11: "<", 12: ">",
               13: "<=", 14: ">=", 15: "==", 16: "!=", 17: "&", 18: "^", 19: "|", 20: "&&",
               21: "||", 22: "=", 23: "*=", 24: "/=", 25: "%=", 26: "+=", 27: "-=", 28: "<<=",
               29: ">>=", 30: "&=", 31: "^=", 32: "|=", 33: ","}
BO_COMPARE = {11, 12, 13, 14, 15, 16}
BO_LAND, BO_LOR, BO_ASSIGN, BO_ADD_ASSIGN, BO_SUB_ASSIGN, BO_COMMA = 20, 21, 22, 26, 27, 33
BO_EQ, BO_NE, BO_OR_ASSIGN = 15, 16, 32
UO_POSTINC, UO_POSTDEC, UO_PREINC, UO_PREDEC, UO_ADDROF, UO_DEREF = 1, 2, 3, 4, 5, 6
UO_MINUS, UO_NOT, UO_LNOT, UO_EXTENSION = 8, 9, 10, 13
UO_SPELLING = {5: "&", 6: "*", 7: "+", 8: "-", 9: "~", 10: "!"}

_WRAPPERS = {UNEXPOSED_EXPR, PAREN_EXPR, CSTYLE_CAST_EXPR}
_PRIMARY = {DECL_REF_EXPR, MEMBER_REF_EXPR, CALL_EXPR, INTEGER_LITERAL, STRING_LITERAL,
            CHARACTER_LITERAL, FLOATING_LITERAL, ARRAY_SUBSCRIPT_EXPR}
_CLEANUP_RE = re.compile(r"cleanup\s*\(\s*(\w+)\s*\)")
_IDENT_RE = re.compile(rb"[A-Za-z_]\w*")
# An attribute's argument follows its word directly (`TSA_REQUIRES(graph_lock)`); what follows
# after a space is the declarator (`GRAPH_RDLOCK_PTR (*bdrv_co_preadv)(...)`).
_ATTR_RE = re.compile(rb"([A-Za-z_]\w*)(?:\(([^()\n*][^()\n]*)\))?")
_LITERAL_RE = re.compile(rb'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[\w.+-]+')
_MAX_TEXT = 160
_MODE_OPS = {"w": "=", "inc": "++", "dec": "--", "addr": "&"}
_COMPARISONS = {"<", ">", "<=", ">=", "==", "!="}
# Calls whose value is their first argument's (likely()/unlikely() expand to them).
_TRANSPARENT_CALLS = {"__builtin_expect", "__builtin_expect_with_probability"}
_KIND_WORDS = {INIT_LIST_EXPR: "initializer list", COMPOUND_LITERAL_EXPR: "compound literal",
               STMT_EXPR: "statement expression"}
_WITH_OPERANDS = {CALL_EXPR, UNARY_OPERATOR, BINARY_OPERATOR, COMPOUND_ASSIGNMENT_OPERATOR,
                  ARRAY_SUBSCRIPT_EXPR, CONDITIONAL_OPERATOR}
# An expression tree deeper than this (generated code) is an explicit unknown: trees are
# encoded and decoded recursively.
MAX_EXPR_DEPTH = 200
# Deeper nodes of a definition are left out of its tree: clang_visitChildren recurses on the C
# stack and the extractor on Python's (both given room on the thread parse.py runs it on, for a
# few Python frames per level). Generated else-if chains and switch tables reach thousands.
MAX_TREE_DEPTH = 10_000


class Node:
    """A cursor with its kind and children, rebuilt from one flat visit; an expression's text,
    the names it reads and its tree are rendered once (Extractor._render)."""
    __slots__ = ("kind", "cur", "kids", "_text", "_names", "_expr", "_depth")

    def __init__(self, kind, cur):
        self.kind = kind
        self.cur = cur
        self.kids = []
        self._text = None
        self._names = None
        self._expr = None
        self._depth = 1


def _type(expr) -> str:
    return expr[1] if expr else ""


def _is_constant(expr) -> bool:
    return isinstance(expr, tuple) and expr[0] == "int"


def _bounded(expr, depth: int):
    return expr if depth <= MAX_EXPR_DEPTH else ("?", _type(expr), "too deep")


def _unwrap(n: Node) -> Node:
    """Strip implicit casts, parentheses and explicit casts around an expression. An unexposed
    expression with several children is no wrapper but a builtin call
    (`__atomic_load_n(&p, 0)`, whose last child is not its value)."""
    while n.kind in _WRAPPERS and n.kids and (n.kind != UNEXPOSED_EXPR or len(n.kids) == 1):
        n = n.kids[-1]
    return n


def _function_operand(n: Node, lib) -> Node:
    """`f`, `&f`, `(f)` and casts of them all name the function f."""
    n = _unwrap(n)
    while n.kind == UNARY_OPERATOR and n.kids and \
            lib.clang_getCursorUnaryOperatorKind(n.cur) == UO_ADDROF:
        n = _unwrap(n.kids[0])
    return n


def _contains(n: Node, kind: int) -> bool:
    stack = [n]
    while stack:
        m = stack.pop()
        if m.kind == kind:
            return True
        stack.extend(m.kids)
    return False


def _is_attr(kind: int) -> bool:
    return FIRST_ATTR <= kind <= LAST_ATTR


def _is_expr(kind: int) -> bool:
    return FIRST_EXPR <= kind <= LAST_EXPR


def _anonymous(spelling: str) -> bool:
    """A member or record without a name: libclang spells it with where it was written
    (`union QEMUIOVector::(anonymous at /path/iov.h:202:5)`), which must not reach a report."""
    return "(anonymous" in spelling or "(unnamed" in spelling


def _type_name(spelling: str) -> str:
    """`const struct BlockDriverState *` -> `BlockDriverState`; "?" for an anonymous type
    (whose spelling would carry an absolute path)."""
    if _anonymous(spelling):
        return "?"
    s = spelling.replace("*", " ").replace("const ", " ").replace("volatile ", " ")
    s = s.replace("struct ", " ").replace("union ", " ").replace("enum ", " ")
    return " ".join(s.split())


_DECLARED_ATTRS: dict[tuple[str, int], tuple] = {}   # (file, offset) -> attributes, per process
_COMMENTS: dict[tuple[str, int], tuple | None] = {}  # (file, offset) -> (line, text), per process


class _Location:
    """Output slots for clang_getExpansionLocation, allocated once per extractor."""
    __slots__ = ("file", "line", "col", "offset", "refs")

    def __init__(self):
        self.file, self.line = ctypes.c_void_p(), ctypes.c_uint()
        self.col, self.offset = ctypes.c_uint(), ctypes.c_uint()
        self.refs = tuple(ctypes.byref(x) for x in (self.file, self.line, self.col, self.offset))


class Extractor:
    def __init__(self, tu, main_file: str, prefix_statics: tuple = (), includes=None,
                 contents=None):
        """`contents`: {path: bytes} of files parsed from memory, not from the disk."""
        self.lib = raw()
        # Whether the TU includes .c/.inc files, whose definitions are extracted as its own
        # (unknown: look at every definition outside the main file).
        self.includes_sources = includes is None or any(
            i.endswith((".c", ".inc")) for i in includes)
        self.prefix_statics = {name: where for name, *where in prefix_statics}
        self.tu = tu
        self.tu_ptr = tu.obj if hasattr(tu, "obj") else tu._as_parameter_
        self.main_file = main_file
        self.functions: list[Function] = []
        self.field_stores: list[FieldStore] = []
        self.decl_attrs: dict[str, tuple] = {}
        self.field_attrs: dict[str, tuple] = {}
        self.declared: set[str] = set()
        self._callee_cache: dict[int, tuple] = {}
        self._field_cache: dict[int, tuple] = {}
        self._type_cache: dict[int, str] = {}
        self._type_names: dict[tuple, str] = {}
        self._refs: dict[int, tuple] = {}              # declaration hash -> (name, tree)
        self.calls: dict[int, Call] = {}       # id(CALL_EXPR node) -> its event (BodyBuilder)
        self._file_names: dict[int, str] = {}
        self._macro_cache: dict[tuple, str] = {}
        self._file_bytes: dict[str, bytes] = {}
        self._contents = {os.path.normpath(p): data for p, data in (contents or {}).items()}
        self._queued: set[str] = set()
        self._pending: list = []
        self._function_decls: dict[str, object] = {}   # name -> a declaration (cleanups)
        self._sources: dict[str, SourceText] = {}
        self.comments: dict[tuple, Comment] = {}
        self._commented: set[tuple] = set()            # (subject, cursor hash) looked at
        self._out = _Location()

    # ---- small libclang helpers -------------------------------------------------------

    def spelling(self, cur) -> str:
        return self.lib.string(self.lib.clang_getCursorSpelling(cur))

    def _file_name(self, file_ptr) -> str:
        if not file_ptr:
            return ""
        name = self._file_names.get(file_ptr)
        if name is None:
            name = os.path.normpath(self.lib.string(self.lib.clang_getFileName(file_ptr)))
            self._file_names[file_ptr] = name
        return name

    def expansion(self, cur) -> tuple[str, int, int, int]:
        """(file, line, column, offset) where the cursor's code was written or expanded."""
        out = self._out            # reused: ctypes objects cost more than the call itself
        self.lib.clang_getExpansionLocation(self.lib.clang_getCursorLocation(cur), *out.refs)
        return self._file_name(out.file.value), out.line.value, out.col.value, out.offset.value

    def line_col(self, cur) -> tuple[int, int]:
        out = self._out
        self.lib.clang_getExpansionLocation(self.lib.clang_getCursorLocation(cur), None,
                                            out.refs[1], out.refs[2], None)
        return out.line.value, out.col.value

    def spelling_location(self, cur) -> tuple[str, int]:
        f, off = ctypes.c_void_p(), ctypes.c_uint()
        loc = self.lib.clang_getCursorLocation(cur)
        self.lib.clang_getSpellingLocation(loc, ctypes.byref(f), None, None, ctypes.byref(off))
        return self._file_name(f.value), off.value

    def token_at(self, loc) -> str:
        tok = self.lib.clang_getToken(self.tu_ptr, loc)
        if not tok:
            return ""
        text = self.lib.string(self.lib.clang_getTokenSpelling(self.tu_ptr, tok[0]))
        self.lib.clang_disposeTokens(self.tu_ptr, tok, 1)
        return text

    def macro_of(self, cur, written: str) -> str:
        """The outermost macro whose body wrote this cursor, or "".

        libclang's spelling location of macro-body code is the expansion site (its
        clang_getSpellingLocation is getFileLoc), so the macro is recognized by the token at
        that site: code written there directly starts with `written` (a call's callee), code
        from a macro body starts with the macro's name. Code from a macro argument has a file
        location that differs from the expansion site and belongs to no macro."""
        exp_file, _, _, exp_off = self.expansion(cur)
        file, off = self.spelling_location(cur)
        if (file, off) != (exp_file, exp_off):
            return ""
        key = (exp_file, exp_off)
        name = self._macro_cache.get(key)
        if name is None:
            m = _IDENT_RE.match(self.file_bytes(exp_file)[exp_off:exp_off + 128])
            name = m.group().decode() if m else ""
            self._macro_cache[key] = name
        return name if name and name != written else ""

    def _location(self, file_ptr, offset):
        loc = self.lib.clang_getLocationForOffset(self.tu_ptr, file_ptr, offset)
        return loc

    def referenced(self, cur):
        ref = self.lib.clang_getCursorReferenced(cur)
        return None if self.lib.clang_Cursor_isNull(ref) else ref

    def kind(self, cur) -> int:
        return self.lib.clang_getCursorKind(cur)

    def children(self, cur) -> list:
        out = []

        def visit(c, _parent, _data):
            out.append(c)
            return 1  # CXChildVisit_Continue
        self.lib.clang_visitChildren(cur, self.lib.visitor_type(visit), None)
        return out

    def tree(self, cur) -> Node:
        """The whole subtree of `cur`, from one C-driven recursive visit."""
        lib = self.lib
        hash_ = lib.clang_hashCursor
        kind_ = lib.clang_getCursorKind
        root = Node(kind_(cur), cur)
        stack = [(hash_(cur), root)]

        def visit(c, parent, _data):
            ph = hash_(parent)
            while stack[-1][0] != ph:
                stack.pop()
                if not stack:      # hash mismatch: should not happen; keep the tree usable
                    stack.append((ph, root))
                    break
            node = Node(kind_(c), c)
            stack[-1][1].kids.append(node)
            if len(stack) >= MAX_TREE_DEPTH:
                return 1  # CXChildVisit_Continue: not into this node's children
            stack.append((hash_(c), node))
            return 2  # CXChildVisit_Recurse
        lib.clang_visitChildren(cur, lib.visitor_type(visit), None)
        return root

    def file_bytes(self, path: str) -> bytes:
        data = self._file_bytes.get(path)
        if data is None:
            data = self._contents.get(os.path.normpath(path))
        if data is None:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                data = b""
        self._file_bytes[path] = data
        return data

    # ---- declarations -------------------------------------------------------------------

    def attrs_of(self, decl, written_here: bool = False) -> tuple[str, ...]:
        """Attributes of a declaration, as qlint names them: "annotate:coroutine_fn" for
        annotate attributes, the attribute's spelled name for the others
        ("requires_shared_capability", "noreturn"), plus "macro:NAME" for the macro that wrote
        it ("macro:GRAPH_RDLOCK"). With `written_here`, only those written on this declaration,
        not those it inherits from an earlier one."""
        out = []
        span = self.span(decl) if written_here else None
        for c in self.children(decl):
            kind = self.kind(c)
            if span is not None and _is_attr(kind) and not self.within(c, span):
                continue
            if kind == ANNOTATE_ATTR:
                out.append("annotate:" + self.spelling(c))
            elif _is_attr(kind):
                out.extend(self._attr_names(c))
        return tuple(dict.fromkeys(out))

    def span(self, cur) -> tuple[str, int, int]:
        """(file, first offset, last offset) of a cursor's code, where it was written."""
        extent = self.lib.clang_getCursorExtent(cur)
        out = self._out
        self.lib.clang_getExpansionLocation(self.lib.clang_getRangeStart(extent), *out.refs)
        file, start = self._file_name(out.file.value), out.offset.value
        self.lib.clang_getExpansionLocation(self.lib.clang_getRangeEnd(extent), *out.refs)
        return file, start, out.offset.value

    def within(self, cur, span) -> bool:
        file, _line, _col, offset = self.expansion(cur)
        return file == span[0] and span[1] <= offset <= span[2]

    def _attr_names(self, attr) -> list[str]:
        """The word where an attribute is written: its name (`noreturn`, `__noreturn__`) or
        the macro that expands to it (`GRAPH_RDLOCK`, `G_NORETURN`), and with its argument
        when it has one (`TSA_ACQUIRE_SHARED(graph_lock)`)."""
        file, off = self.spelling_location(attr)
        m = _ATTR_RE.match(self.file_bytes(file)[off:off + 256]) if file else None
        if not m:
            return []
        word = m.group(1).decode().strip("_")
        if m.group(2) is None:
            return [word]
        return [word, word + "(" + "".join(m.group(2).decode("utf-8", "replace").split()) + ")"]

    def pretty(self, cur) -> str:
        return self.lib.string(self.lib.clang_getCursorPrettyPrinted(cur, None))

    def is_noreturn(self, decl, attrs) -> bool:
        if any("noreturn" in a.lower() for a in attrs):
            return True
        spelling = self.lib.string(self.lib.clang_getTypeSpelling(self.lib.clang_getCursorType(decl)))
        return "noreturn" in spelling

    def callee_info(self, decl) -> tuple[str, str, bool, tuple]:
        """(key, name, static, attrs) of a function declaration, cached per declaration."""
        h = self.lib.clang_hashCursor(decl)
        info = self._callee_cache.get(h)
        if info is not None:
            return info
        name = self.spelling(decl)
        static = self.lib.clang_getCursorLinkage(decl) == LINKAGE_INTERNAL
        definition = self.lib.clang_getCursorDefinition(decl)
        has_def = not self.lib.clang_Cursor_isNull(definition)
        where = definition if has_def else decl
        key = name
        if static:
            key = f"{name}@{self.expansion(where)[0]}"
        # Declarations' attributes (what callers see) apart from the definition's own.
        canonical = self.lib.clang_getCanonicalCursor(decl)
        declared = () if has_def and self.lib.clang_equalCursors(canonical, definition) \
            else self.attrs_of(canonical)
        attrs = tuple(dict.fromkeys(
            (self.attrs_of(definition, written_here=True) if has_def else ()) + declared))
        if "noreturn" not in attrs and self.is_noreturn(decl, attrs):
            attrs += ("noreturn",)
            declared += ("noreturn",)
        info = (key, name, static, attrs)
        self._callee_cache[h] = info
        for cur in (decl, canonical) + ((definition,) if has_def else ()):
            self.note_comment(key, cur)
        if declared:
            self.decl_attrs[key] = tuple(dict.fromkeys(self.decl_attrs.get(key, ()) + declared))
        if has_def and static and key not in self._queued:
            self._maybe_queue_header(definition, key)
        return info

    def note_comment(self, subject: str, cur) -> None:
        """Record the comment written directly above the declaration `cur` of `subject` (a
        function key or "Record.field"): where QEMU writes a function's contract."""
        ident = (subject, self.lib.clang_hashCursor(cur))
        if ident in self._commented:
            return
        self._commented.add(ident)
        start = self.lib.clang_getRangeStart(self.lib.clang_getCursorExtent(cur))
        out = self._out
        self.lib.clang_getExpansionLocation(start, *out.refs)
        file, offset = self._file_name(out.file.value), out.offset.value
        if not file:
            return
        found = _COMMENTS.get((file, offset), False)
        if found is False:
            source = self._sources.get(file)
            if source is None:
                source = self._sources[file] = SourceText(self.file_bytes(file))
            found = _COMMENTS[(file, offset)] = comment_above(source, offset)
        if found is not None:
            line, text = found
            self.comments.setdefault((subject, file, line), Comment(subject, file, line, text))

    def _maybe_queue_header(self, definition, key):
        """Static functions defined outside the main file (header inline functions, .c.inc
        files) are extracted when the TU calls or references them."""
        loc = self.lib.clang_getCursorLocation(definition)
        if self.lib.clang_Location_isFromMainFile(loc) or self.lib.clang_Location_isInSystemHeader(loc):
            return
        self._queued.add(key)
        self._pending.append(definition)

    # ---- the TU -------------------------------------------------------------------------

    def scan(self) -> tuple[list, list]:
        """One pass over the TU's top-level declarations: the names (and "attr:X" for the
        attributes) the tree declares, and the function definitions and globals to extract."""
        lib = self.lib
        definitions, globals_, attributed = [], [], []

        def visit(c, _parent, _data):
            kind = lib.clang_getCursorKind(c)
            if kind == FUNCTION_DECL:
                name = lib.string(lib.clang_getCursorSpelling(c))
                self.declared.add(name)
                self._function_decls.setdefault(name, c)
                if lib.clang_Cursor_hasAttrs(c):
                    attributed.append(c)
                if lib.clang_isCursorDefinition(c):
                    loc = lib.clang_getCursorLocation(c)
                    if lib.clang_Location_isFromMainFile(loc) or (
                            self.includes_sources and self._is_included_source(c)):
                        definitions.append(c)
            elif kind == VAR_DECL and lib.clang_Location_isFromMainFile(lib.clang_getCursorLocation(c)):
                globals_.append(c)
            return 1
        lib.clang_visitChildren(self.tu.cursor, lib.visitor_type(visit), None)
        # Attributes the tree declares, for packs that need them ("attr:annotate:coroutine_fn").
        # Header declarations repeat in every TU a worker parses: read each place once.
        for decl in attributed:
            file, _line, _col, offset = self.expansion(decl)
            attrs = _DECLARED_ATTRS.get((file, offset))
            if attrs is None:
                attrs = _DECLARED_ATTRS[(file, offset)] = self.attrs_of(decl)
            self.declared.update("attr:" + a for a in attrs)
        return definitions, globals_

    def function_decl(self, name: str):
        """A declaration of the function `name`: from the TU's own declarations, or, for a
        static function of the precompiled header (not visited), found at its location."""
        decl = self._function_decls.get(name)
        if decl is None and name in self.prefix_statics:
            file, line, col = self.prefix_statics[name]
            lib = self.lib
            handle = lib.clang_getFile(self.tu_ptr, file.encode())
            if handle:
                cur = lib.clang_getCursor(self.tu_ptr, lib.clang_getLocation(self.tu_ptr, handle, line, col))
                if lib.clang_getCursorKind(cur) == FUNCTION_DECL:
                    decl = self._function_decls[name] = cur
        return decl

    def static_definitions(self) -> tuple:
        """(name, file, line, column) of the static functions the TU defines: a precompiled
        header records them, so TUs built on it can find the ones only a cleanup names."""
        out = []
        lib = self.lib
        for name, cur in sorted(self._function_decls.items()):
            definition = lib.clang_getCursorDefinition(cur)
            if lib.clang_Cursor_isNull(definition) or \
                    lib.clang_getCursorLinkage(definition) != LINKAGE_INTERNAL:
                continue
            file, line, col, _off = self.expansion(definition)
            out.append((name, file, line, col))
        return tuple(out)

    def run(self) -> TUFacts:
        definitions, globals_ = self.scan()
        for var in globals_:
            self._global_initializer(var)
        for cur in definitions:
            key = self.callee_info(cur)[0]
            self._queued.add(key)
            self.functions.append(self.function(cur, header=False))
        while self._pending:
            cur = self._pending.pop()
            self.functions.append(self.function(cur, header=True))
        self.functions.sort(key=lambda f: (f.file, f.line, f.key))
        return TUFacts(path=self.main_file, functions=self.functions,
                       field_stores=self.field_stores, decl_attrs=self.decl_attrs,
                       field_attrs=self.field_attrs,
                       declared=tuple(sorted(self.declared)),
                       comments=[self.comments[k] for k in sorted(self.comments)])

    def _is_included_source(self, cur) -> bool:
        name = self.expansion(cur)[0]
        return name.endswith((".c", ".inc"))

    def _global_initializer(self, var):
        init = self.lib.clang_Cursor_getVarDeclInitializer(var)
        if self.lib.clang_Cursor_isNull(init) or self._holds_numbers_only(var):
            return
        where = self.spelling(var)
        self._field_stores_in(self.tree(init), where)

    def _holds_numbers_only(self, var) -> bool:
        """A number or an array of numbers (a generated table of megabytes) can hold no
        function: its initializer is not walked."""
        ctype = self.lib.clang_getCanonicalType(self.lib.clang_getCursorType(var))
        while ctype._kind_id in TYPE_ARRAYS:
            ctype = self.lib.clang_getArrayElementType(ctype)
        return TYPE_FIRST_BUILTIN <= ctype._kind_id <= TYPE_LAST_BUILTIN or \
            ctype._kind_id == TYPE_ENUM

    def _field_stores_in(self, node: Node, where: str):
        """Functions stored into struct fields by an initializer, designated or positional."""
        if node.kind == INIT_LIST_EXPR:
            record = self.record_of_type(self.lib.clang_getCursorType(node.cur))
            fields = None
            for index, kid in enumerate(node.kids):
                value, field = kid, None
                if kid.kind == UNEXPOSED_EXPR and kid.kids and kid.kids[0].kind == MEMBER_REF:
                    field = self.spelling(kid.kids[0].cur)       # designated: .field = value
                    value = kid.kids[-1]
                elif record:
                    if fields is None:
                        fields = self.record_fields(node.cur)
                    field = fields[index] if index < len(fields) else None
                stored = self.stored_functions(value) if record and field else []
                if stored and kid is not value:       # designated: `.field = f`
                    self.note_field_comment(f"{record}.{field}", kid.kids[0])
                for target, func in stored:
                    line, _ = self.line_col(target.cur)
                    self.field_stores.append(FieldStore(
                        field=f"{record}.{field}", func=func,
                        file=self.expansion(target.cur)[0], line=line, where=where))
                if not stored:
                    self._field_stores_in(value, where)
            return
        for kid in node.kids:
            self._field_stores_in(kid, where)

    def record_of_type(self, ctype) -> str:
        decl = self.lib.clang_getTypeDeclaration(self.lib.clang_getCanonicalType(ctype))
        if self.lib.clang_Cursor_isNull(decl) or self.kind(decl) not in (STRUCT_DECL, UNION_DECL):
            return ""
        return self._record_name(decl)

    def record_fields(self, init_list) -> list[str]:
        ctype = self.lib.clang_getCanonicalType(self.lib.clang_getCursorType(init_list))
        decl = self.lib.clang_getTypeDeclaration(ctype)
        return [self.spelling(c) for c in self.children(decl) if self.kind(c) == FIELD_DECL]

    def _record_name(self, decl) -> str:
        name = self.spelling(decl)
        if not name or "(" in name or " " in name:
            name = _type_name(self.lib.string(self.lib.clang_getTypeSpelling(
                self.lib.clang_getCursorType(decl))))
            if "(" in name or " " in name:
                return ""
        return name

    def stored_functions(self, value: Node) -> list[tuple[Node, str]]:
        """(reference, function key) of each function a stored value may be: `f`, `&f`, casts,
        and both sides of `c ? f : g` and of `f ?: g`."""
        n = _function_operand(value, self.lib)
        if n.kind == DECL_REF_EXPR:
            func = self.function_ref(n)
            return [(n, func)] if func else []
        if n.kind == CONDITIONAL_OPERATOR and len(n.kids) == 3:
            choices = n.kids[1:]
        elif n.kind == UNEXPOSED_EXPR and len(n.kids) > 1:     # GNU `f ?: g`
            choices = n.kids
        else:
            return []
        found = {}
        for kid in choices:
            for target, func in self.stored_functions(kid):
                found.setdefault(func, target)
        return [(target, func) for func, target in found.items()]

    def function_ref(self, node: Node) -> str:
        """Key of the function a DECL_REF_EXPR names, or ""."""
        ref = self.referenced(node.cur)
        if ref is None or self.kind(ref) != FUNCTION_DECL:
            return ""
        return self.callee_info(ref)[0]

    # ---- functions ----------------------------------------------------------------------

    def function(self, cur, header: bool) -> Function:
        key, name, static, _ = self.callee_info(cur)
        file, line, col, _ = self.expansion(cur)
        end = self.lib.clang_getRangeEnd(self.lib.clang_getCursorExtent(cur))
        end_line = ctypes.c_uint()
        self.lib.clang_getExpansionLocation(end, None, ctypes.byref(end_line), None, None)
        root = self.tree(cur)
        params, types, body = [], [], None
        for kid in root.kids:
            if kid.kind == PARM_DECL:
                params.append(self.spelling(kid.cur))
                types.append(self.lib.string(self.lib.clang_getTypeSpelling(
                    self.lib.clang_getCursorType(kid.cur))))
            elif kid.kind == COMPOUND_STMT:
                body = kid
        attrs = self.attrs_of(cur, written_here=True)
        blocks = BodyBuilder(self, key).build(body) if body is not None else [Block(), Block()]
        return Function(key=key, name=name, file=file, line=line, col=col,
                        end_line=end_line.value, static=static, attrs=attrs,
                        params=tuple(params), param_types=tuple(types), blocks=blocks,
                        header=header)

    # ---- expressions: text and tree ------------------------------------------------------

    def text(self, n: Node) -> str:
        """Normalized spelling of an expression, printed from the AST."""
        self._render(n)
        t = n._text
        return t if len(t) <= _MAX_TEXT else t[:_MAX_TEXT] + "…"

    def names(self, n: Node) -> tuple[str, ...]:
        self._render(n)
        return tuple(sorted(set(n._names)))

    def expr_tree(self, n: Node):
        """The expression tree of `n` (ir.py), rendered with its text."""
        self._render(n)
        return n._expr

    def _render(self, n: Node) -> None:
        """Fill n's text, the names it reads and its tree, from the children that make its
        value (each node once)."""
        if n._text is not None:
            return
        k = n.kind
        kids = n.kids
        render = self._render
        names: tuple = ()
        depth = 0
        if k == DECL_REF_EXPR:
            text, expr = self._ref(n)
            names = (text,)
        elif k == MEMBER_REF_EXPR and kids:
            base = kids[0]
            render(base)
            key, ftype, field = self.field_info(n)
            arrow = self.is_pointer(base)
            separator = "->" if arrow else "."
            if _anonymous(field):               # `qiov->size` through an anonymous union
                text = base._text + separator
            else:
                text = base._text + ("" if base._text.endswith(("->", ".")) else separator) \
                    + field
            expr = ("field", ftype, base._expr, key, arrow or ctype.is_pointer(_type(base._expr)))
            names, depth = base._names, base._depth
        elif k in _WRAPPERS or k == GENERIC_SELECTION_EXPR:
            text, expr = self._render_wrapper(n)
            inner = kids[0] if k == GENERIC_SELECTION_EXPR and kids else kids[-1] if kids else None
            if inner is not None and inner._text is not None:
                names, depth = inner._names, inner._depth
        elif k in _WITH_OPERANDS and kids:
            for kid in kids:
                render(kid)
                names += kid._names
                depth = max(depth, kid._depth)
            text, expr = self._render_operator(n)
        elif k in (INTEGER_LITERAL, FLOATING_LITERAL, STRING_LITERAL, CHARACTER_LITERAL):
            text, expr = self._render_literal(n)
        elif k == UNARY_EXPR:
            text = "sizeof(…)"
            value = self.int_value(n)
            expr = ("int", "u64", value) if value is not None else ("?", "u64", "sizeof")
        elif k == STMT_EXPR:
            text = self.macro_call_text(n.cur) or "({…})"
            expr = self._stmt_expr_tree(n)
        elif len(kids) == 1 and _is_expr(k) and _is_expr(kids[0].kind):
            render(kids[0])                               # a wrapper libclang does not name
            text, expr = kids[0]._text, kids[0]._expr
            names, depth = kids[0]._names, kids[0]._depth
        else:
            text = self.spelling(n.cur) or "…"
            value = self.int_value(n) if _is_expr(k) and k not in _KIND_WORDS else None
            expr = ("int", self.type_of(n), value) if value is not None else \
                ("?", "", _KIND_WORDS.get(k, "expression"))
        n._text, n._names, n._depth = text, names, depth + 1
        n._expr = _bounded(expr, n._depth)

    def _render_operator(self, n: Node):
        """Text and tree of a call, an operator, a subscript or a conditional (children done)."""
        k = n.kind
        kids = n.kids
        if k == CALL_EXPR:
            text = kids[0]._text + "(" + ", ".join(a._text for a in kids[1:]) + ")"
            return text, self._call_tree(n)
        if k == UNARY_OPERATOR:
            return self._render_unary(n)
        if k in (BINARY_OPERATOR, COMPOUND_ASSIGNMENT_OPERATOR) and len(kids) == 2:
            op = BO_SPELLING.get(self.lib.clang_getCursorBinaryOperatorKind(n.cur), "?")
            return f"{kids[0]._text} {op} {kids[1]._text}", \
                self._binary_tree(n, op, kids[0]._expr, kids[1]._expr)
        if k == ARRAY_SUBSCRIPT_EXPR and len(kids) == 2:
            return f"{kids[0]._text}[{kids[1]._text}]", \
                ("[]", ctype.pointee(_type(kids[0]._expr)) or self.type_of(n),
                 kids[0]._expr, kids[1]._expr)
        if k == CONDITIONAL_OPERATOR and len(kids) in (2, 3):
            parts = [kid._text for kid in kids]
            text = f"{parts[0]} ? {parts[1]} : {parts[2]}" if len(kids) == 3 else \
                f"{parts[0]} ?: {parts[1]}"
            trees = [kid._expr for kid in kids]
            if len(trees) == 2:
                trees.insert(1, trees[0])
            return text, self._fold(n, ("?:", ctype.common(_type(trees[1]), _type(trees[2]))
                                        or self.type_of(n), *trees))
        return self.spelling(n.cur) or "…", ("?", "", "expression")

    def _render_wrapper(self, n: Node):
        kids = n.kids
        k = n.kind
        if kids and (_is_expr(kids[-1].kind) or k == GENERIC_SELECTION_EXPR):
            self._render(kids[0] if k == GENERIC_SELECTION_EXPR else kids[-1])
        if not kids or not _is_expr(kids[-1].kind):   # offsetof(T, member), builtins
            value = self.int_value(n)
            return self.spelling(n.cur) or "?", \
                ("int", self.type_of(n), value) if value is not None else ("?", "", "expression")
        if k == UNEXPOSED_EXPR and kids[-1].kind == STRING_LITERAL:
            value = self.evaluate(n)       # a string literal evaluates through its decay
            if isinstance(value, str):
                text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
                return text, ("?", "p", "string")
        if k == PAREN_EXPR:
            inner = _unwrap(kids[-1])
            s = kids[-1]._text
            return (s if inner.kind in _PRIMARY else f"({s})"), kids[-1]._expr
        if k == GENERIC_SELECTION_EXPR:
            return kids[0]._text, ("?", "", "_Generic")
        operand = kids[-1]
        if k == UNEXPOSED_EXPR and len(kids) > 1:      # a builtin call (`__atomic_load_n`)
            return operand._text, ("?", self.type_of(n), "builtin")
        if k == CSTYLE_CAST_EXPR:
            return operand._text, self._fold(n, ("cast", self.type_of(n), operand._expr))
        return operand._text, operand._expr      # an implicit conversion: C's rules apply

    def _render_unary(self, n: Node):
        op = self.lib.clang_getCursorUnaryOperatorKind(n.cur)
        inner = n.kids[0]
        operand, t = inner._expr, _type(inner._expr)
        if op in (UO_POSTINC, UO_POSTDEC):
            return inner._text + ("++" if op == UO_POSTINC else "--"), \
                ("post++" if op == UO_POSTINC else "post--", t, operand)
        if op in (UO_PREINC, UO_PREDEC):
            sign = "++" if op == UO_PREINC else "--"
            return sign + inner._text, (sign, t, operand)
        spelled = UO_SPELLING.get(op, "")
        text = spelled + inner._text
        if op == UO_ADDROF:
            return text, ("&", ctype.address_of(t), operand)
        if op == UO_DEREF:
            return text, ("*", ctype.pointee(t) or self.type_of(n), operand)
        if op == UO_LNOT:
            return text, self._fold(n, ("!", ctype.INT, operand))
        if spelled:
            return text, self._fold(n, (spelled, ctype.promote(t), operand))
        return text, operand                      # __extension__, __real__ ...

    def _binary_tree(self, n: Node, op: str, lhs, rhs):
        lt, rt = _type(lhs), _type(rhs)
        if op in _COMPARISONS or op in ("&&", "||"):
            t = ctype.INT
        elif op in ("<<", ">>"):
            t = ctype.promote(lt)
        elif op == ",":
            t = rt
        elif op.endswith("=") and op not in _COMPARISONS:     # assignments
            t = lt
        elif op == "-" and ctype.is_pointer(lt) and ctype.is_pointer(rt):
            t = "i64"                                          # ptrdiff_t
        else:
            t = ctype.common(lt, rt)
        return self._fold(n, (op, t or self.type_of(n), lhs, rhs))

    def _render_literal(self, n: Node):
        if n.kind in (INTEGER_LITERAL, CHARACTER_LITERAL):
            value = self.int_value(n)
            if value is not None:
                t = self.type_of(n)
                text = str(value) if n.kind == INTEGER_LITERAL else self.literal_text(n)
                return text, ("int", t, ctype.wrap(value, t) if ctype.is_integer(t) else value)
        what = "string" if n.kind == STRING_LITERAL else "float"
        return self.literal_text(n), ("?", "p" if what == "string" else "f", what)

    def _ref(self, n: Node):
        """(name, tree) of a DECL_REF_EXPR, cached per declaration."""
        ref = self.referenced(n.cur)
        if ref is None:
            name = self.spelling(n.cur)
            return name, ("var", self.type_of(n), name)
        h = self.lib.clang_hashCursor(ref)
        found = self._refs.get(h)
        if found is None:
            found = self._refs[h] = self._ref_info(n, ref)
        return found

    def _ref_info(self, n: Node, ref):
        name = self.spelling(n.cur)
        kind = self.kind(ref)
        if kind == ENUM_CONSTANT_DECL:
            return name, ("int", self.type_of(n), self.lib.clang_getEnumConstantDeclValue(ref))
        if kind == FUNCTION_DECL:
            return name, ("func", "p", self.callee_info(ref)[0])
        t = self.type_of(n)
        if kind == VAR_DECL and self.lib.clang_Cursor_hasVarDeclGlobalStorage(ref):
            return name, ("global", t, name)
        return name, ("var", t, name)

    def _call_tree(self, n: Node):
        event = self.calls.get(id(n))
        if event is None:
            return "?", self.type_of(n), "call"
        if event.name in _TRANSPARENT_CALLS and len(n.kids) > 1:
            return n.kids[1]._expr                 # __builtin_expect(cond, 1): cond
        return "call", self.type_of(n), event.name, event.line, event.col

    def _stmt_expr_tree(self, n: Node):
        body = n.kids[-1] if n.kids else None
        last = body.kids[-1] if body is not None and body.kind == COMPOUND_STMT and body.kids \
            else None
        if last is None or not _is_expr(last.kind):
            return "?", "", "statement expression"
        self._render(last)
        return "stmt", _type(last._expr), last._expr

    def _fold(self, n: Node, expr):
        """A constant subexpression is folded by libclang (a macro's `(4096 * 2)`)."""
        if all(_is_constant(part) for part in expr[2:]):
            value = self.int_value(n)
            t = expr[1]
            if value is not None and ctype.is_integer(t):
                return "int", t, ctype.wrap(value, t)
        return expr

    def type_of(self, n: Node) -> str:
        """The type of an expression as the trees name it (ir.py), through typedefs."""
        return self.type_of_cursor(n.cur)

    def type_of_cursor(self, cur) -> str:
        lib = self.lib
        canonical = lib.clang_getCanonicalType(lib.clang_getCursorType(cur))
        kind = canonical._kind_id
        found = _BUILTIN_TYPES.get(kind)
        if found is not None:
            return found
        key = (kind, canonical.data[0])
        found = self._type_names.get(key)
        if found is None:
            found = self._type_names[key] = self._describe(canonical)
        return found

    def _describe(self, canonical) -> str:
        lib = self.lib
        kind = canonical._kind_id
        if kind in _BUILTIN_TYPES:
            return _BUILTIN_TYPES[kind]
        if kind in (TYPE_LONG, TYPE_ULONG):
            size = lib.clang_Type_getSizeOf(canonical)
            return ("u" if kind == TYPE_ULONG else "i") + str(8 * size) if size in (4, 8) else ""
        if kind == TYPE_POINTER or kind in TYPE_ARRAYS:
            target = lib.clang_getPointeeType(canonical) if kind == TYPE_POINTER else \
                lib.clang_getArrayElementType(canonical)
            inner = self._describe(lib.clang_getCanonicalType(target))
            r = ctype.record(inner)
            return "p:" + r if inner[:1] == "s" and r else "p"
        decl = lib.clang_getTypeDeclaration(canonical)
        if kind == TYPE_ENUM and not lib.clang_Cursor_isNull(decl):
            return self._describe(lib.clang_getCanonicalType(lib.clang_getEnumDeclIntegerType(decl)))
        if kind == TYPE_RECORD and not lib.clang_Cursor_isNull(decl):
            name = self._record_name(decl)
            return "s:" + name if name else "s"
        return ""

    def macro_call_text(self, cur) -> str:
        """The macro invocation that wrote a statement expression, as written at the expansion
        site with runs of blanks squashed (`qemu_mutex_trylock(&s->lock)`), or "": conditions
        written with different macros or arguments must not read as the same condition."""
        if not self.macro_of(cur, ""):
            return ""
        file, _line, _col, offset = self.expansion(cur)
        source = self.file_bytes(file)[offset:offset + 4 * _MAX_TEXT]
        m = _IDENT_RE.match(source)
        if not m:
            return ""
        end, depth = m.end(), 0
        rest = source[end:].lstrip()
        if not rest.startswith(b"("):
            return m.group().decode()
        start = len(source) - len(rest)
        for index in range(start, len(source)):
            depth += {40: 1, 41: -1}.get(source[index], 0)
            if depth == 0:
                text = source[:index + 1].decode("utf-8", "replace")
                return " ".join(text.split())
        return ""

    def is_pointer(self, n: Node) -> bool:
        return self.lib.clang_getCursorType(n.cur)._kind_id == TYPE_POINTER

    def evaluate(self, n: Node):
        """The value of a literal (an int or a str), also when a macro wrote it (`false`,
        `NULL`, `__FILE__`), or None."""
        result = self.lib.clang_Cursor_Evaluate(n.cur)
        if not result:
            return None
        try:
            kind = self.lib.clang_EvalResult_getKind(result)
            if kind == 1:                                        # CXEval_Int
                return self.lib.clang_EvalResult_getAsLongLong(result)
            if kind == 4:                                        # CXEval_StrLiteral
                raw = self.lib.clang_EvalResult_getAsStr(result)
                return raw.decode("utf-8", "replace") if raw is not None else None
            return None
        finally:
            self.lib.clang_EvalResult_dispose(result)

    def int_value(self, n: Node):
        value = self.evaluate(n)
        return value if isinstance(value, int) else None

    def literal_text(self, n: Node) -> str:
        if n.kind == INTEGER_LITERAL:
            value = self.int_value(n)
            if value is not None:
                return str(value)
        file, offset = self.spelling_location(n.cur)
        data = self.file_bytes(file)[offset:offset + _MAX_TEXT] if file else b""
        m = _LITERAL_RE.match(data)
        return m.group().decode("utf-8", "replace") if m else "?"

    # ---- record fields --------------------------------------------------------------------

    def note_field_attrs(self, key: str, member: Node) -> None:
        """Attributes of a struct field called through (`int coroutine_fn GRAPH_RDLOCK_PTR
        (*bdrv_co_preadv)(...)`), once per field."""
        if key in self.field_attrs:
            return
        ref = self.referenced(member.cur)
        is_field = ref is not None and self.kind(ref) == FIELD_DECL
        self.field_attrs[key] = self.attrs_of(ref) if is_field else ()
        if is_field:
            self.note_comment(key, ref)

    def note_field_comment(self, key: str, member: Node) -> None:
        """The comment above the field a function is stored into (a callback's contract)."""
        ref = self.referenced(member.cur)
        if ref is not None and self.kind(ref) == FIELD_DECL:
            self.note_comment(key, ref)

    def field_key(self, member: Node) -> str:
        """"Record.field" for a MEMBER_REF_EXPR; for an anonymous record, the enclosing
        field's key stands in for the record ("S.io_q.in_flight")."""
        return self.field_key_type(member)[0]

    def field_key_type(self, member: Node) -> tuple[str, str]:
        return self.field_info(member)[:2]

    def field_info(self, member: Node) -> tuple[str, str, str]:
        """(field_key, the field's type as the trees name it (a bit-field of width w is
        "u<w>"/"i<w>"), its name), cached per field declaration."""
        ref = self.referenced(member.cur)
        if ref is None:
            field = self.spelling(member.cur)
            return self._anonymous_key(member, field), "", field
        h = self.lib.clang_hashCursor(ref)
        cached = self._field_cache.get(h)
        if cached is None:
            parent = self.lib.clang_getCursorSemanticParent(ref)
            record = None if self.lib.clang_Cursor_isNull(parent) else self._record_name(parent)
            cached = self._field_cache[h] = (record, self._field_type(ref), self.spelling(ref))
        record, ftype, field = cached
        if _anonymous(field):
            return self._anonymous_member_record(member), ftype, field
        if record in (None, "", "?"):
            return self._anonymous_key(member, field), ftype, field
        return f"{record}.{field}", ftype, field

    def _anonymous_key(self, member: Node, field: str) -> str:
        if member.kids:
            base = _unwrap(member.kids[0])
            if base.kind == MEMBER_REF_EXPR:
                return self.field_key(base) + "." + field
        return "?." + field

    def _field_type(self, decl) -> str:
        t = self.type_of_cursor(decl)
        if self.kind(decl) == FIELD_DECL and ctype.is_integer(t):
            width = self.lib.clang_getFieldDeclBitWidth(decl)
            if width > 0:
                return ("u" if ctype.is_unsigned(t) else "i") + str(width)
        return t

    def _anonymous_member_record(self, member: Node) -> str:
        """What an anonymous member stands for in a field key: its enclosing record, or the
        key of the member it is itself in ("QEMUIOVector" for `qiov->size`'s union)."""
        ref = self.referenced(member.cur)
        parent = self.lib.clang_getCursorSemanticParent(ref) if ref is not None else None
        record = self._record_name(parent) if parent is not None and \
            not self.lib.clang_Cursor_isNull(parent) else ""
        if record and record != "?":
            return record
        base = _unwrap(member.kids[0]) if member.kids else None
        if base is not None and base.kind == MEMBER_REF_EXPR:
            return self.field_key(base)
        return "?"

    def access_path(self, member: Node) -> str:
        """The field chain from the root variable's type: "LinuxAioState.io_q.in_flight"."""
        chain = []
        n = member
        while n.kind == MEMBER_REF_EXPR:
            name = self.spelling(n.cur)
            if not _anonymous(name):
                chain.append(name)
            if not n.kids:
                break
            n = _unwrap(n.kids[0])
        if n.kind == MEMBER_REF_EXPR:
            root = "?"
        else:
            h = self.lib.clang_hashCursor(n.cur)
            root = self._type_cache.get(h)
            if root is None:
                root = _type_name(self.lib.string(self.lib.clang_getTypeSpelling(
                    self.lib.clang_getCursorType(n.cur)))) or "?"
                self._type_cache[h] = root
        return ".".join([root] + chain[::-1])

    def arg_key(self, n: Node) -> str:
        """Identity of the object an argument designates (see Arg.key)."""
        n = _unwrap(n)
        while True:
            if n.kind == UNARY_OPERATOR and n.kids and \
                    self.lib.clang_getCursorUnaryOperatorKind(n.cur) in (UO_ADDROF, UO_DEREF):
                n = _unwrap(n.kids[0])
            elif n.kind == GENERIC_SELECTION_EXPR and n.kids:
                n = _unwrap(n.kids[0])
            else:
                break
        if n.kind == MEMBER_REF_EXPR:
            return self.field_key(n)
        if n.kind == DECL_REF_EXPR:
            ref = self.referenced(n.cur)
            if ref is not None and self.kind(ref) == VAR_DECL and \
                    self.lib.clang_Cursor_hasVarDeclGlobalStorage(ref):
                return self.spelling(n.cur)
        return ""


class _Scope:
    __slots__ = ("cleanups",)

    def __init__(self):
        self.cleanups: list[tuple[str, str, int, int]] = []   # (function key, var, line, col)


class BodyBuilder:
    """Builds the control-flow graph of one function body."""

    def __init__(self, ex: Extractor, func_key: str):
        self.ex = ex
        self.lib = ex.lib
        self.func_key = func_key
        self.blocks: list[Block] = [Block(), Block()]     # entry, exit
        self.scopes: list[_Scope] = []
        self.loops: list[tuple[int, int, int]] = []        # (break target, continue target, depth)
        self.switches: list[dict] = []
        self.labels: dict[str, int] = {}
        self.label_depth: dict[str, int] = {}
        self.indirect_gotos: list[int] = []
        self.fp_source: dict[str, str] = {}               # pointer var -> function it holds
        self.value_source: dict[str, tuple] = {}           # local var -> (producer, funcs)
        self.call_events: dict[int, Call] = {}             # id(CALL_EXPR node) -> its event
        ex.calls = self.call_events                        # call nodes of trees name them
        self.last_call: Call | None = None
        self.last_write = None                  # (node, the Access/Assign its write emitted)

    # ---- blocks and edges ---------------------------------------------------------------

    def new(self) -> int:
        self.blocks.append(Block())
        return len(self.blocks) - 1

    def edge(self, a, b, cond="", value="", line=0, names=(), ref="", case=None):
        if a is not None and b is not None:
            self.blocks[a].succs.append(Edge(b, cond, value, line, names, ref, case))

    def emit(self, b, event):
        if b is not None:
            self.blocks[b].events.append(event)

    def label_block(self, name: str) -> int:
        if name not in self.labels:
            self.labels[name] = self.new()
        return self.labels[name]

    def build(self, body: Node) -> list[Block]:
        start = self.new()
        self.edge(0, start)
        end = self.stmt(body, start)
        if end is not None:
            self.edge(end, EXIT)
        for b in self.indirect_gotos:
            for target in self.labels.values():
                self.edge(b, target, "goto *", "", 0)
        return self.blocks

    # ---- cleanups (lock guards) -----------------------------------------------------------

    def run_cleanups(self, b, down_to: int):
        """Emit the cleanup calls of the scopes being left, innermost first."""
        for scope in reversed(self.scopes[down_to:]):
            for func, var, line, col in reversed(scope.cleanups):
                name = func.split("@")[0]
                self.emit(b, Call(name=name, callee=func, line=line, col=col,
                                  args=(Arg(text="&" + var),), cleanup=True))

    # ---- statements -----------------------------------------------------------------------

    def stmt(self, n: Node, b):
        if b is None:
            b = self.new()          # unreachable code: a block without predecessors
        k = n.kind
        if k == COMPOUND_STMT:
            self.scopes.append(_Scope())
            for kid in n.kids:
                b = self.stmt(kid, b)
            if b is not None:
                self.run_cleanups(b, len(self.scopes) - 1)
            self.scopes.pop()
            return b
        if k == DECL_STMT:
            for kid in n.kids:
                if kid.kind == VAR_DECL:
                    b = self.var_decl(kid, b)
            return b
        if k == IF_STMT:
            return self.if_stmt(n, b)
        if k == WHILE_STMT and len(n.kids) == 2:
            return self.loop(b, None, n.kids[0], None, n.kids[1])
        if k == DO_STMT and len(n.kids) == 2:
            return self.do_loop(n, b)
        if k == FOR_STMT and n.kids:
            init, cond, inc = self.for_parts(n.kids[:-1])
            return self.loop(b, init, cond, inc, n.kids[-1])
        if k == SWITCH_STMT and len(n.kids) >= 2:
            return self.switch(n, b)
        if k in (CASE_STMT, DEFAULT_STMT):
            return self.case(n, b)
        if k == BREAK_STMT and self.loops:
            target, _, depth = self.loops[-1]
            self.run_cleanups(b, depth)
            self.edge(b, target)
            return None
        if k == CONTINUE_STMT:
            for brk, cont, depth in reversed(self.loops):
                if cont is not None:
                    self.run_cleanups(b, depth)
                    self.edge(b, cont)
                    break
            return None
        if k == RETURN_STMT:
            for kid in n.kids:
                b = self.expr(kid, b)
            if b is None:
                return None
            self.run_cleanups(b, 0)
            line, col = self.ex.line_col(n.cur)
            value = next((kid for kid in n.kids if _is_expr(kid.kind)), None)
            tree = self.ex.expr_tree(value) if value is not None else None
            self.emit(b, Return(line, col) if value is None else
                      Return(line, col, self.constant(value), value_ref(tree), tree))
            self.edge(b, EXIT)
            return None
        if k == GOTO_STMT:
            name = next((self.ex.spelling(kid.cur) for kid in n.kids if kid.kind == LABEL_REF), "")
            self.run_cleanups(b, self.label_depth.get(name, 1))
            self.edge(b, self.label_block(name))
            return None
        if k == INDIRECT_GOTO_STMT:
            for kid in n.kids:
                b = self.expr(kid, b)
            self.indirect_gotos.append(b)
            return None
        if k == LABEL_STMT:
            name = self.ex.spelling(n.cur)
            target = self.label_block(name)
            self.label_depth[name] = len(self.scopes)
            self.edge(b, target)
            return self.stmt(n.kids[0], target) if n.kids else target
        if k == NULL_STMT:
            return b
        if k == ASM_STMT:
            for kid in n.kids:
                if kid.kind == LABEL_REF:       # asm goto
                    self.edge(b, self.label_block(self.ex.spelling(kid.cur)), "asm goto")
                elif _is_expr(kid.kind):
                    b = self.expr(kid, b)
            return b
        return self.expr(n, b)

    def var_decl(self, n: Node, b):
        name = self.ex.spelling(n.cur)
        init = None
        cleanup = None
        for kid in n.kids:
            if kid.kind == UNEXPOSED_ATTR:
                cleanup = cleanup or self.cleanup_function(n)
            elif _is_expr(kid.kind):
                init = kid
        if init is not None:
            self.last_call = None
            b = self.expr(init, b)
            call = self.last_call
            if call is not None and _unwrap(init).kind == CALL_EXPR:
                call.result = name
            self.note_value_source(name, init)
            self.note_pointer_source(name, init)
            if b is not None:
                tree = self.ex.expr_tree(init)
                kind = "global" if self.lib.clang_Cursor_hasVarDeclGlobalStorage(n.cur) else "var"
                self.emit(b, Assign((name,), self.ex.line_col(n.cur)[0], self.constant(init),
                                    value_ref(tree), op="=", expr=tree,
                                    target=(kind, self.ex.type_of(n), name)))
        if cleanup and self.scopes:
            line, col = self.ex.line_col(n.cur)
            self.scopes[-1].cleanups.append((cleanup, name, line, col))
        return b

    def cleanup_function(self, var: Node) -> str | None:
        """The function named by the variable's __attribute__((cleanup(f))). Macros hide the
        attribute's spelling (g_autoptr, QEMU_LOCK_GUARD), so it is read from the declaration
        as clang prints it."""
        m = _CLEANUP_RE.search(self.ex.pretty(var.cur)[:400])
        if not m:
            return None
        name = m.group(1)
        decl = self.ex.function_decl(name)
        return self.ex.callee_info(decl)[0] if decl is not None else name

    def note_pointer_source(self, var: str, value: Node):
        """Remember which function (or function-pointer global) a local pointer holds, so a
        call through it is named after that function (`_f = qatomic_read(&qemu_mutex_lock_func)`)."""
        stack = [value]
        found = set()
        while stack:
            m = stack.pop()
            if m.kind == DECL_REF_EXPR:
                ref = self.ex.referenced(m.cur)
                if ref is None:
                    continue
                rk = self.ex.kind(ref)
                if rk == FUNCTION_DECL or (rk == VAR_DECL and
                                           self.lib.clang_Cursor_hasVarDeclGlobalStorage(ref) and
                                           self.lib.clang_getCanonicalType(
                                               self.lib.clang_getCursorType(ref))._kind_id == TYPE_POINTER):
                    found.add(self.ex.spelling(m.cur))
                    if rk == FUNCTION_DECL:
                        self.ex.callee_info(ref)        # its declared attributes (GRAPH_RDLOCK)
            elif m.kind != CALL_EXPR or m is value:
                stack.extend(m.kids)
        if len(found) == 1:
            self.fp_source[var] = found.pop()

    def constant(self, n: Node):
        """The integer a literal expression stands for (`NULL`, `false`, `1`), else None."""
        n = _unwrap(n)
        return self.ex.int_value(n) if n.kind in (INTEGER_LITERAL, CHARACTER_LITERAL) else None

    def const_value(self, n: Node):
        """The truth of a literal condition (`while (1)`, `do ... while (0)`), else None."""
        n = _unwrap(n)
        negate = False
        while n.kind == UNARY_OPERATOR and n.kids and \
                self.lib.clang_getCursorUnaryOperatorKind(n.cur) == UO_LNOT:
            negate = not negate
            n = _unwrap(n.kids[0])
        if n.kind not in (INTEGER_LITERAL, CHARACTER_LITERAL):
            return None
        value = self.ex.int_value(n)
        return None if value is None else (value != 0) != negate

    def test(self, b, cond: Node, on_true, on_false) -> bool:
        """Evaluate `cond` from block b and branch on it; False if evaluation does not return.
        `a && f()` and `a || f()` branch on `a` first, straight to where its value decides:
        a path on which `a` is false never tests `a && f()` as a whole (it would contradict)."""
        n = _unwrap(cond)
        if n.kind == BINARY_OPERATOR and len(n.kids) == 2 and _contains(n.kids[1], CALL_EXPR):
            op = self.lib.clang_getCursorBinaryOperatorKind(n.cur)
            if op in (BO_LAND, BO_LOR):
                rhs = self.new()
                if not self.test(b, n.kids[0], *((rhs, on_false) if op == BO_LAND
                                                 else (on_true, rhs))):
                    return False
                self.test(rhs, n.kids[1], on_true, on_false)
                return True
        b = self.expr(cond, b)
        if b is None:
            return False
        self.branch(b, cond, on_true, on_false)
        return True

    def branch(self, b, cond: Node, on_true, on_false):
        """Edges from b for `cond`; a literal condition keeps only its live edge."""
        value = self.const_value(cond)
        text, names = self.ex.text(cond), self.ex.names(cond)
        line = self.ex.line_col(cond.cur)[0]
        tree = self.ex.expr_tree(cond) if value is None else None
        if tree is not None and b is not None:
            self.blocks[b].cond = tree
        ref = value_ref(tree) if tree is not None else ""
        if value is not False:
            self.edge(b, on_true, text if value is None else "", "true" if value is None else "",
                      line, names, ref)
        if value is not True:
            self.edge(b, on_false, text if value is None else "", "false" if value is None else "",
                      line, names, ref)

    def if_stmt(self, n: Node, b):
        kids = [k for k in n.kids if k.kind != VAR_DECL]
        cond, then = kids[0], kids[1]
        other = kids[2] if len(kids) > 2 else None
        t, join = self.new(), self.new()
        f = self.new() if other is not None else join
        if not self.test(b, cond, t, f):
            return None
        self.edge(self.stmt(then, t), join)
        if other is not None:
            self.edge(self.stmt(other, f), join)
        return join

    def for_parts(self, parts: list[Node]):
        """Which children of a for statement are init, condition and increment.

        libclang omits absent parts, so with one or two parts present the roles are inferred:
        a declaration is the init; a comparison, negation or plain value is the condition; an
        assignment, increment or call is init before a condition and increment after one."""
        if len(parts) >= 3:
            return parts[0], parts[1], parts[2]
        init = cond = inc = None
        rest = list(parts)
        if rest and rest[0].kind == DECL_STMT:
            init = rest.pop(0)
        for p in rest:
            if cond is None and self.looks_like_condition(p):
                cond = p
            elif init is None and cond is None and inc is None and len(rest) == 2:
                init = p
            else:
                inc = p
        return init, cond, inc

    def looks_like_condition(self, n: Node) -> bool:
        n = _unwrap(n)
        if n.kind == BINARY_OPERATOR:
            op = self.lib.clang_getCursorBinaryOperatorKind(n.cur)
            return op in BO_COMPARE or op in (BO_LAND, BO_LOR)
        if n.kind == UNARY_OPERATOR:
            return self.lib.clang_getCursorUnaryOperatorKind(n.cur) == UO_LNOT
        return n.kind in (DECL_REF_EXPR, MEMBER_REF_EXPR, INTEGER_LITERAL)

    def loop(self, b, init, cond, inc, body):
        # A for statement's declarations are scoped to it: their cleanups (lock guards) run
        # where the loop exits.
        self.scopes.append(_Scope())
        try:
            exit_b = self._loop(b, init, cond, inc, body)
            self.run_cleanups(exit_b, len(self.scopes) - 1)
            return exit_b
        finally:
            self.scopes.pop()

    def _loop(self, b, init, cond, inc, body):
        if init is not None:
            b = self.stmt(init, b)
        head = self.new()
        self.edge(b, head)
        exit_b, body_b = self.new(), self.new()
        h = head
        if cond is not None:
            self.test(head, cond, body_b, exit_b)
        else:
            self.edge(h, body_b)
        cont = self.new() if inc is not None else head
        self.loops.append((exit_b, cont, len(self.scopes)))
        end = self.stmt(body, body_b)
        self.loops.pop()
        self.edge(end, cont)
        if inc is not None:
            self.edge(self.expr(inc, cont), head)
        return exit_b

    def do_loop(self, n: Node, b):
        body, cond = n.kids
        body_b, cont, exit_b = self.new(), self.new(), self.new()
        self.edge(b, body_b)
        self.loops.append((exit_b, cont, len(self.scopes)))
        end = self.stmt(body, body_b)
        self.loops.pop()
        self.edge(end, cont)
        self.test(cont, cond, body_b, exit_b)
        return exit_b

    def switch(self, n: Node, b):
        cond, body = n.kids[-2], n.kids[-1]
        b = self.expr(cond, b)
        exit_b = self.new()
        ctx = {"head": b, "text": self.ex.text(cond), "names": self.ex.names(cond),
               "line": self.ex.line_col(cond.cur)[0], "default": False}
        if b is not None:
            self.blocks[b].cond = self.ex.expr_tree(cond)
        self.switches.append(ctx)
        self.loops.append((exit_b, None, len(self.scopes)))
        end = self.stmt(body, self.new())
        self.loops.pop()
        self.switches.pop()
        self.edge(end, exit_b)
        if not ctx["default"]:
            self.edge(b, exit_b, ctx["text"], "default", ctx["line"], ctx["names"])
        return exit_b

    def case(self, n: Node, b):
        target = self.new()
        self.edge(b, target)
        if self.switches:
            ctx = self.switches[-1]
            label = None
            if n.kind == DEFAULT_STMT:
                value = "default"
                ctx["default"] = True
            else:
                value = "case " + self.ex.text(n.kids[0])
                folded = self.ex.expr_tree(n.kids[0])
                label = folded[2] if folded[0] == "int" else None
            self.edge(ctx["head"], target, ctx["text"], value, ctx["line"], ctx["names"],
                      case=label)
        return self.stmt(n.kids[-1], target) if n.kids else target

    # ---- expressions ----------------------------------------------------------------------

    def expr(self, n: Node, b, mode: str = "r"):
        """Append the events of evaluating `n` to block b; returns the block where evaluation
        continues (None if it cannot: a noreturn call)."""
        if b is None:
            return None
        k = n.kind
        kids = n.kids
        if k == CALL_EXPR:
            return self.call(n, b)
        if k == MEMBER_REF_EXPR:
            return self.member(n, b, mode)
        if k == DECL_REF_EXPR:
            if mode != "r":
                event = Assign((self.ex.spelling(n.cur),), self.ex.line_col(n.cur)[0],
                               op=_MODE_OPS.get(mode, ""), target=self.ex.expr_tree(n))
                self.emit(b, event)
                self.last_write = (n, event)
            return b
        if k == BINARY_OPERATOR and len(kids) == 2:
            return self.binary(n, b)
        if k == ARRAY_SUBSCRIPT_EXPR and mode in ("w", "inc", "dec") and len(kids) == 2:
            return self.element_written(n, b, mode)
        if k == COMPOUND_ASSIGNMENT_OPERATOR and len(kids) == 2:
            op = self.lib.clang_getCursorBinaryOperatorKind(n.cur)
            b = self.expr(kids[1], b)
            target = _unwrap(kids[0])
            if op == BO_OR_ASSIGN and target.kind == DECL_REF_EXPR and b is not None:
                # `release_lock |= prepare_mmio_access(mr)`: true if any stored result was
                tree = self.ex.expr_tree(kids[1])
                event = Assign((self.ex.spelling(target.cur),), self.ex.line_col(target.cur)[0],
                               None, value_ref(tree), True, op="|=", expr=tree,
                               target=self.ex.expr_tree(target))
                self.emit(b, event)
                return b
            lhs_mode = "inc" if op == BO_ADD_ASSIGN else "dec" if op == BO_SUB_ASSIGN else "w"
            return self.written(kids[0], b, lhs_mode, BO_SPELLING.get(op, "?"), kids[1])
        if k == UNARY_OPERATOR and kids:
            op = self.lib.clang_getCursorUnaryOperatorKind(n.cur)
            if op in (UO_POSTINC, UO_PREINC):
                return self.written(kids[0], b, "inc", "++", None)
            if op in (UO_POSTDEC, UO_PREDEC):
                return self.written(kids[0], b, "dec", "--", None)
            if op == UO_ADDROF:
                return self.expr(kids[0], b, "addr")
            return self.expr(kids[0], b)
        if k == CONDITIONAL_OPERATOR and len(kids) in (2, 3):
            return self.conditional(n, b)
        if k == STMT_EXPR:
            for kid in kids:
                b = self.stmt(kid, b)
            return b
        if k == GENERIC_SELECTION_EXPR:
            # Only the controlling expression is certain to be evaluated; the associations
            # are alternatives of which clang picked one.
            return self.expr(kids[0], b, mode) if kids else b
        if k in (UNARY_EXPR, TYPE_REF):          # sizeof/alignof: not evaluated
            return b
        if k == INIT_LIST_EXPR:
            self.ex._field_stores_in(n, self.func_key)
        for kid in kids:
            b = self.expr(kid, b, mode if k in _WRAPPERS else "r")
        return b

    def binary(self, n: Node, b):
        lhs, rhs = n.kids
        op = self.lib.clang_getCursorBinaryOperatorKind(n.cur)
        if op == BO_ASSIGN:
            self.last_call = None
            b = self.expr(rhs, b)
            call = self.last_call
            target = _unwrap(lhs)
            value = _function_operand(rhs, self.lib)
            if target.kind == DECL_REF_EXPR:
                name = self.ex.spelling(target.cur)
                if call is not None and value.kind == CALL_EXPR:
                    call.result = name
                self.note_value_source(name, rhs)
                self.note_pointer_source(name, rhs)
                tree = self.ex.expr_tree(rhs)
                self.emit(b, Assign((name,), self.ex.line_col(target.cur)[0], self.constant(rhs),
                                    value_ref(tree), op="=", expr=tree,
                                    target=self.ex.expr_tree(target)))
                return b
            elif target.kind == MEMBER_REF_EXPR:
                for ref, func in self.ex.stored_functions(rhs):
                    self.ex.note_field_comment(self.ex.field_key(target), target)
                    line, _ = self.ex.line_col(ref.cur)
                    self.ex.field_stores.append(FieldStore(
                        field=self.ex.field_key(target), func=func,
                        file=self.ex.expansion(ref.cur)[0], line=line, where=self.func_key))
            return self.written(lhs, b, "w", "=", rhs)
        if op in (BO_LAND, BO_LOR) and _contains(rhs, CALL_EXPR):
            b = self.expr(lhs, b)
            if b is None:
                return None
            rhs_b, join = self.new(), self.new()
            if op == BO_LAND:
                self.branch(b, lhs, rhs_b, join)
            else:
                self.branch(b, lhs, join, rhs_b)
            self.edge(self.expr(rhs, rhs_b), join)
            return join
        b = self.expr(lhs, b)
        return self.expr(rhs, b)

    def written(self, lhs: Node, b, mode: str, op: str, value):
        """Evaluate the target of a write (its events) and give the Access or Assign it
        emits how it is written and the tree of the value written or combined."""
        self.last_write = None
        b = self.expr(lhs, b, mode)
        target = _unwrap(lhs)
        # Only the write of the target itself (`a[i++] = v` also writes i).
        event = self.last_write[1] if self.last_write and self.last_write[0] is target else None
        if event is not None:
            event.op = op
            tree = self.ex.expr_tree(value) if value is not None else None
            if isinstance(event, Access):
                event.value = tree
            else:
                event.expr = tree
        return b

    def element_written(self, n: Node, b, mode: str):
        """`s->a[i] = v` writes the array field a (an element of it: the Access's lvalue is the
        element); `s->p[i] = v` writes through the pointer p, which it only reads."""
        array, index = n.kids
        member = _unwrap(array)
        if member.kind != MEMBER_REF_EXPR or self.ex.is_pointer(member):
            return self.expr(index, self.expr(array, b))
        b = self.expr(member, self.expr(index, b), mode)
        if self.last_write and self.last_write[0] is member:
            event = self.last_write[1]
            event.lvalue = self.ex.expr_tree(n)
            self.last_write = (n, event)
        return b

    def conditional(self, n: Node, b):
        kids = n.kids
        cond = kids[0]
        then = kids[1] if len(kids) == 3 else None
        other = kids[-1]
        if not (_contains(other, CALL_EXPR) or (then is not None and _contains(then, CALL_EXPR))):
            for kid in kids:
                b = self.expr(kid, b)
            return b
        t, f, join = self.new(), self.new(), self.new()
        if not self.test(b, cond, t, f):
            return None
        self.edge(self.expr(then, t) if then is not None else t, join)
        self.edge(self.expr(other, f), join)
        return join

    def member(self, n: Node, b, mode: str):
        kids = n.kids
        if kids:
            base = _unwrap(kids[0])
            # s->a.b is one access of path s->a.b; s->a->b reads s->a first.
            if not (base.kind == MEMBER_REF_EXPR and not self.ex.is_pointer(kids[0])):
                b = self.expr(kids[0], b)
            elif base.kind == MEMBER_REF_EXPR:
                b = self.expr_inner_bases(base, b)
        if b is None or mode == "addr":
            return b
        line, col = self.ex.line_col(n.cur)
        event = Access(field=self.ex.field_key(n), path=self.ex.access_path(n), mode=mode,
                       line=line, col=col, text=self.ex.text(n), lvalue=self.ex.expr_tree(n))
        self.emit(b, event)
        if mode != "r":
            self.last_write = (n, event)
        return b

    def expr_inner_bases(self, member: Node, b):
        """For s->a.b: evaluate what s->a's own base needs (s), without an access of s->a."""
        if not member.kids:
            return b
        base = _unwrap(member.kids[0])
        if base.kind == MEMBER_REF_EXPR and not self.ex.is_pointer(member.kids[0]):
            return self.expr_inner_bases(base, b)
        return self.expr(member.kids[0], b)

    def call(self, n: Node, b):
        kids = n.kids
        args = kids[1:]
        for a in args:
            b = self.expr(a, b)
            if b is None:
                return None
        ex = self.ex
        callee_node = _unwrap(kids[0]) if kids else None
        name, callee, via, noreturn = ex.spelling(n.cur), "", "", False
        if callee_node is not None and callee_node.kind == DECL_REF_EXPR:
            ref = ex.referenced(callee_node.cur)
            if ref is not None and ex.kind(ref) == FUNCTION_DECL:
                callee, name, _static, attrs = ex.callee_info(ref)
                noreturn = "noreturn" in attrs
            else:
                var = ex.spelling(callee_node.cur)
                name, via = self.fp_source.get(var, var), "*" + var
        elif callee_node is not None:
            target = callee_node
            while target.kind == UNARY_OPERATOR and target.kids:
                target = _unwrap(target.kids[0])
            if target.kind == MEMBER_REF_EXPR:
                b = self.expr(target.kids[0], b) if target.kids else b
                via = ex.field_key(target)
                name = ex.spelling(target.cur)
                ex.note_field_attrs(via, target)
            else:
                b = self.expr(callee_node, b)
                via = "*?"
        if b is None:
            return None
        line, col = ex.line_col(n.cur)
        call_args = tuple(self.arg(a) for a in args)
        written = _IDENT_RE.match(ex.text(kids[0]).encode()) if kids else None
        event = Call(name=name, line=line, col=col, callee=callee, via=via, args=call_args,
                     macro=ex.macro_of(n.cur, written.group().decode() if written else ""))
        self.emit(b, event)
        self.last_call = event
        self.call_events[id(n)] = event
        return None if noreturn else b

    def producer(self, n: Node) -> tuple:
        """(producing call's name, functions named in its arguments) for a value that a call
        produced here, directly or through a local variable."""
        n = _unwrap(n)
        if n.kind == CALL_EXPR:
            event = self.call_events.get(id(n))
            if event is not None:
                return event.name, tuple(dict.fromkeys(f for a in event.args for f in a.funcs))
        elif n.kind == DECL_REF_EXPR:
            return self.value_source.get(self.ex.spelling(n.cur), ("", ()))
        return "", ()

    def note_value_source(self, var: str, value: Node) -> None:
        source = self.producer(value)
        if source[0]:
            self.value_source[var] = source
        else:
            self.value_source.pop(var, None)

    def arg(self, a: Node) -> Arg:
        funcs = []
        stack = [a]
        while stack:
            m = stack.pop()
            if m.kind == DECL_REF_EXPR:
                key = self.ex.function_ref(m)
                if key:
                    funcs.append(key)
            elif m.kind != CALL_EXPR:
                stack.extend(reversed(m.kids))
        source, source_funcs = self.producer(a)
        return Arg(text=self.ex.text(a), key=self.ex.arg_key(a), funcs=tuple(dict.fromkeys(funcs)),
                   source=source, source_funcs=source_funcs, expr=self.ex.expr_tree(a))


def diagnostics_of(tu, limit: int = 50) -> list[Diagnostic]:
    """Errors and fatal errors of a parse (warnings are not our business)."""
    out = []
    for d in tu.diagnostics:
        if d.severity < 3:
            continue
        loc = d.location
        out.append(Diagnostic(severity="fatal" if d.severity >= 4 else "error",
                              file=os.path.normpath(loc.file.name) if loc.file else "",
                              line=loc.line, col=loc.column, message=d.spelling))
        if len(out) >= limit:
            break
    return out

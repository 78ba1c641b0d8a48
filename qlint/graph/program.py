"""The analysed program: every TU's facts merged.

Function keys are unique program-wide. A static function is "name@file" (two TUs' statics of
the same name stay apart; a header inline function has one key however many TUs include it).
An external function is "name"; if two TUs both define it (QEMU's stubs/ do), the second
definition gets "name@file" and calls of `name` reach both.
"""
from __future__ import annotations

from collections import defaultdict

from ..facts.ir import Function, TUFacts


class Program:
    def __init__(self, tus: list[TUFacts]):
        self.tus = sorted(tus, key=lambda t: t.path)
        self.functions: dict[str, Function] = {}
        self.definitions: dict[str, list[str]] = defaultdict(list)   # external name -> keys
        self.by_name: dict[str, list[str]] = defaultdict(list)       # any name -> keys
        self.field_funcs: dict[str, list] = defaultdict(list)        # Record.field -> stores
        self.decl_attrs: dict[str, tuple] = {}
        self.field_attrs: dict[str, tuple] = {}
        self.declared: set[str] = set()
        self._prefixes_seen: set[int] = set()
        self._stores_seen: set[tuple] = set()
        self.comments: list = []                                     # facts.ir.Comment
        self._comments_seen: set[tuple] = set()
        self._attrs: dict[str, tuple] = {}
        for tu in self.tus:
            self._add(tu)
        for stores in self.field_funcs.values():
            stores.sort(key=lambda s: (s.func, s.file, s.line))
        # Attributes some declaration carries, for packs that need them ("attr:GRAPH_RDLOCK").
        attrs = {a for fn in self.functions.values() for a in fn.attrs}
        attrs |= {a for v in self.decl_attrs.values() for a in v}
        attrs |= {a for v in self.field_attrs.values() for a in v}
        self.declared |= {"attr:" + a for a in attrs}

    def _add(self, tu: TUFacts) -> None:
        """Merge a TU; its function list keeps the functions the program took from it (a
        header's inline functions repeat in every TU that includes the header)."""
        self.declared.update(tu.declared)
        if tu.prefix_declared and id(tu.prefix_declared) not in self._prefixes_seen:
            self._prefixes_seen.add(id(tu.prefix_declared))     # shared by the prefix's TUs
            self.declared.update(tu.prefix_declared)
        for key, attrs in tu.decl_attrs.items():
            old = self.decl_attrs.get(key, ())
            self.decl_attrs[key] = tuple(dict.fromkeys(old + attrs))
        for key, attrs in tu.field_attrs.items():
            old = self.field_attrs.get(key, ())
            self.field_attrs[key] = tuple(dict.fromkeys(old + attrs))
        kept = []
        for fn in tu.functions:
            if fn.key in self.functions:
                if fn.static or self.functions[fn.key].file == fn.file:
                    continue            # the same header inline function seen again
                fn.key = f"{fn.name}@{fn.file}"
                if fn.key in self.functions:
                    continue
            kept.append(fn)
            self.functions[fn.key] = fn
            self.by_name[fn.name].append(fn.key)
            if not fn.static:
                self.definitions[fn.name].append(fn.key)
            self.declared.add(fn.name)
        tu.functions = kept
        for comment in tu.comments:
            ident = (comment.subject, comment.file, comment.line)
            if ident not in self._comments_seen:     # header declarations repeat across TUs
                self._comments_seen.add(ident)
                self.comments.append(comment)
        for store in tu.field_stores:
            ident = (store.field, store.func, store.file, store.line)
            if ident not in self._stores_seen:     # header functions repeat across TUs
                self._stores_seen.add(ident)
                self.field_funcs[store.field].append(store)

    def targets_of_key(self, key: str) -> list[str]:
        """Definitions a direct call of `key` may reach."""
        if "@" in key:
            return [key] if key in self.functions else []
        return self.definitions.get(key, [])

    def attrs(self, key: str) -> tuple[str, ...]:
        """The attributes of a function's definition and declarations (merged once)."""
        found = self._attrs.get(key)
        if found is None:
            fn = self.functions.get(key)
            own = fn.attrs if fn else ()
            found = self._attrs[key] = tuple(dict.fromkeys(own + self.decl_attrs.get(key, ())))
        return found

    def name_of(self, key: str) -> str:
        fn = self.functions.get(key)
        return fn.name if fn else key.split("@")[0]

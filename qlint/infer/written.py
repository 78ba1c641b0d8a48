"""Written contracts: the sentences of a declaration's comment that state which lock or
context it needs, in the words the packs' [[phrase]] and [[written]] tables give."""
from __future__ import annotations

import re

from ..pack.model import Evidence

# A sentence ends after `.`, `!`, `?` or `;`, at a blank line, and before a kernel-doc item
# (`@param: ...`, `Context: BQL held`, `Returns: ...`), whose line need not end a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n\s*\n"
                           r"|\n(?=[ \t]*(?:@\w+|Context|Returns?|Locking)[ \t]*:)")
_QUOTE_MAX = 160


def sentences(text: str) -> list[tuple[int, str]]:
    """A comment's sentences, each with the index of the line it begins on: its paragraphs
    split after `.`, `!`, `?` and `;` and before kernel-doc items, each sentence on one
    line."""
    out, start = [], 0
    for end in [m for m in _SENTENCE_END.finditer(text)] + [None]:
        stop = end.start() if end else len(text)
        part = text[start:stop]
        sentence = " ".join(part.split())
        if sentence:
            lead = len(part) - len(part.lstrip())
            out.append((text.count("\n", 0, start + lead), sentence))
        start = end.end() if end else stop
    return out


class Reader:
    """The active pack's phrases, one regular expression per phrase and lock (or lock in a
    field: lock "")."""

    def __init__(self, pack, locks):
        self.patterns: list[tuple[str, str, re.Pattern]] = []
        for written in pack.written:
            if written.lock not in locks and not locks.intersection(written.field_of):
                continue
            words = "(?:" + "|".join(f"(?:{w})" for w in written.words) + ")"
            for phrase in pack.phrases:
                if phrase.kind in written.kinds:
                    self.patterns.append((phrase.kind, written.lock, re.compile(
                        phrase.pattern.replace("{lock}", words), re.IGNORECASE)))

    def contracts(self, text: str) -> list[tuple[str, str, int, str]]:
        """(kind, lock, line index, sentence) of each contract the comment states, once
        each; a lock in a field is "param->field" as written."""
        found = {}
        for index, sentence in sentences(text):
            for kind, lock, pattern in self.patterns:
                match = pattern.search(sentence)
                if match is None:
                    continue
                named = lock or f"{match.group('param')}->{match.group('field')}"
                found.setdefault((kind, named), (index, sentence))
        return [(kind, lock, index, sentence) for (kind, lock), (index, sentence) in found.items()]


def written_contracts(program, pack, locks) -> list[tuple]:
    """(subject, kind, lock, Evidence) of every contract a comment states. A comment above a
    struct field that holds functions states the contract of every function stored there. A
    lock in a field is named "Record.field", by the type of the function's parameter that
    the comment names; a parameter of no struct's type states nothing."""
    reader = Reader(pack, locks)
    if not reader.patterns:
        return []
    out = []
    for comment in program.comments:
        for kind, lock, index, sentence in reader.contracts(comment.text):
            if "->" in lock:
                lock = field_of_param(program.functions.get(comment.subject), lock)
                if not lock:
                    continue
            evidence = Evidence("comment", comment.file, comment.line + index, quote(sentence))
            out.append((comment.subject, kind, lock, evidence))
            for store in program.field_funcs.get(comment.subject, ()):
                out.append((store.func, kind, lock, evidence))
    return out


def field_of_param(fn, written: str) -> str:
    """"BDRVNBDState.requests_lock" for "s->requests_lock" where `fn` has the parameter
    `BDRVNBDState *s`; "" where it has no such parameter (a local variable, a field's
    comment) or it points to no named struct."""
    param, _, field = written.partition("->")
    if fn is None or param not in fn.params:
        return ""
    ctype = fn.param_types[fn.params.index(param)]
    if ctype.count("*") != 1:
        return ""
    words = [w for w in ctype.replace("*", " ").split() if w not in _QUALIFIERS]
    return f"{words[-1]}.{field}" if len(words) == 1 or words[:-1] == ["struct"] else ""


_QUALIFIERS = ("const", "volatile", "restrict")


def quote(sentence: str) -> str:
    return sentence if len(sentence) <= _QUOTE_MAX else sentence[:_QUOTE_MAX - 1] + "…"

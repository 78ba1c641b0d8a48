"""The preprocessor's include search, as far as the cache needs it: the directories searched
under a compile job's flags, and the candidates that the search of a TU's directives found
missing.

A TU's facts depend on files that do *not* exist as much as on those it includes: a header
created where a directive looked first (earlier on the include path than the file it found, or
anywhere for a directive that found nothing) changes what the TU consists of. The directives are
read from the text of the files the TU consists of; that is a superset (directives in disabled
`#if` branches count too), and `__has_include` probes count as directives. Each is searched as
the preprocessor does, and every candidate before the first that is a file is recorded as (the
deepest existing directory on its way, the first missing name below it).
"""
from __future__ import annotations

import os
import re
import sysconfig
from dataclasses import dataclass
from functools import lru_cache

from .clangenv import resource_dir

# `#include "x"`, `#include_next <x>`, `#import`, `#include MACRO`, and `__has_include(<x>)`.
_DIRECTIVE = re.compile(
    rb'^[ \t]*#[ \t]*(include_next|include|import)[ \t]*(?:([<"])([^">\n]+)[">]|([A-Za-z_]\w*))'
    rb'|__has_include(_next)?[ \t]*\([ \t]*([<"])([^">\n)]+)[">]', re.M)
_SEARCH_FLAGS = (("-iquote", "quote"), ("-isystem", "system"), ("-idirafter", "after"),
                 ("-I", "angle"))
_FORCED = ("-include", "-imacros")


@lru_cache(maxsize=None)
def system_dirs() -> tuple[str, ...]:
    """clang's built-in directories on Linux: its resource headers, then the system's."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = [os.path.join(resource_dir(), "include"), "/usr/local/include"]
    if multiarch:
        dirs.append(os.path.join("/usr/include", multiarch))
    return tuple(dirs + ["/usr/include"])


@dataclass(frozen=True, eq=False)      # one per distinct command (flags_of), hashed by identity
class Flags:
    """What of a compile command the include search depends on."""
    quote: tuple[str, ...]          # "..." after the including file's directory
    angle: tuple[str, ...]          # <...>: -I, -isystem, the built-in directories, -idirafter
    macros: tuple[tuple[str, bool, str], ...]   # -D NAME="x.h" or <x.h>: (NAME, quoted, x.h)
    forced: tuple[str, ...]         # -include and -imacros files


@lru_cache(maxsize=256)
def flags_of(args: tuple) -> Flags:
    dirs = {"quote": [], "angle": [], "system": [], "after": []}
    macros, forced = [], []
    it = iter(args)
    for arg in it:
        if arg in _FORCED:
            forced.append(next(it, ""))
        elif arg.startswith("-D"):
            name, _, value = (arg[2:] or next(it, "")).partition("=")
            if len(value) > 2 and value[0] + value[-1] in ('""', "<>"):
                macros.append((name, value[0] == '"', value[1:-1]))
        else:
            for flag, kind in _SEARCH_FLAGS:
                if arg == flag or arg.startswith(flag):
                    dirs[kind].append(arg[len(flag):] or next(it, ""))
                    break
    angle = (*dirs["angle"], *dirs["system"], *system_dirs(), *dirs["after"])
    return Flags((*dirs["quote"], *angle), angle, tuple(macros), tuple(forced))


def search_path(args, quoted: bool, own_dir: str) -> list[str]:
    """The directories the preprocessor searches: for "..." the including file's directory
    and -iquote first; then -I, -isystem, the built-in directories and -idirafter."""
    flags = flags_of(tuple(args))
    return [own_dir, *flags.quote] if quoted else list(flags.angle)


def directives(text: bytes) -> tuple:
    """(quoted, name, next) of each include directive and `__has_include` in a file's text;
    for `#include MACRO`, quoted is None and name is the macro."""
    out = []
    for m in _DIRECTIVE.finditer(text):
        if m.group(1):
            after = m.group(1) == b"include_next"
            quoted = None if m.group(4) else m.group(2) == b'"'
            name = m.group(4) or m.group(3)
        else:
            after, quoted, name = bool(m.group(5)), m.group(6) == b'"', m.group(7)
        out.append((quoted, name.decode("utf-8", "surrogateescape").strip(), after))
    return tuple(out)


class IncludeSearch:
    """Where a TU's directives looked and found nothing: {directory: {name, ...}}, where a
    name ending in "/" stands for a missing directory and any other for a missing file.
    `is_file(path)` and `is_dir(path)` are the caller's (memoized) views of the file system;
    each file's directives are searched once per set of flags."""

    def __init__(self, is_file, is_dir):
        self._is_file = is_file
        self._is_dir = is_dir
        self._per_file: dict[tuple, tuple] = {}
        self._per_directive: dict[tuple, tuple] = {}
        self._anchor: dict[str, tuple[str, str]] = {}

    def absent(self, args, directory: str, files, read) -> tuple[dict[str, set[str]], list[str]]:
        """The missing candidates of the directives in `files` (a TU's source and every file
        it includes, or a prefix header's), searched with the flags `args` of a compile in
        `directory`, and the files the searches stopped at. `read(path)` gives a file's bytes."""
        flags = flags_of(tuple(args))
        missing, stops = set(), set()
        for path in files:
            m, s = self._of_file(flags, path, read)
            missing |= m
            stops |= s
        for name in flags.forced:
            m, s = self._search(flags, directory, True, name, False)
            missing |= m
            stops |= s
        out: dict[str, set[str]] = {}
        for parent, name in missing:
            out.setdefault(parent, set()).add(name)
        return out, sorted(stops)

    def _of_file(self, flags: Flags, path: str, read) -> tuple[frozenset, frozenset]:
        key = (flags, path)
        if key not in self._per_file:
            try:
                found = directives(read(path))
            except OSError:
                found = ()
            macros = {name: (quoted, value) for name, quoted, value in flags.macros}
            missing, stops = set(), set()
            for quoted, name, after in found:
                if quoted is None:          # #include MACRO: known only if -D defines it
                    if name not in macros:
                        continue
                    quoted, name = macros[name]
                m, s = self._search(flags, os.path.dirname(path), quoted, name, after)
                missing |= m
                stops |= s
            self._per_file[key] = (frozenset(missing), frozenset(stops))
        return self._per_file[key]

    def _search(self, flags: Flags, own_dir: str, quoted: bool, name: str, after: bool):
        """Candidates missing before the first file, and that file. An #include_next starts
        after the directory its file was found in, which is not known here: all of its
        candidates count (a superset)."""
        key = (flags, own_dir if quoted else None, name, after)
        found = self._per_directive.get(key)
        if found is None:
            dirs = ("",) if os.path.isabs(name) else (own_dir, *flags.quote) if quoted \
                else flags.angle
            missing, stops = set(), set()
            for directory in dirs:
                candidate = os.path.normpath(os.path.join(directory, name))
                if self._is_file(candidate):
                    stops.add(candidate)
                    if not after:
                        break
                else:
                    missing.add(self._anchored(candidate))
            found = self._per_directive[key] = (frozenset(missing), frozenset(stops))
        return found

    def _anchored(self, candidate: str) -> tuple[str, str]:
        """(deepest existing directory above `candidate`, the first missing name below it)."""
        hit = self._anchor.get(candidate)
        if hit is None:
            parent, below = os.path.dirname(candidate), os.path.basename(candidate)
            while parent != os.path.dirname(parent) and not self._is_dir(parent):
                parent, below = os.path.dirname(parent), os.path.basename(parent) + "/"
            hit = self._anchor[candidate] = (parent, below)
        return hit

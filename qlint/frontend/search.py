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

# `#include "x"`, `#include_next <x>`, `#import`, `#include MACRO` (at the start of a line, which
# directives() checks: a pattern that begins with "#" is searched for much faster than one that
# begins at every line), and `__has_include(<x>)`.
_DIRECTIVE = re.compile(
    rb'#[ \t]*(include_next|include|import)[ \t]*(?:([<"])([^">\n]+)[">]|([A-Za-z_]\w*))')
_HAS_INCLUDE = re.compile(rb'__has_include(_next)?[ \t]*\([ \t]*([<"])([^">\n)]+)[">]')
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
    named: dict[str, list[str]]     # the directories of -iquote, -I, -isystem, -idirafter
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
    return Flags(dirs, (*dirs["quote"], *angle), angle, tuple(macros), tuple(forced))


def named_search_path(args, quoted: bool, own_dir: str) -> list[str]:
    """The directories of the search path the command names: for "..." the including
    file's directory and -iquote first, then -I and -isystem (not the built-in directories,
    nor -idirafter)."""
    named = flags_of(tuple(args)).named
    return ([own_dir, *named["quote"]] if quoted else []) + named["angle"] + named["system"]


def directives(text: bytes) -> tuple:
    """(quoted, name, next) of each include directive and `__has_include` in a file's text;
    for `#include MACRO`, quoted is None and name is the macro."""
    out = []
    for m in _DIRECTIVE.finditer(text):
        if text[text.rfind(b"\n", 0, m.start()) + 1:m.start()].strip(b" \t"):
            continue                        # not at the start of a line
        quoted = None if m.group(4) else m.group(2) == b'"'
        out.append((quoted, _name(m.group(4) or m.group(3)), m.group(1) == b"include_next"))
    if b"__has_include" in text:
        out += [(m.group(2) == b'"', _name(m.group(3)), bool(m.group(1)))
                for m in _HAS_INCLUDE.finditer(text)]
    return tuple(out)


def _name(spelled: bytes) -> str:
    return spelled.decode("utf-8", "surrogateescape").strip()


def _join(directory: str, name: str) -> str:
    """os.path.normpath(os.path.join(directory, name)), the common case without normpath."""
    if not directory or directory.endswith("/") or name.startswith(".") or "/." in name \
            or "//" in name:
        return os.path.normpath(os.path.join(directory, name))
    return directory + "/" + name


class _Dirs:
    """A search path as a shared list: the paths of all compile commands end alike (-I of the
    tree, the system's directories), so what was searched in a tail is searched once."""
    __slots__ = ("directory", "rest")

    def __init__(self, directory: str, rest: "_Dirs | None"):
        self.directory, self.rest = directory, rest


_NOTHING = (frozenset(), frozenset())


class IncludeSearch:
    """Where a TU's directives looked and found nothing: {directory: {name, ...}}, where a
    name ending in "/" stands for a missing directory and any other for a missing file.
    `is_file(path)` and `is_dir(path)` are the caller's (memoized) views of the file system.
    Each file's directives are read once, and each name is searched once in each tail of a
    search path."""

    def __init__(self, is_file, is_dir):
        self._is_file = is_file
        self._is_dir = is_dir
        self._lists: dict[tuple, _Dirs] = {}
        self._paths: dict[Flags, tuple[_Dirs, _Dirs]] = {}
        self._directives: dict[str, tuple] = {}
        self._walks: dict[tuple, tuple[frozenset, frozenset]] = {}
        self._anchor: dict[str, tuple[str, str]] = {}
        self._absolute = _Dirs("", None)

    def absent(self, args, directory: str, files, read) -> tuple[dict[str, set[str]], list[str]]:
        """The missing candidates of the directives in `files` (a TU's source and every file
        it includes, or a prefix header's), searched with the flags `args` of a compile in
        `directory`, and the files the searches stopped at. `read(path)` gives a file's bytes."""
        flags = flags_of(tuple(args))
        quote, angle = self._paths_of(flags)
        macros = {name: (quoted, value) for name, quoted, value in flags.macros}
        walks = {}
        for path in files:
            own = None
            for quoted, name, after in self._directives_of(path, read):
                if quoted is None:          # #include MACRO: known only if -D defines it
                    if name not in macros:
                        continue
                    quoted, name = macros[name]
                if name[0] == "/":
                    dirs = self._absolute
                elif quoted:
                    dirs = own = own or self._cons(os.path.dirname(path), quote)
                else:
                    dirs = angle
                walk = self._walk(dirs, name, after)
                walks[id(walk)] = walk
        for name in flags.forced:
            walk = self._walk(self._cons(directory, quote), name, False)
            walks[id(walk)] = walk
        out: dict[str, set[str]] = {}
        for parent, name in frozenset().union(*(w[0] for w in walks.values())):
            out.setdefault(parent, set()).add(name)
        return out, sorted(frozenset().union(*(w[1] for w in walks.values())))

    def _directives_of(self, path: str, read) -> tuple:
        found = self._directives.get(path)
        if found is None:
            try:
                found = directives(read(path))
            except OSError:
                found = ()
            self._directives[path] = found
        return found

    def _paths_of(self, flags: Flags) -> tuple:
        """The search paths of "..." (after the including file's directory) and of <...>."""
        paths = self._paths.get(flags)
        if paths is None:
            paths = self._paths[flags] = (self._list(flags.quote), self._list(flags.angle))
        return paths

    def _list(self, dirs) -> _Dirs | None:
        rest = None
        for directory in reversed(dirs):
            rest = self._cons(directory, rest)
        return rest

    def _cons(self, directory: str, rest: _Dirs | None) -> _Dirs:
        key = (directory, id(rest))         # the lists are kept: an id is never reused
        found = self._lists.get(key)
        if found is None:
            found = self._lists[key] = _Dirs(directory, rest)
        return found

    def _walk(self, dirs: _Dirs | None, name: str, after: bool) -> tuple[frozenset, frozenset]:
        """(candidates missing before the first file, and that file) searching `dirs`. An
        #include_next starts after the directory its file was found in, which is not known
        here: all of its candidates count (a superset)."""
        if dirs is None:
            return _NOTHING
        key = (id(dirs), name, after)
        found = self._walks.get(key)
        if found is None:
            candidate = _join(dirs.directory, name)
            if self._is_file(candidate):
                missing, stops = self._walk(dirs.rest, name, after) if after else _NOTHING
                found = (missing, stops | {candidate})
            else:
                missing, stops = self._walk(dirs.rest, name, after)
                found = (missing | {self._anchored(candidate)}, stops)
            self._walks[key] = found
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

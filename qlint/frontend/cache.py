"""The incremental facts cache: a TU is parsed again only if something it consists of changed.

An entry is keyed by the TU's path, its compile command and the versions of qlint, its IR format
and libclang. It records what the parse rested on (docs/architecture.md, "Facts cache"): every
file the TU consists of (the source, every header libclang reported, including those inside a
precompiled prefix, and every file an include search stopped at) with its stat and content hash,
and every candidate the include search looked for and did not find. An entry is valid when every
file still matches, by stat or else by content, and every missing candidate is still missing.
So a changed header invalidates exactly the TUs that include it, and a new one exactly those
whose search it now ends.

Writes go to a temporary file in the same directory and are renamed into place, so two runs at
once never see a half-written entry; each entry carries a checksum of its facts, and an entry
that does not parse or does not match its checksum is treated as missing and rewritten. Entries
are touched when used and the least recently used are deleted beyond the size bound.

The cache directory must be the user's: one that is a symlink, owned by someone else or
writable by other users is refused (a cache entry is trusted input).
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import zlib
from dataclasses import replace
from functools import lru_cache
from importlib import metadata
from sys import intern

from .. import __version__
from ..errors import QlintError
from ..facts.codec import FORMAT, decode_tu, encode_tu
from ..facts.ir import TUFacts
from ..files import read_regular, write_whole
from .search import IncludeSearch

DEFAULT_MAX_BYTES = 512 * 1024 * 1024


def tool_versions() -> str:
    parts = [f"qlint {__version__}", f"ir {FORMAT}"]
    for dist in ("libclang", "clang-tidy"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} ?")
    return ", ".join(parts)


@lru_cache(maxsize=None)
def code_digest(*packages: str) -> str:
    """A digest of qlint's own source in the given subpackages (all of qlint if none): facts
    and results cached by a different qlint, even of the same version, are not reused."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    for sub in packages or ("",):
        base = os.path.join(root, sub)
        for directory, dirs, names in os.walk(base):
            dirs.sort()
            for name in sorted(names):
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    h.update(os.path.relpath(path, root).encode())
                    with open(path, "rb") as f:
                        h.update(f.read())
    return h.hexdigest()


def default_dir(database: str | None) -> str:
    """Under the build directory when there is one, else the user's cache directory."""
    if database:
        return os.path.join(os.path.dirname(os.path.abspath(database)), "qlint-cache")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "qlint", "facts")


def check_directory(path: str) -> None:
    """Refuse a cache directory that is not safely the user's own."""
    if os.path.islink(path):
        raise QlintError(f"{path}: cache directory is a symbolic link; refusing to use it")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise QlintError(f"{path}: cache directory is not a directory")
    if st.st_uid != os.getuid():
        raise QlintError(f"{path}: cache directory belongs to another user; refusing to use it")
    if st.st_mode & 0o022:
        raise QlintError(f"{path}: cache directory is writable by other users; refusing to use it")


# A file's timestamps come from the kernel's coarse clock, a tick (at most 10 ms) behind the
# time of the change; some filesystems keep whole seconds only (FAT two).
_RACY_NS = 100_000_000
_RACY_COARSE_NS = 2_000_000_000


def _window(st: list) -> int:
    whole_seconds = st[1] % 1_000_000_000 == 0 and st[2] % 1_000_000_000 == 0
    return _RACY_COARSE_NS if whole_seconds else _RACY_NS


def written_since(st: list, since: int) -> bool:
    """Whether the file's content may have been written at or after `since` (its mtime)."""
    return st[1] >= since - _window(st)


def racy(st: list, since: int) -> bool:
    """Whether a stat taken after `since` may stay the same through a later change (its mtime
    or ctime is in the same clock tick): then it cannot vouch for the file (git's "racy")."""
    return max(st[1], st[2]) >= since - _window(st)


class View:
    """The file system as seen once: each path stat-ed at most once (following symlinks).
    A stat is [size, mtime, ctime, inode, device] (a list, as JSON gives it back): ctime
    changes with every write and every metadata change and no tool can set it back, so an
    equal stat is an unchanged file."""

    def __init__(self):
        self._stats: dict[str, list | None] = {}
        self._modes: dict[str, int] = {}

    def stat(self, path: str) -> list | None:
        try:
            return self._stats[path]
        except KeyError:
            pass
        try:
            st = os.stat(path)
            found = _stat(st)
            self._modes[path] = st.st_mode
        except (OSError, ValueError):
            found = None
        self._stats[path] = found
        return found

    def is_file(self, path: str) -> bool:
        return self.stat(path) is not None and stat.S_ISREG(self._modes[path])

    def is_dir(self, path: str) -> bool:
        return self.stat(path) is not None and stat.S_ISDIR(self._modes[path])


def _stat(st: os.stat_result) -> list:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class Files:
    """What an entry's validity rests on: files that must be unchanged and candidates of the
    include search that must still be missing. `seen` is the file system as the run found it
    (for validating entries); `now` as it is after a parse (for recording them), renewed when
    a parse starts. Whether a stat is trusted is decided when it is recorded (the racy rule),
    so validating compares and looks up, nothing else. Shared by the decoding thread and the
    main thread: a lookup done twice is harmless, dict updates are atomic."""

    def __init__(self):
        self.seen = View()
        self.opened = time.time_ns()          # every stat `seen` holds was taken after this
        self.now = View()
        self._hash: dict[str, tuple] = {}    # path -> (stat, digest of the content with that stat)

    def digest(self, path: str, st: list) -> str | None:
        """The content hash of the file as it is with stat `st`; None if unreadable or if it
        changes meanwhile."""
        known = self._hash.get(path)
        if known is not None and known[0] == st:
            return known[1]
        try:
            data = read_regular(path)
            after = os.stat(path)
        except OSError:
            return None
        if _stat(after) != st:
            return None
        digest = hashlib.sha256(data).hexdigest()
        self._hash[path] = (st, digest)
        return digest

    def record(self, paths, since: int) -> list[list]:
        """[path, stat, digest] of each file, for a parse that started at `since`. A file gone
        or written since then gets no digest: what was parsed cannot be told, so the entry is
        parsed again. A racy stat is left out: the file is checked by content next time."""
        out = []
        for path in sorted(set(paths)):
            st = self.now.stat(path)
            if st is None or written_since(st, since):
                out.append([path, st, ""])
            else:
                out.append([path, None if racy(st, since) else st, self.digest(path, st) or ""])
        return out

    def record_absent(self, missing: dict[str, set], since: int) -> list[list]:
        """[directory, stat, names] of each directory the include search found names missing
        in ("name/" for a missing directory), the names joined by newlines. The stat of a
        directory changed since the parse started is left out: its names are looked up."""
        out = []
        for directory in sorted(missing):
            st = self.now.stat(directory)
            out.append([directory, None if st is None or racy(st, since) else st,
                        "\n".join(sorted(missing[directory]))])
        return out

    def unchanged(self, deps) -> list | None:
        """The records, if every file is as recorded (by stat, or else by content), else None.
        A file found unchanged by its content gets its current stat in a copy of the records
        if that stat can be trusted (git refreshes its index so): touched files are hashed
        once, not in every run."""
        seen = self.seen.stat
        out = deps
        for i, (path, recorded, digest) in enumerate(deps):
            st = seen(path)
            if st == recorded and digest:
                self._hash.setdefault(path, (st, digest))
                continue
            if st is None or not digest or self.digest(path, st) != digest:
                return None
            if not racy(st, self.opened):
                if out is deps:
                    out = list(deps)
                out[i] = [path, st, digest]
        return out

    def still_absent(self, records) -> bool:
        """No missing candidate has appeared: a directory whose stat is as recorded has had
        no entry added or removed (one that is gone has none); in one that changed each name
        is looked up."""
        for directory, recorded, names in records:
            if self.seen.stat(directory) == recorded:
                continue
            for name in names.split("\n"):
                path = os.path.join(directory, name.rstrip("/"))
                if self.seen.is_dir(path) if name.endswith("/") else self.seen.is_file(path):
                    return False
        return True



def _touch(path: str) -> None:
    """Mark an entry most recently used (the size bound deletes the least recently used)."""
    try:
        os.utime(path)
    except OSError:
        pass


class FactsCache:
    def __init__(self, directory: str, max_bytes: int = DEFAULT_MAX_BYTES):
        self.directory = directory
        self.max_bytes = max_bytes
        self.opened = time.time_ns()      # entries used since are this run's: never pruned
        self.files = Files()
        self.parsing()
        self._peeked: dict[str, str | None] = {}
        self._prefixes: dict[str, str | None] = {}    # prefix entry key -> its inputs, if valid
        self._prefix_files: dict[str, list] = {}      # prefix entry key -> its files (inputs())
        self._prefix_declared: dict[str, tuple | None] = {}   # prefix entry key -> its names
        self._sets_of_prefix: dict[str, tuple] = {}   # prefix key -> (files, names) as sets
        self.versions = tool_versions()
        self.hits = self.misses = self.rebuilt = 0
        check_directory(directory)
        try:
            os.makedirs(os.path.join(directory, "tu"), mode=0o700, exist_ok=True)
            os.makedirs(os.path.join(directory, "pch"), mode=0o700, exist_ok=True)
        except OSError as e:
            raise QlintError(f"{directory}: cannot create cache directory: {e.strerror}") from None
        check_directory(directory)

    # ---- keys and paths -------------------------------------------------------------------

    def key(self, *parts) -> str:
        return hashlib.sha256(json.dumps([self.versions, *parts]).encode()).hexdigest()

    def _entry(self, kind: str, key: str) -> str:
        return os.path.join(self.directory, kind, key[:2], key + ".json")

    def pch_path(self, key: str) -> str:
        directory = os.path.join(self.directory, "pch", key[:2])
        os.makedirs(directory, mode=0o700, exist_ok=True)
        return os.path.join(directory, key + ".pch")

    def parsing(self) -> None:
        """Parses start now: entries stored from here on record the files as they are after
        this moment, and rest on their not having changed since."""
        self.since = time.time_ns()
        self.files.now = View()
        self._search = IncludeSearch(self.files.now.is_file, self.files.now.is_dir)

    # ---- entries --------------------------------------------------------------------------

    def _read(self, kind: str, key: str):
        """The body of a valid entry, or None."""
        return self._read_entry(kind, key)[1]

    def _read_entry(self, kind: str, key: str, written: str = "") -> tuple:
        """(header, body) of a valid entry, or (None, None). An entry is a JSON header line
        (key, what it rests on, checksum) followed by the body's JSON, zlib-compressed (a sixth
        of the size); the checksum is over the stored bytes. `written`: the checksum of the
        entry this run's worker has just written from its parse, which is what the run wants
        whatever the files' times say (the racy rule is for the next runs)."""
        path = self._entry(kind, key)
        try:
            with open(path, "rb") as f:
                header = json.loads(f.readline())
                body = f.read()
            if header["key"] != key or header["sum"] != hashlib.sha256(body).hexdigest():
                raise ValueError("checksum")
            if written and header["sum"] != written:
                return None, None         # another run's since: this run parses it again
            checked = header if written else self._check(header)
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError, KeyError, TypeError):
            self.rebuilt += 1             # corrupt or truncated: parse again, write anew
            return None, None
        if checked is None:
            return None, None
        try:
            value = json.loads(zlib.decompress(body))
        except (ValueError, zlib.error):
            self.rebuilt += 1
            return None, None
        if checked is header:
            _touch(path)
        else:
            self._replace(path, checked, body)
        return checked, value

    def _header(self, kind: str, key: str) -> dict | None:
        """The header of a valid entry, without decoding its body; None if it is missing,
        corrupt or out of date."""
        path = self._entry(kind, key)
        try:
            with open(path, "rb") as f:
                header = json.loads(f.readline())
                checked = self._check(header) if header["key"] == key else None
                if checked is not None and checked is not header:
                    self._replace(path, checked, f.read())
            return checked
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write(self, kind: str, key: str, body, **basis) -> str:
        """Write an entry; its checksum, or "" if it could not be written."""
        data = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 1)
        checksum = hashlib.sha256(data).hexdigest()
        written = self._replace(self._entry(kind, key), {"key": key, **basis, "sum": checksum},
                                data)
        return checksum if written else ""

    def _replace(self, path: str, header: dict, data: bytes) -> bool:
        """Write an entry (its header and its compressed body) in place of `path`, atomically;
        False if it could not be written."""
        header = json.dumps(header, separators=(",", ":")).encode()
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            write_whole(path, header + b"\n" + data, mode=0o600)
        except OSError:
            return False                  # a cache that cannot be written is only slower
        return True

    # ---- TU facts -------------------------------------------------------------------------

    def tu_key(self, job) -> str:
        return self.key("tu", code_digest("frontend", "facts"), job.file, job.identity, job.degraded)

    def load(self, job, seen: set | None = None, written: str = "") -> TUFacts | None:
        """The job's cached facts (None if there are none); `seen` as for decode_tu, `written`
        as for _read_entry."""
        key = self.tu_key(job)
        header, body = self._read_entry("tu", key, written)
        prefix = header and header.get("prefix")
        declared = self._declared_by_prefix(prefix[0]) if prefix else ()
        if body is None or declared is None:
            self.misses += 1
            self._peeked.pop(key, None)
            return None
        self.hits += 1
        self._peeked[key] = header["sum"]     # a worker may have stored it since it was peeked
        facts = decode_tu(body, seen)
        facts.prefix_declared = declared
        return facts

    def store(self, job, facts: TUFacts, prefix=None) -> str:
        """Store a TU's facts; the entry's checksum, or "" if they were not stored (a problem,
        or an unwritable cache). `prefix` is the (key, PrefixResult) it was given to parse with. A TU rests on its
        prefix's entry, if valid, for the files of the prefix: those are validated once per
        run, however many TUs share them."""
        self._peeked.pop(self.tu_key(job), None)
        if facts.problem:
            return ""                     # a crash or timeout is retried next run
        files, base = (job.file, *facts.includes), None
        inputs = self._prefix_inputs(prefix[0]) if prefix is not None else None
        if inputs is not None:
            base = [prefix[0], inputs]
            shared, names = self._prefix_sets(*prefix)
            files = tuple(f for f in files if f not in shared)
            # The prefix's names are stored once, with the prefix (load() gives them back).
            facts = replace(facts, declared=tuple(n for n in facts.declared if n not in names))
        else:
            shared = frozenset()
        deps, absent = self._inputs(job.args, job.directory, files, shared)
        return self._write("tu", self.tu_key(job), encode_tu(facts), prefix=base, deps=deps,
                           absent=absent)

    def peek(self, job) -> str | None:
        """The checksum of the TU's valid entry, without decoding it; None if it is missing,
        corrupt or out of date. Asked twice in a run (the result's key, then collecting): the
        answer of the first time stands, unless the entry was rewritten since."""
        key = self.tu_key(job)       # not the file: a TU may be asked as at a revision too
        if key in self._peeked:
            return self._peeked[key]
        header = self._header("tu", key)
        self._peeked[key] = found = header and header["sum"]
        return found

    def inputs(self, job) -> list[str] | None:
        """The files the TU's valid entry was parsed from, those of its prefix header
        included, or None if it has none."""
        header = self._header("tu", self.tu_key(job)) if self.peek(job) else None
        if header is None:
            return None
        files = [dep[0] for dep in header["deps"]]
        prefix = header.get("prefix")
        return files + self._prefix_includes(prefix[0]) if prefix else files

    def _prefix_sets(self, key: str, result) -> tuple[frozenset, frozenset]:
        """(files, declared names) of a prefix, as sets: made once per run for all the TUs
        stored with it."""
        if key not in self._sets_of_prefix:
            self._sets_of_prefix[key] = (frozenset(result.includes), frozenset(result.declared))
        return self._sets_of_prefix[key]

    def _declared_by_prefix(self, key: str) -> tuple | None:
        """The names a valid prefix entry declares, read once per run: one tuple for all the
        TUs of the prefix. None if the entry cannot be read (its TUs are parsed again)."""
        if key not in self._prefix_declared:
            body = self._read("pch", key)
            self._prefix_declared[key] = tuple(map(intern, body["declared"])) if body else None
        return self._prefix_declared[key]

    def _prefix_includes(self, key: str) -> list[str]:
        """The files of a valid prefix entry, read once per run (every TU of a flag group
        shares it); none if it is missing or out of date."""
        if key not in self._prefix_files:
            body = self._read("pch", key)
            self._prefix_files[key] = body["includes"] if body else []
        return self._prefix_files[key]

    # ---- whole-run results --------------------------------------------------------------------

    def load_result(self, key: str):
        return self._read("result", key)

    def store_result(self, key: str, body, jobs=()) -> None:
        """Store a whole program's result; it rests on what the TUs' valid entries rest on,
        all at once, so that a warm run checks each file of the program once instead of
        reading every TU's entry. Nothing is stored unless every TU has a valid entry."""
        deps, absent, prefixes = {}, {}, {}
        for job in jobs:
            header = self._header("tu", self.tu_key(job))
            if header is None:
                return
            for record in header["deps"]:
                deps.setdefault(record[0], record)
            for record in header["absent"]:
                absent.setdefault(json.dumps(record), record)
            if header.get("prefix"):
                prefixes.setdefault(header["prefix"][0], header["prefix"])
        self._write("result", key, body, prefixes=[prefixes[k] for k in sorted(prefixes)],
                    deps=[deps[p] for p in sorted(deps)],
                    absent=[absent[k] for k in sorted(absent)])

    # ---- precompiled prefix headers ------------------------------------------------------------

    def load_prefix(self, key: str):
        body = self._read("pch", key)
        if body is None or not os.path.isfile(body["output"]) or self._prefix_inputs(key) is None:
            return None
        return body

    def store_prefix(self, key: str, task, result) -> None:
        deps, absent = self._inputs(task.args, task.directory, result.includes)
        inputs = hashlib.sha256(json.dumps([[p, d] for p, _st, d in deps]).encode()).hexdigest()
        self._write("pch", key, {"output": result.output, "declared": list(result.declared),
                                 "includes": list(result.includes),
                                 "statics": [list(s) for s in result.statics]},
                    inputs=inputs, deps=deps, absent=absent)
        self._prefixes[key] = inputs if all(d for _p, _st, d in deps) else None

    def _prefix_inputs(self, key: str) -> str | None:
        """The digest of the files a valid prefix entry rests on (their paths and contents),
        looked up once per run; None if the entry is missing, corrupt or out of date."""
        if key not in self._prefixes:
            header = self._header("pch", key)
            self._prefixes[key] = header and header["inputs"]
            if header:
                _touch(self._entry("pch", key))
        return self._prefixes[key]

    # ---- what an entry rests on ----------------------------------------------------------------

    def _check(self, header: dict) -> dict | None:
        """The header if everything the entry rests on is as it was: its prefix's entry (the
        same files, still valid), its files and the missing candidates of its include search;
        a copy with the files' current stats if some were found unchanged by content; None if
        something changed."""
        prefix = header.get("prefix")           # a TU's; a whole program's result has several
        prefixes = [prefix] if prefix else header.get("prefixes", ())
        if any(self._prefix_inputs(key) != inputs for key, inputs in prefixes):
            return None
        deps = self.files.unchanged(header["deps"])
        if deps is None or not self.files.still_absent(header["absent"]):
            return None
        return header if deps is header["deps"] else dict(header, deps=deps)

    def _inputs(self, args, directory: str, files, shared=frozenset()) -> tuple[list, list]:
        """The records of the files a parse consisted of, with every file its include search
        stopped at, and of the candidates the search found missing; files in `shared` are
        another entry's."""
        missing, stops = self._search.absent(args, directory, files, read_regular)
        files = (*files, *(s for s in stops if s not in shared))
        return (self.files.record(files, self.since),
                self.files.record_absent(missing, self.since))

    # ---- size bound ---------------------------------------------------------------------------

    def prune(self) -> int:
        """Delete the least recently used files beyond the size bound; returns bytes freed.
        What this run used stays, whatever the bound: where one run's facts exceed it (a whole
        QEMU build), deleting them would make every run parse everything again."""
        files = []
        for root, _dirs, names in os.walk(self.directory):
            for name in names:
                path = os.path.join(root, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                files.append((st.st_mtime_ns, st.st_size, path))
        total = sum(size for _m, size, _p in files)
        freed = 0
        for mtime, size, path in sorted(files):
            if total - freed <= self.max_bytes or mtime >= self.opened:
                break
            try:
                os.unlink(path)
                freed += size
            except OSError:
                pass
        return freed

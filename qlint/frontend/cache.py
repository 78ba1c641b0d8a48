"""The incremental facts cache: a TU is parsed again only if something it consists of changed.

An entry is keyed by the TU's path, its compile flags and the versions of qlint, its IR format
and libclang. It records every file the TU consists of (the source and every header libclang
reported, including those inside a precompiled prefix) with size, mtime and inode, and the
content hash. An entry is valid when every file still matches: by stat, or, when the stat
differs (a touched but unchanged header), by content. So a changed header invalidates exactly
the TUs that include it.

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
import zlib
from functools import lru_cache
from importlib import metadata

from .. import __version__
from ..errors import QlintError
from ..facts.codec import FORMAT, decode_tu, encode_tu
from ..facts.ir import TUFacts
from ..files import read_regular, write_whole

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


class Files:
    """Stat and content hash of files, each looked up once per run. Shared by the decoding
    thread and the main thread: a lookup done twice is harmless, dict updates are atomic."""

    def __init__(self):
        self._stat: dict[str, tuple | None] = {}
        self._hash: dict[str, str | None] = {}
        self._recorded: dict[str, tuple] = {}   # path -> (stat, digest) a valid entry recorded

    def stat(self, path: str):
        if path not in self._stat:
            try:
                st = os.stat(path)
                self._stat[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
            except OSError:
                self._stat[path] = None
        return self._stat[path]

    def digest(self, path: str):
        if path not in self._hash:
            known = self._recorded.get(path)
            if known is not None and known[0] == self.stat(path):
                self._hash[path] = known[1]     # unchanged since an entry hashed it
                return known[1]
            try:
                self._hash[path] = hashlib.sha256(read_regular(path)).hexdigest()
            except OSError:
                self._hash[path] = None
        return self._hash[path]

    def record(self, paths) -> list[list]:
        out = []
        for path in sorted(set(paths)):
            st = self.stat(path)
            if st is not None:
                out.append([path, *st, self.digest(path)])
        return out

    def unchanged(self, deps) -> bool:
        for path, size, mtime, ino, digest in deps:
            st = self.stat(path)
            if st is None:
                return False
            if st == (size, mtime, ino):
                self._recorded.setdefault(path, (st, digest))
            elif self.digest(path) != digest:
                return False
        return True


class FactsCache:
    def __init__(self, directory: str, max_bytes: int = DEFAULT_MAX_BYTES):
        self.directory = directory
        self.max_bytes = max_bytes
        self.files = Files()
        self._peeked: dict[str, str | None] = {}
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

    # ---- entries --------------------------------------------------------------------------

    def _read(self, kind: str, key: str):
        """The body of a valid entry, or None. An entry is a JSON header line (key, files,
        checksum) followed by the body's JSON, zlib-compressed (a sixth of the size); the
        checksum is over the stored bytes."""
        path = self._entry(kind, key)
        try:
            with open(path, "rb") as f:
                header = json.loads(f.readline())
                body = f.read()
            if header["key"] != key or header["sum"] != hashlib.sha256(body).hexdigest():
                raise ValueError("checksum")
            deps = header["deps"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            self.rebuilt += 1             # corrupt or truncated: parse again, write anew
            return None
        if not self.files.unchanged(deps):
            return None
        try:
            value = json.loads(zlib.decompress(body))
        except (ValueError, zlib.error):
            self.rebuilt += 1
            return None
        try:
            os.utime(path)                # most recently used
        except OSError:
            pass
        return value

    def _write(self, kind: str, key: str, deps, body) -> None:
        path = self._entry(kind, key)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        data = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 1)
        header = json.dumps({"key": key, "deps": deps, "sum": hashlib.sha256(data).hexdigest()},
                            separators=(",", ":")).encode()
        try:
            write_whole(path, header + b"\n" + data, mode=0o600)
        except OSError:
            pass                          # a cache that cannot be written is only slower

    # ---- TU facts -------------------------------------------------------------------------

    def tu_key(self, job) -> str:
        return self.key("tu", code_digest("frontend", "facts"), job.file, job.identity, job.degraded)

    def load(self, job) -> TUFacts | None:
        body = self._read("tu", self.tu_key(job))
        if body is None:
            self.misses += 1
            return None
        self.hits += 1
        return decode_tu(body)

    def store(self, job, facts: TUFacts) -> None:
        self._peeked.pop(job.file, None)
        if facts.problem:
            return                        # a crash or timeout is retried next run
        deps = self.files.record((job.file,) + tuple(facts.includes))
        self._write("tu", self.tu_key(job), deps, encode_tu(facts))

    def peek(self, job) -> str | None:
        """The checksum of the TU's valid entry, without decoding it; None if it is missing,
        corrupt or out of date. Asked twice in a run (the result's key, then collecting): the
        answer of the first time stands, unless the entry was rewritten since."""
        if job.file in self._peeked:
            return self._peeked[job.file]
        self._peeked[job.file] = found = self._peek(job)
        return found

    def _peek(self, job) -> str | None:
        path = self._entry("tu", self.tu_key(job))
        try:
            with open(path, "rb") as f:
                header = json.loads(f.readline())
        except (OSError, ValueError):
            return None
        if not isinstance(header, dict) or not self.files.unchanged(header.get("deps", [["", 0, 0, 0, ""]])):
            return None
        return header.get("sum")

    # ---- whole-run results --------------------------------------------------------------------

    def load_result(self, key: str):
        return self._read("result", key)

    def store_result(self, key: str, body) -> None:
        self._write("result", key, [], body)

    # ---- precompiled prefix headers ------------------------------------------------------------

    def load_prefix(self, key: str):
        body = self._read("pch", key)
        if body is None or not os.path.isfile(body["output"]):
            return None
        return body

    def store_prefix(self, key: str, result) -> None:
        deps = self.files.record(result.includes)
        self._write("pch", key, deps, {"output": result.output, "declared": list(result.declared),
                                       "includes": list(result.includes),
                                       "statics": [list(s) for s in result.statics]})

    # ---- size bound ---------------------------------------------------------------------------

    def prune(self) -> int:
        """Delete the least recently used files beyond the size bound; returns bytes freed."""
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
        for _mtime, size, path in sorted(files):
            if total - freed <= self.max_bytes:
                break
            try:
                os.unlink(path)
                freed += size
            except OSError:
                pass
        return freed

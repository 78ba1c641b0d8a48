"""Read a build's compile_commands.json into parse jobs.

The database is read directly rather than through libclang's CompilationDatabase, which invents
commands for files it does not list. Nothing from it is ever executed: the compiler named in a
command is dropped and only its flags are kept, minus those that write files (-o, -MD, -MF ...).
"""
from __future__ import annotations

import json
import os
import shlex

from ..errors import QlintError
from ..jsonio import parse_json, read_bytes
from ..project import ancestors

# Flags that take a separate value and only concern outputs or dependency files.
_DROP_WITH_VALUE = {"-o", "-MF", "-MT", "-MQ", "-MJ", "--serialize-diagnostics"}
_DROP = {"-c", "-MD", "-MMD", "-M", "-MM", "-MG", "-MP", "-E", "-S", "-pipe", "-save-temps", "-H"}
# The same passed on to the preprocessor or to cc1, which libclang honours: `-Wp,-MMD,dep.d`
# (kbuild's form), `-Xclang -dependency-file -Xclang dep.d`, `-Xclang -header-include-file ...`.
_PASSED_ON = {"-Xclang", "-Xpreprocessor"}
_CC1_WRITES_WITH_VALUE = {"-dependency-file", "-header-include-file", "-module-dependency-dir",
                          "-dependency-dot"}
# Flags whose value is a path that must be absolute once the working directory is gone.
_PATH_VALUE = {"-I", "-iquote", "-isystem", "-idirafter", "-include", "-imacros", "-iprefix",
               "-include-pch", "-isysroot", "--sysroot"}


class CompileJob:
    """One translation unit to parse: its absolute path and the flags to parse it with.

    A job from the database keeps the entry's raw command and cleans it into `args` only when
    asked: a run whose TUs all come from the cache never splits a command line."""

    def __init__(self, file: str, args=None, directory: str = "", degraded: bool = False,
                 notes=None, raw: tuple = ()):
        self.file = file
        self._args = tuple(args) if args is not None else None
        self.directory = directory
        self.degraded = degraded
        self.notes = list(notes or [])
        self.raw = raw                # (database path, entry index, entry) while unsplit

    @property
    def args(self) -> tuple[str, ...]:
        if self._args is None:
            path, index, entry = self.raw
            self._args = tuple(clean_args(_argv(path, index, entry)[1:], self.directory,
                                          entry["file"]))
        return self._args

    @property
    def identity(self) -> str:
        """What determines the parse besides the files: the flags as the database wrote them,
        or as given."""
        if self.raw:
            entry = self.raw[2]
            command = entry["arguments"] if "arguments" in entry else entry["command"]
            return json.dumps([command, entry["directory"]])
        return json.dumps(list(self.args))

    def __getstate__(self):
        return {"file": self.file, "args": self.args, "directory": self.directory,
                "degraded": self.degraded, "notes": self.notes}

    def __setstate__(self, state):
        self.__init__(**state)

    def __repr__(self) -> str:
        return f"CompileJob({self.file!r})"


class CompileDatabase:
    """Entries by the absolute normalized path of their source. Every entry is validated when
    loaded; its command is split and cleaned only when the file is analysed."""

    def __init__(self, path: str, entries: dict[str, tuple[int, dict, str]], duplicates: list[str]):
        self.path = path
        self._entries = entries           # source path -> (index, entry, directory)
        self._jobs: dict[str, CompileJob] = {}
        self.duplicates = duplicates      # files listed more than once (the first entry wins)

    def lookup(self, path: str) -> str | None:
        """The database's key for `path`, trying it as given and with symlinks resolved."""
        for candidate in (os.path.abspath(path), os.path.realpath(path)):
            if candidate in self._entries:
                return candidate
        return None

    def __contains__(self, path: str) -> bool:
        return self.lookup(path) is not None

    def job(self, key: str) -> CompileJob:
        job = self._jobs.get(key)
        if job is None:
            index, entry, directory = self._entries[key]
            job = self._jobs[key] = _job_from_entry(self.path, index, entry, directory, key)
        return job

    def source_root(self) -> str:
        """The deepest directory holding every source the database lists outside its own
        directory (those inside are the build's generated sources), or holding every source
        when all lie inside it (a database kept in the source tree)."""
        build = os.path.dirname(os.path.abspath(self.path))
        sources = [f for f in self._entries if not f.startswith(build + os.sep)] or list(self._entries)
        return os.path.commonpath([os.path.dirname(f) for f in sources]) if sources else build

    def files_under(self, directory: str) -> list[str]:
        out = []
        for d in {os.path.abspath(directory), os.path.realpath(directory)}:
            prefix = d.rstrip(os.sep) + os.sep
            out += [f for f in self._entries if f.startswith(prefix)]
        return sorted(set(out))


def load(path: str) -> CompileDatabase:
    """Parse and validate compile_commands.json; any defect is a one-line QlintError."""
    raw = read_bytes(path, "compile database")
    if not raw.strip():
        raise QlintError(f"{path}: compile database is empty")
    entries = parse_json(raw, path)
    if not isinstance(entries, list):
        raise QlintError(f"{path}: expected a JSON array of compile commands")
    db_dir = os.path.dirname(os.path.abspath(path))
    table: dict[str, tuple[int, dict, str]] = {}
    duplicates: list[str] = []
    for index, entry in enumerate(entries):
        _validate(path, index, entry)
        directory = entry["directory"]
        if not os.path.isabs(directory):
            # Not defined by the format; taken relative to the database, where it was written.
            directory = os.path.normpath(os.path.join(db_dir, directory))
        source = os.path.normpath(os.path.join(directory, entry["file"]))
        if source in table:
            duplicates.append(source)
            continue
        table[source] = (index, entry, directory)
    return CompileDatabase(path, table, sorted(set(duplicates)))


def _validate(path: str, index: int, entry) -> None:
    where = f"{path}: entry {index}"
    if not isinstance(entry, dict):
        raise QlintError(f"{where}: expected an object")
    for key in ("directory", "file"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise QlintError(f"{where}: missing or invalid '{key}'")
    if "arguments" in entry:
        argv = entry["arguments"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise QlintError(f"{where}: 'arguments' must be a non-empty list of strings")
    elif not isinstance(entry.get("command"), str) or not entry["command"].strip():
        raise QlintError(f"{where}: needs 'arguments' or 'command'")


def _job_from_entry(path: str, index: int, entry: dict, directory: str, source: str) -> CompileJob:
    notes = [] if os.path.isabs(entry["directory"]) else \
        [f"relative directory taken relative to {os.path.dirname(os.path.abspath(path))}"]
    return CompileJob(file=source, directory=directory, notes=notes, raw=(path, index, entry))


def _argv(path: str, index: int, entry: dict) -> list[str]:
    if "arguments" in entry:
        return entry["arguments"]
    try:
        return shlex.split(entry["command"])
    except ValueError as e:
        raise QlintError(f"{path}: entry {index}: cannot split 'command': {e}") from None


def clean_args(argv: list[str], directory: str, source: str) -> list[str]:
    """Flags to parse with: outputs dropped, the source itself dropped, paths made absolute."""
    out: list[str] = []
    source_abs = os.path.normpath(os.path.join(directory, source))
    it = iter(argv)
    for arg in it:
        if arg in _DROP_WITH_VALUE:
            next(it, None)
            continue
        if _writes(arg) or arg.startswith("-o"):
            continue
        if arg.startswith("-Wp,") and any(_writes(o) for o in arg[4:].split(",")):
            continue
        if arg in _PASSED_ON:
            value = next(it, "")
            if value in _DROP_WITH_VALUE or value in _CC1_WRITES_WITH_VALUE:
                if next(it, None) in _PASSED_ON:
                    next(it, None)          # the option's value, passed on too
            elif not _writes(value):
                out += [arg, value]
            continue
        if os.path.normpath(os.path.join(directory, arg)) == source_abs:
            continue
        if arg in _PATH_VALUE:
            value = next(it, "")
            out += [arg, _absolute(directory, value)]
            continue
        flag = next((p for p in ("-I", "-isystem", "-iquote", "-idirafter") if
                     arg.startswith(p) and len(arg) > len(p)), None)
        if flag:
            out.append(flag + _absolute(directory, arg[len(flag):]))
            continue
        out.append(arg)
    return out


def _writes(option: str) -> bool:
    """An option that only concerns outputs or dependency files (its value, if separate, follows)."""
    return option in _DROP or option in _DROP_WITH_VALUE or option[:3] in ("-MF", "-MT", "-MQ") \
        or option.split("=", 1)[0] in _CC1_WRITES_WITH_VALUE


def _absolute(directory: str, value: str) -> str:
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(directory, value))


def find(start: str, build_dir: str | None) -> str | None:
    """The compile database for `start`: in BUILD_DIR if given, else build/ or the directory
    itself, searched upward from the checked path."""
    if build_dir:
        candidate = os.path.join(build_dir, "compile_commands.json")
        if os.path.isfile(build_dir) and build_dir.endswith(".json"):
            return build_dir
        if not os.path.exists(candidate):
            raise QlintError(f"{build_dir}: no compile_commands.json in build directory")
        return candidate
    for directory in ancestors(start):
        for sub in ("build", "."):
            candidate = os.path.join(directory, sub, "compile_commands.json")
            if os.path.isfile(candidate):
                return os.path.normpath(candidate)
    return None

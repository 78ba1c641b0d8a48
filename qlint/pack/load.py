"""Loading rule packs: rules/*.toml (shipped) and the tables of a user's configuration, checked
against the schema (qlint/pack/schema.py). The first defect is a one-line error naming the file,
the line and the key."""
from __future__ import annotations

import os
import re

from ..errors import QlintError
from .model import Origin, PackInfo
from .rulepack import RulePack
from .schema import TABLES, SchemaError, references

try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TABLE_NAMES = tuple(t.name for t in TABLES)


def builtin_pack_dir() -> str:
    """rules/ of a source checkout, or the copy the wheel carries as qlint/packs."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(os.path.dirname(here), "rules"), os.path.join(here, "packs")):
        if os.path.isdir(candidate):
            return candidate
    raise QlintError("built-in rule packs not found (expected rules/*.toml)")


def load_builtin(directory: str | None = None) -> RulePack:
    """The shipped packs (or those of another directory of pack files)."""
    pack = RulePack()
    directory = directory or builtin_pack_dir()
    for name in sorted(os.listdir(directory)):
        if name.endswith(".toml"):
            add_file(pack, os.path.join(directory, name))
    check_references(pack)
    return pack


def read_toml(path: str) -> tuple[dict, str]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise QlintError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text), text
    except UnicodeDecodeError:
        raise QlintError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise QlintError(f"{path}: invalid TOML: {e}") from None


def add_file(pack: RulePack, path: str) -> None:
    """One pack file: its [pack] table, then its entries."""
    data, text = read_toml(path)
    info = data.get("pack")
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        raise QlintError(f"{path}: a rule pack needs a [pack] table with a name")
    unknown = set(data) - set(TABLE_NAMES) - {"pack"}
    if unknown:
        key = sorted(unknown)[0]
        raise QlintError(f"{path}:{line_of(text, key)}: unknown table '{key}'")
    needs = info.get("needs", [])
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(v, str) for v in needs):
        raise QlintError(f"{path}:{line_of(text, 'needs')}: [pack] 'needs' must be a list of "
                         f"strings")
    name = info["name"]
    pack.packs.append(PackInfo(name=name, description=str(info.get("description", "")),
                               file=path, needs=tuple(needs)))
    add_tables(pack, data, path, text, name)


def add_tables(pack: RulePack, data: dict, path: str, text: str, pack_name: str) -> None:
    """Add the [[lock]], [[requires]] ... arrays of one file (a pack or a user config)."""
    for table in TABLES:
        items = data.get(table.name, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise QlintError(f"{path}:{line_of(text, table.name)}: '{table.name}' must be an "
                             f"array of tables ([[{table.name}]])")
        occurrences = _table_lines(text, table.name)
        for index, item in enumerate(items):
            line = occurrences[index] if index < len(occurrences) else line_of(text, table.name)
            origin = Origin(path, line, pack_name, table.name)
            try:
                entries = table.entries(item, origin)
            except SchemaError as e:
                raise QlintError(f"{origin}: [[{table.name}]] {e}") from None
            getattr(pack, table.into).extend(entries)


def check_references(pack: RulePack) -> None:
    """Every lock, section and entry kind an entry names must be declared somewhere."""
    declared = {"lock": {s.name for s in pack.sections}, "entry kind": {
        e.kind for e in pack.entries if e.kind}}
    declared["section"] = declared["lock"]
    for table in TABLES:
        for item in getattr(pack, table.into):
            if item.origin.table != table.name:
                continue
            for key, name in references(item):
                if name not in declared[key.refers]:
                    hint = f" (declare it with [[entry]] kind = \"{name}\")" \
                        if key.refers == "entry kind" else ""
                    raise QlintError(f"{item.origin}: [[{table.name}]] {key.verb} unknown "
                                     f"{key.refers} '{name}'{hint}")


def _table_lines(text: str, table: str) -> list[int]:
    pattern = re.compile(r"^\s*\[\[\s*(?:tool\.qlint\.)?" + re.escape(table) + r"\s*\]\]", re.M)
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]


def line_of(text: str, key: str) -> int:
    """The line where `key` first appears as a key or table name (1 if not found)."""
    pattern = re.compile(r"^\s*(?:\[\[?\s*(?:tool\.qlint\.)?" + re.escape(key) + r"\s*\]\]?|"
                         + re.escape(key) + r"\s*=)", re.M)
    m = pattern.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else 1

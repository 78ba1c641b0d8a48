"""User configuration: `.qlint.toml`, or `[tool.qlint]` in pyproject.toml, found upward from the
checked path; or --config FILE. The command line overrides it.

Options (all optional):
  select, ignore, extend-select   rule code prefixes, as on the command line
  build-dir                       where compile_commands.json lives
  include, define                 -I / -D for files parsed in degraded mode
  exclude, extend-exclude         globs of paths not to report (relative to the project root)
  context-include, context-exclude
                                  globs choosing the program's translation units (default: all)
  per-file-ignores, extend-per-file-ignores
                                  {glob = [codes]}: rules not reported in the files matched
  jobs                            worker processes
  cache-dir                       where parsed facts are cached
  report-unused-suppressions      report suppressions that silence nothing (QL002)
  force-exclude                   apply `exclude` to paths named on the command line too
  baseline                        a baseline file (relative to the configuration file)
  infer                           use contracts inferred from the tree (default true)
  infer-min-confidence            the least confidence of an inferred contract used (0.8)
  infer-reject                    inferred contracts not to use: [{function = ..., lock = ...}]
plus the rule-pack tables ([[lock]], [[requires]], [[callback]], [[entry]], [[section]] ...),
which add to the built-in packs (docs/configuration.md).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .errors import QlintError
from .pack import load as packs
from .pack.model import PackInfo
from .pack.rulepack import RulePack
from .project import ancestors
from .rules.base import LEVELS
from .rules.dispatch import check_ownership
from .rules.registry import all_rules, unknown_codes

OPTIONS = {
    "select": "codes", "ignore": "codes", "extend-select": "codes", "build-dir": "str",
    "include": "strs", "define": "strs", "exclude": "strs", "extend-exclude": "strs",
    "context-include": "strs", "context-exclude": "strs",
    "per-file-ignores": "codes-by-glob", "extend-per-file-ignores": "codes-by-glob",
    "jobs": "int", "cache-dir": "str", "report-unused-suppressions": "bool",
    "force-exclude": "bool", "baseline": "path", "severity": "levels",
    "infer": "bool", "infer-min-confidence": "share", "infer-reject": "rejects",
}


@dataclass
class Config:
    path: str | None = None
    options: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)    # the raw table (for the pack entries)
    text: str = ""

    def get(self, key, default=None):
        return self.options.get(key, default)

    def flag(self, key: str, given: bool | None) -> bool:
        """A boolean option: the command line's when given (not None), else the configuration's."""
        return self.options.get(key, False) if given is None else given


def find(start: str) -> str | None:
    for directory in ancestors(start):
        candidate = os.path.join(directory, ".qlint.toml")
        if os.path.isfile(candidate):
            return candidate
        pyproject = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(pyproject) and _has_tool_qlint(pyproject):
            return pyproject
    return None


def _has_tool_qlint(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return b"[tool.qlint" in f.read()
    except OSError:
        return False


def load(path: str | None) -> Config:
    if path is None:
        return Config()
    data, text = packs.read_toml(path)
    if os.path.basename(path) == "pyproject.toml":
        data = data.get("tool", {}).get("qlint", {})
        if not isinstance(data, dict):
            raise QlintError(f"{path}: [tool.qlint] must be a table")
    config = Config(path=path, data=data, text=text)
    start = _table_start(text) if os.path.basename(path) == "pyproject.toml" else 0
    for key, value in data.items():
        if key in packs.TABLE_NAMES:
            continue
        kind = OPTIONS.get(key)
        line = text.count("\n", 0, start) + packs.line_of(text[start:], key)
        if kind is None:
            raise QlintError(f"{path}:{line}: unknown key '{key}'")
        config.options[key] = _check(value, kind, f"{path}:{line}: '{key}'")
        if kind == "path":
            config.options[key] = os.path.join(os.path.dirname(path), value)
    return config


def _table_start(text: str) -> int:
    """Where pyproject.toml's [tool.qlint] table starts (other tools' tables use the same keys)."""
    match = re.search(r"^[ \t]*\[tool\.qlint\]", text, re.M)
    return match.start() if match else 0


def _check(value, kind: str, where: str):
    if kind == "share":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise QlintError(f"{where} must be a number from 0 to 1")
        return float(value)
    if kind == "rejects":
        if not isinstance(value, list) or not all(
                isinstance(v, dict) and set(v) == {"function", "lock"} and
                all(isinstance(x, str) and x for x in v.values()) for v in value):
            raise QlintError(f"{where} must be a list of tables with a 'function' and a 'lock' "
                             f"({{ function = \"bdrv_foo\", lock = \"AioContext\" }})")
        return tuple((v["function"], v["lock"]) for v in value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise QlintError(f"{where} must be true or false")
        return value
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise QlintError(f"{where} must be a positive integer")
        return value
    if kind in ("str", "path"):
        if not isinstance(value, str) or not value:
            raise QlintError(f"{where} must be a non-empty string")
        return value
    if kind == "levels":
        if not isinstance(value, dict):
            raise QlintError(f"{where} must be a table of rule codes to levels")
        for code, level in value.items():
            if code not in all_rules():
                raise QlintError(f"{where}: unknown rule code '{code}' (see `qlint rules`)")
            if level not in LEVELS:
                raise QlintError(f"{where}: '{code}' must be one of {', '.join(LEVELS)}")
        return dict(value)
    if kind == "codes-by-glob":
        if not isinstance(value, dict):
            raise QlintError(f"{where} must be a table of globs to lists of rule codes")
        return {glob: _check(codes, "codes", f"{where}: '{glob}'") for glob, codes in value.items()}
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QlintError(f"{where} must be a list of strings")
    unknown = unknown_codes(value) if kind == "codes" else []
    if unknown:
        raise QlintError(f"{where}: unknown rule code '{unknown[0]}' (see `qlint rules`)")
    return value


def build_pack(config: Config) -> RulePack:
    """The built-in packs plus the configuration's own tables, cross-checked: every name they
    use is declared, every violation they can produce has one rule that reports it."""
    pack = packs.load_builtin()
    if config.path and config.data:
        packs.add_tables(pack, config.data, config.path, config.text, "config")
        pack.packs.append(PackInfo(name="config", description="user configuration",
                                    file=config.path, user=True))
        packs.check_references(pack)
    check_ownership(pack, all_rules().values())
    return pack

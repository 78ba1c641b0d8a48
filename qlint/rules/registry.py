"""The registry of rules: every rule qlint has, listed here and only here, and the selection
of them by code (flake8-style)."""
from __future__ import annotations

import re

from ..errors import QlintError
from .lock_rules import LockExcluded, LockRequired, OutsideSection
from .modern_rules import (CoroutineFnFromNonCoroutine, GraphLockRequired, MissingAnnotation,
                           NoCoroutineFnInCoroutine)
from .section_rules import SectionAcrossDeferral, UnbalancedLock, UnbalancedSection
from .suppression_rules import InvalidSuppression, UnusedSuppression

RULES = (InvalidSuppression, UnusedSuppression,
         LockRequired, UnbalancedLock, LockExcluded,
         UnbalancedSection, SectionAcrossDeferral, OutsideSection,
         CoroutineFnFromNonCoroutine, NoCoroutineFnInCoroutine, GraphLockRequired,
         MissingAnnotation)


def all_rules() -> dict[str, type]:
    """Every rule by code, in code order."""
    return {cls.code: cls for cls in sorted(RULES, key=lambda cls: cls.code)}


def select(select: list[str] | None, ignore: list[str] | None,
           extend: list[str] | None = None) -> list[type]:
    """flake8-style selection by code prefix: --select QL1,QL202 --ignore QL103."""
    rules = all_rules()
    unknown = unknown_codes((select or []) + (ignore or []) + (extend or []))
    if unknown:
        raise QlintError(f"unknown rule code '{unknown[0]}' (see `qlint rules`)")
    chosen = [c for c in rules if not select or any(c.startswith(s) for s in select)]
    chosen += [c for c in rules if extend and any(c.startswith(s) for s in extend) and c not in chosen]
    chosen = [c for c in chosen if not any(c.startswith(i) for i in (ignore or []))]
    return [rules[c] for c in sorted(chosen)]


def unknown_codes(codes) -> list[str]:
    """The codes that are neither a rule's code nor a prefix of one."""
    rules = all_rules()
    return [code for code in codes
            if not re.fullmatch(r"QL\d{0,3}", code) or not any(c.startswith(code) for c in rules)]

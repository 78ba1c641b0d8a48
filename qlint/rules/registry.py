"""The registry of rules: every rule qlint has, listed here and only here, and the selection
of them by code (flake8-style)."""
from __future__ import annotations

import re

from ..errors import QlintError
from .input_rules import ParseError
from .lock_rules import LockExcluded, LockRequired, OutsideSection
from .modern_rules import (CoroutineFnFromNonCoroutine, GraphLockRequired, MissingAnnotation,
                           NoCoroutineFnInCoroutine)
from .section_rules import SectionAcrossDeferral, UnbalancedLock, UnbalancedSection
from .selection import resolve
from .suppression_rules import InvalidSuppression, UnusedSuppression

RULES = (ParseError, InvalidSuppression, UnusedSuppression,
         LockRequired, UnbalancedLock, LockExcluded,
         UnbalancedSection, SectionAcrossDeferral, OutsideSection,
         CoroutineFnFromNonCoroutine, NoCoroutineFnInCoroutine, GraphLockRequired,
         MissingAnnotation)


def all_rules() -> dict[str, type]:
    """Every rule by code, in code order."""
    return {cls.code: cls for cls in sorted(RULES, key=lambda cls: cls.code)}


def select(layers: list) -> list[type]:
    """The rules the selection layers choose, by ruff's precedence (rules/selection.py)."""
    rules = all_rules()
    unknown = unknown_codes([c for layer in layers
                             for c in (layer.select or ()) + layer.extend_select + layer.ignore])
    if unknown:
        raise QlintError(f"unknown rule code '{unknown[0]}' (see `qlint rules`)")
    return [rules[c] for c in resolve(list(rules), layers)]


def unknown_codes(codes) -> list[str]:
    """The codes that are neither a rule's code nor a prefix of one."""
    rules = all_rules()
    return [code for code in codes
            if not re.fullmatch(r"QL\d{0,3}", code) or not any(c.startswith(code) for c in rules)]

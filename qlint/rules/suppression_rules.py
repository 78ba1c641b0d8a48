"""QL001 invalid-suppression and QL002 unused-suppression: about the inline suppressions
themselves. They own no violation of the analysis: qlint/suppressions.py makes their findings,
in their words, when the report is made."""
from __future__ import annotations

from .base import Rule


class _SuppressionRule(Rule):
    level = "warning"
    tags = ("suppression",)
    precision = "very-high"


class InvalidSuppression(_SuppressionRule):
    code = "QL001"
    name = "invalid-suppression"
    summary = "an inline suppression names no rule, or a rule that does not exist"
    messages = {
        "no-code": "suppression without a rule code suppresses nothing: name the rule, as in "
                   "/* qlint: ignore[QL101] reason */",
        "unknown": "suppression names unknown rule code '{code}' (see `qlint rules`)",
    }


class UnusedSuppression(_SuppressionRule):
    code = "QL002"
    name = "unused-suppression"
    summary = "an inline suppression silences nothing (with --report-unused-suppressions)"
    messages = {"unused": "unused suppression: no {codes} finding on {where}"}

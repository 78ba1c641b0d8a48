"""QL001 invalid-suppression and QL002 unused-suppression: about the inline suppressions
themselves. Their findings come from qlint/suppressions.py when the report is made, not from
the analysis."""
from __future__ import annotations

from .base import Rule


class _SuppressionRule(Rule):
    level = "warning"
    tags = ("suppression",)
    precision = "very-high"

    def check(self, ctx):
        return ()


class InvalidSuppression(_SuppressionRule):
    code = "QL001"
    name = "invalid-suppression"
    summary = "an inline suppression names no rule, or a rule that does not exist"


class UnusedSuppression(_SuppressionRule):
    code = "QL002"
    name = "unused-suppression"
    summary = "an inline suppression silences nothing (with --report-unused-suppressions)"

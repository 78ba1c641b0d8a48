"""Precision of a qlint report against triage verdicts (a benchmark: prints numbers).

    python benchmarks/precision.py VERDICTS REPORT.json
    python benchmarks/precision.py docs/triage/qemu-7.2.tsv --version 7.2   # runs `qlint check .`

VERDICTS has one line per judged finding, tab-separated:

    fingerprint  verdict  rule  location  cause

verdict is `true` (the code breaks a rule QEMU states), `benign` (it does, harmlessly today),
`note` (a correct suggestion), or `false` (qlint is wrong; cause says the analysis error).
Lines starting with `#` are comments. Prints, per rule and overall, the judged findings of the
report, (true + benign + note) / judged and true / judged, and lists the findings of the report
that have no verdict (new since the verdicts were written) and the verdicts whose finding the
report no longer has (gone). QL000 (a TU that could not be analysed) is left out.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

VERDICTS = ("true", "benign", "note", "false")
RIGHT = {"true", "benign", "note"}


def read_verdicts(path: str) -> dict[str, tuple[str, str, str, str]]:
    """fingerprint -> (verdict, rule, location, cause)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 5 or parts[1] not in VERDICTS:
                raise SystemExit(f"{path}:{number}: expected 'fingerprint verdict rule location "
                                 f"cause' with a verdict of {', '.join(VERDICTS)}")
            out[parts[0]] = tuple(parts[1:])
    return out


def report_of(version: str, jobs: int) -> dict:
    from qemu_trees import qemu_tree
    tree = qemu_tree(version)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "report.json")
        proc = subprocess.run([sys.executable, "-m", "qlint", "check", ".", "--format", "json",
                               "-o", out, "-j", str(jobs), "--exit-zero", "-q"], cwd=tree)
        if proc.returncode != 0:
            raise SystemExit(f"qlint failed ({proc.returncode})")
        with open(out) as f:
            return json.load(f)


def table(findings: list[dict], verdicts: dict) -> list[str]:
    per_rule: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for f in findings:
        verdict = verdicts.get(f["fingerprint"], (None,))[0]
        per_rule[f["rule"]]["findings"] += 1
        if verdict:
            per_rule[f["rule"]][verdict] += 1
    total = collections.Counter()
    lines = [f"{'rule':<8}{'findings':>9}{'judged':>8}{'true':>6}{'benign':>8}{'note':>6}"
             f"{'false':>7}{'precision':>11}{'strict':>8}"]
    for rule in sorted(per_rule) + ["all"]:
        c = total if rule == "all" else per_rule[rule]
        if rule != "all":
            total.update(c)
        judged = sum(c[v] for v in VERDICTS)
        right = sum(c[v] for v in RIGHT)
        share = lambda n: f"{100 * n / judged:.1f}%" if judged else "-"  # noqa: E731
        lines.append(f"{rule:<8}{c['findings']:>9}{judged:>8}{c['true']:>6}{c['benign']:>8}"
                     f"{c['note']:>6}{c['false']:>7}{share(right):>11}{share(c['true']):>8}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("verdicts")
    parser.add_argument("report", nargs="?", help="a JSON report (else --version runs qlint)")
    parser.add_argument("--version", choices=["7.2", "10.0"])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.report and not args.version:
        parser.error("give a REPORT or --version")
    verdicts = read_verdicts(args.verdicts)
    if args.report:
        with open(args.report, encoding="utf-8") as f:
            report = json.load(f)
    else:
        report = report_of(args.version, args.jobs)
    # QL000 says a TU could not be analysed: an input problem, not a verdict on the code.
    findings = [f for f in report["findings"] if f["rule"] != "QL000"]
    print("\n".join(table(findings, verdicts)))
    current = {f["fingerprint"] for f in findings}
    new = [f for f in findings if f["fingerprint"] not in verdicts]
    gone = sorted((v[2], fp) for fp, v in verdicts.items() if fp not in current)
    print(f"\nwithout a verdict (new since the verdicts): {len(new)}")
    for f in new:
        print(f"  {f['fingerprint']}  {f['rule']}  {f['path']}:{f['line']}  {f['function']}")
    print(f"verdicts whose finding is gone: {len(gone)}")
    for location, fp in gone:
        print(f"  {fp}  {location}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

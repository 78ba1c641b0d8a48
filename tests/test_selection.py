"""Rule selection as in ruff: the more specific selector wins, then ignore over select at equal
specificity, the command line's `--select` replaces the configuration's selection, and an empty
`select` with `ignore` hands the ignores on. Every case is also run through ruff itself (pinned
in the test extras) with selectors of the same specificity, and must agree with it."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import qlint
from fixture_trees import bh_source, make_tree, write
from qlint.rules.registry import all_rules
from qlint.rules.selection import Layer, resolve, selectors

# qlint selectors and ruff's of the same specificity: all, a linter, a two-character prefix, rules.
# F401 (unused import) and F403 (import *) both fire on RUFF_SOURCE, as QL101 and QL102 stand here.
AS_RUFF = {"QL": "ALL", "QL1": "F", "QL10": "F40", "QL101": "F401", "QL102": "F403"}
RUFF_SOURCE = "import os\nfrom sys import *\n"
BOTH = {"QL101", "QL102"}

CASES = [
    # (configuration: select, extend-select, ignore), command line, what runs of QL101/QL102
    (None, (None, (), ()), BOTH),
    (None, (["QL101"], (), ["QL1"]), {"QL101"}),
    (None, (["QL1"], (), ["QL101"]), {"QL102"}),
    (None, (["QL10"], (), ["QL1"]), BOTH),
    (None, (["QL1"], ["QL102"], ["QL10"]), {"QL102"}),
    (None, (["QL101"], (), ["QL101"]), set()),
    (None, (None, ["QL102"], ["QL1"]), {"QL102"}),
    (None, (["QL"], (), ["QL1"]), set()),
    (None, (["QL101"], (), ["QL"]), {"QL101"}),
    ((["QL1"], (), ["QL101"]), (None, (), ()), {"QL102"}),
    ((["QL1"], (), ["QL101"]), (["QL101"], (), ()), {"QL101"}),
    ((["QL1"], (), ["QL101"]), (None, ["QL101"], ()), BOTH),
    ((["QL1"], (), ["QL101"]), (None, (), ["QL102"]), set()),
    (([], (), ["QL101"]), (None, (), ()), set()),
    (([], (), ["QL101"]), (["QL1"], (), ()), {"QL102"}),
    (([], (), ["QL101"]), (None, ["QL1"], ()), {"QL102"}),
    ((None, (), ["QL1"]), (None, ["QL101"], ()), {"QL101"}),
    ((["QL101"], (), ()), (None, (), ["QL1"]), set()),
    ((None, ["QL101"], ["QL1"]), (None, (), ()), {"QL101"}),
]


def layer(select, extend, ignore) -> Layer:
    return Layer.of(select, extend, ignore)


def qlint_choice(config, cli) -> set[str]:
    layers = ([layer(*config)] if config else []) + [layer(*cli)]
    return set(resolve(list(all_rules()), layers)) & BOTH


def ruff_choice(tmp_path, config, cli) -> set[str]:
    (tmp_path / "m.py").write_text(RUFF_SOURCE)
    lines = ["[lint]"]
    if config:
        for key, codes in zip(("select", "extend-select", "ignore"), config):
            if codes is not None and (key == "select" or codes):
                lines.append(f"{key} = {[AS_RUFF[c] for c in codes]!r}".replace("'", '"'))
    (tmp_path / "ruff.toml").write_text("\n".join(lines) + "\n")
    args = []
    for option, codes in zip(("--select", "--extend-select", "--ignore"), cli):
        if codes:
            args += [option, ",".join(AS_RUFF[c] for c in codes)]
    ruff = shutil.which("ruff")
    command = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    proc = subprocess.run(command + ["check", "--no-cache", "--output-format", "concise", *args,
                                     "m.py"], cwd=tmp_path, capture_output=True, text=True)
    reported = {code for code, name in (("QL101", "F401"), ("QL102", "F403")) if name in proc.stdout}
    return reported


@pytest.mark.parametrize("config, cli, expected", CASES)
def test_selection_precedence_matches_ruff(tmp_path, config, cli, expected):
    assert qlint_choice(config, cli) == expected
    assert ruff_choice(tmp_path, config, cli) == expected


def test_every_rule_runs_by_default_and_selectors_are_what_the_user_asked_for():
    codes = list(all_rules())
    assert resolve(codes, [Layer(), Layer()]) == codes
    assert selectors([Layer.of(["QL3"], ["QL101"], ["QL1"]), Layer.of(None, ["QL2"], ())]) == \
        ["QL101", "QL2", "QL3"]


CALL = "    qemu_laio_process_completions(s);\n"


@pytest.mark.parametrize("config, args", [
    ("", ["--select", "QL101", "--ignore", "QL1"]),
    ('ignore = ["QL101"]\n', ["--select", "QL101"]),
    ('select = ["QL2"]\n', ["--extend-select", "QL101"]),
    ('ignore = ["QL1"]\n', ["--extend-select", "QL101"]),
])
def test_the_command_line_reports_what_ruff_would(tmp_path, config, args):
    root = make_tree(tmp_path, {"a.c": bh_source(CALL)})
    write(root, ".qlint.toml", config)
    run = qlint("check", "a.c", *args, cwd=root)
    assert (run.code, run.err) == (1, "")
    assert run.out == ("a.c:6:5: QL101 [lock-required] qemu_laio_process_completions() requires "
                       "AioContext, which is not held on this path from bh bh()\n")


def test_a_more_specific_ignore_on_the_command_line_beats_the_configurations_select(tmp_path):
    root = make_tree(tmp_path, {"a.c": bh_source(CALL)})
    write(root, ".qlint.toml", 'select = ["QL101"]\n')
    run = qlint("check", "a.c", "--ignore", "QL101", cwd=root)
    assert (run.code, run.out, run.err) == (0, "", "")

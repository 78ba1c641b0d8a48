"""docs/configuration.md's table reference and its table of who reports what are generated
from the code (the pack schema, the rules' ownership) and stay equal to it; docs/architecture.md
lists the packages there are and names only modules there are."""
from __future__ import annotations

import os
import re

import pytest

from conftest import REPO
from qlint.pack.schema import TABLES, reference
from qlint.rules.dispatch import ownership_table
from qlint.rules.registry import all_rules


def _generated(name: str) -> str:
    with open(os.path.join(REPO, "docs", "configuration.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(rf"<!-- begin generated: {name} -->\n(.*?)<!-- end generated: {name} -->",
                  text, re.S)
    assert m, f"docs/configuration.md has no generated section '{name}'"
    return m.group(1)


@pytest.mark.parametrize("name, make", [
    ("tables", reference),
    ("ownership", lambda: ownership_table(all_rules().values())),
])
def test_generated_section_is_up_to_date(name, make):
    assert _generated(name) == make()


def test_every_table_and_key_is_in_the_reference():
    text = _generated("tables")
    for table in TABLES:
        section = text.split(f"#### `[[{table.name}]]`")[1].split("####")[0]
        assert [re.match(r"\| `([\w-]+)`", row).group(1) for row in section.splitlines()
                if row.startswith("| `")] == [k.name for k in table.keys]


def test_the_architecture_lists_the_packages_and_names_real_modules():
    with open(os.path.join(REPO, "docs", "architecture.md"), encoding="utf-8") as f:
        text = f.read()
    layout = text.split("```")[1]
    listed = {line.split()[0] for line in layout.splitlines() if line.startswith("qlint/")}
    package = os.path.join(REPO, "qlint")
    assert listed == {f"qlint/{name}" for name in os.listdir(package)
                      if os.path.isfile(os.path.join(package, name, "__init__.py"))}
    named = set(re.findall(r"`(qlint/[\w/]+\.py)`", text))
    assert {"qlint/pack/schema.py", "qlint/analysis/violations.py",
            "qlint/rules/dispatch.py"} <= named
    assert [path for path in sorted(named) if not os.path.isfile(os.path.join(REPO, path))] == []

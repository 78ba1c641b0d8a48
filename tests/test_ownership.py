"""One owner for every kind of violation: each cell (table x kind x by x shape) that an entry of
the pack format can produce is reported by exactly one rule, or deliberately not reported; a
cell without an owner is an error when the packs are loaded. And a rule can be one entry of a
configuration: blk_drain() excluded from coroutines by name."""
from __future__ import annotations

import itertools

import pytest

from conftest import findings, qlint, trace

from qlint import cli
from qlint.analysis.cells import Cell, cells, entry_cells
from qlint.config import Config, build_pack, load
from qlint.errors import QlintError
from qlint.pack.model import Origin
from qlint.pack.schema import REQUIRED, TABLES
from qlint.rules import registry
from qlint.rules.dispatch import NOT_REPORTED, check_ownership, owners
from qlint.rules.modern_rules import NoCoroutineFnInCoroutine

KINDS = {"L": "lock", "S": "section", "C": "context"}


def _sample(key):
    # A pattern with the groups a lock in a field needs ([[written]] field-of) serves all.
    return {"string": "f", "strings": ["f"], "matchers": ["f"], "count": 0, "counts": [0],
            "flag": False, "prose": "", "patterns": ["(?P<param>f)->(?P<field>f)"],
            "kind": "requires", "kinds": ["requires"], "evidence": [], "condition": "f"}[key.type]


def _entries(table):
    """Every entry of `table` that differs in what it can produce: each way to satisfy its
    one_of and any_of, each kind of lock, section or context its references name."""
    choices = [[(k,) for k in group] for group in (table.one_of, table.any_of) if group]
    for chosen in itertools.product(*choices):
        given = [k for k in table.keys if k.default is REQUIRED or any(k.name in c for c in chosen)]
        named = [k for k in given if k.refers in ("lock", "section")]
        for names in itertools.product(KINDS, repeat=len(named)):
            item = {k.name: _sample(k) for k in given}
            item.update({k.name: name if k.type == "string" else [name]
                         for k, name in zip(named, names)})
            yield from table.entries(item, Origin("test.toml", 1, "test", table.name))


def test_every_violation_the_pack_format_can_produce_has_exactly_one_owner():
    table = owners(registry.all_rules().values())
    produced = set()
    for pack_table in TABLES:
        for entry in _entries(pack_table):
            for cell in entry_cells(entry, KINDS):
                produced.add(cell)
                assert len(table.get(cell, [])) == 1, (pack_table.name, cell, table.get(cell))
    # An optional key that adds a cell: a lock that functions assert (switch_attribute).
    lock = next(t for t in TABLES if t.name == "lock")
    asserted = {cell for entry in lock.entries({"name": "L", "acquire": ["a"], "release": ["r"],
                                                "switch_attribute": ["s"]},
                                               Origin("test.toml", 1, "test", "lock"))
                for cell in entry_cells(entry, KINDS)} - produced
    assert asserted == {Cell("requires", "lock", "attribute", "asserted")}
    assert table[Cell("requires", "lock", "attribute", "asserted")] == ["QL303"]
    produced |= asserted
    # Nobody owns a cell that cannot happen (a misspelt shape, a kind no table names).
    assert produced == set(table)
    # requires 21, excludes 18, contract 3, lock and section balance 8, across-deferral 2
    assert len(produced) == 55


def test_what_is_deliberately_not_reported_is_listed_with_the_reason():
    assert sorted(NOT_REPORTED) == [
        Cell("excludes", "context", "attribute", "entry"),
        Cell("requires", "context", "attribute", "entry"),
        Cell("requires", "lock", "attribute", "entry"),
        Cell("requires", "section", "attribute", "entry")]
    assert all(NOT_REPORTED.values())


def test_the_owners_of_coroutine_context():
    table = owners(registry.all_rules().values())
    context = {cell: who for cell, who in table.items() if cell.kind == "context"}
    assert {cell: who[0] for cell, who in context.items()} == {
        Cell("requires", "context", "name", "entry"): "QL301",
        Cell("requires", "context", "attribute", "entry"): "not reported",
        Cell("requires", "context", "attribute", "undeclared"): "QL301",
        Cell("requires", "context", "attribute", "passed"): "QL301",
        Cell("requires", "context", "attribute", "annotatable"): "QL304",
        Cell("excludes", "context", "name", "entry"): "QL302",
        Cell("excludes", "context", "name", "local"): "QL302",
        Cell("excludes", "context", "name", "inherited"): "QL302",
        Cell("excludes", "context", "attribute", "entry"): "not reported",
        Cell("excludes", "context", "attribute", "local"): "QL302",
        Cell("excludes", "context", "attribute", "inherited"): "QL302",
        Cell("contract", "context", "", "registration"): "QL301"}


BLK_DRAIN = ('[[excludes]]   # blk_drain() polls for requests a coroutine would wait for\n'
             'function = "blk_drain"\nlock = "coroutine-context"\n')


class NoCoroutineFnOnly(NoCoroutineFnInCoroutine):
    """QL302 as it was: calls of no_coroutine_fn functions only, none excluded by name."""
    owns = cells("excludes", "context", "attribute", ("local", "inherited"))


def _without_exclusion_by_name() -> list:
    return [NoCoroutineFnOnly if r.code == "QL302" else r for r in registry.RULES]


UNOWNED = ("{cfg}:2: [[excludes]] no rule reports a violation of it: excludes a context (by "
           "name), unmet on a path from an entry point (every kind of violation needs exactly "
           "one owner)")


def test_a_violation_nobody_reports_is_an_error_naming_the_entry(tmp_path):
    cfg = tmp_path / "qlint.toml"
    cfg.write_text("# a rule by name\n" + BLK_DRAIN)
    pack = build_pack(load(str(cfg)))
    with pytest.raises(QlintError) as error:
        check_ownership(pack, _without_exclusion_by_name())
    assert str(error.value) == UNOWNED.format(cfg=cfg)
    with pytest.raises(QlintError) as error:
        check_ownership(pack, list(registry.RULES) + [NoCoroutineFnOnly])
    assert str(error.value).endswith(
        "qemu-modern.toml:67: [[excludes]] 2 rules report one violation of it (QL302, QL302): "
        "excludes a context (by attribute), unmet at a call in a function that ended (or holds) "
        "it itself (every kind of violation needs exactly one owner)")


def test_qlint_rules_says_so_too(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "qlint.toml"
    cfg.write_text("# a rule by name\n" + BLK_DRAIN)
    monkeypatch.setattr(registry, "RULES", tuple(_without_exclusion_by_name()))
    assert cli._run(["rules", "--config", str(cfg)]) == 2
    assert capsys.readouterr().err == f"qlint: error: {UNOWNED.format(cfg=cfg)}\n"


def test_the_built_in_packs_load_with_every_violation_owned():
    check_ownership(build_pack(Config()), registry.all_rules().values())


CASE = "fixtures/modern/excluded-by-name"


def test_one_configuration_entry_is_a_rule(tmp_path):
    """`[[excludes]] function = "blk_drain"` on coroutine context, and nothing else: QL302
    reports the call in a coroutine_fn, the one through a helper, and the one on a path from
    a coroutine's entry function."""
    cfg = tmp_path / "qlint.toml"
    cfg.write_text(BLK_DRAIN)
    path = f"{CASE}/before/drain.c"
    run = qlint("check", f"{CASE}/before", "--config", str(cfg), "--format", "json", "--jobs", "1")
    assert run.code == 1
    assert findings(run) == [("QL302", path, 14, "job_co_commit"),
                             ("QL302", path, 20, "job_quiesce"),
                             ("QL302", path, 25, "job_co_stop")]
    assert [f["message"] for f in run.json["findings"]] == [
        "blk_drain() must not run in a coroutine, but job_co_commit() calls it in coroutine "
        "context",
        "blk_drain() must not run in a coroutine, but it does on this path from coroutine "
        "job_entry()",
        "blk_drain() must not run in a coroutine, but job_co_stop() reaches it in coroutine "
        "context"]
    assert [trace(f) for f in run.json["findings"]] == [
        [("job_co_commit", 12), ("job_co_commit", 14)],
        [("job_entry", 29), ("job_entry", 31), ("job_quiesce", 20)],
        [("job_co_stop", 23), ("job_co_stop", 25), ("job_quiesce", 20)]]
    after = qlint("check", f"{CASE}/after", "--config", str(cfg), "--format", "json")
    assert (after.code, after.json["findings"]) == (0, [])
    without = qlint("check", f"{CASE}/before", "--format", "json")
    assert (without.code, without.json["findings"]) == (0, [])

"""The [[protects]] table: loaded and validated like the other rule-pack tables."""
from __future__ import annotations

import pytest

from conftest import qlint
from qlint.config import build_pack, load
from qlint.pack.load import load_builtin

FIX = "fixtures/core/two-entries"


def test_builtin_pack_declares_the_linux_aio_fields_protected_by_the_aiocontext_lock():
    protects = load_builtin().protects
    assert [(p.lock, p.origin.pack) for p in protects] == [("AioContext", "qemu-aiocontext")]
    assert protects[0].fields == (
        "LinuxAioState.io_q.in_flight", "LinuxAioState.io_q.in_queue",
        "LinuxAioState.io_q.plugged", "LinuxAioState.io_q.blocked",
        "LinuxAioState.event_idx", "LinuxAioState.event_max")


@pytest.mark.parametrize("config, message", [
    ("[[protects]]\nlock = 'NoSuchLock'\nfields = ['S.f']\n",
     "2: [[protects]] names unknown lock 'NoSuchLock'"),
    ("[[protects]]\nlock = 'AioContext'\nfields = []\n",
     "2: [[protects]] 'fields' must name at least one field"),
    ("[[protects]]\nlock = 'AioContext'\n", "2: [[protects]] missing key 'fields'"),
    ("[[protects]]\nlock = 'AioContext'\nfields = [1]\n",
     "2: [[protects]] 'fields' must be a list of strings"),
    ("[[protects]]\nlock = 'AioContext'\nfields = ['S.f']\nwhy = 'x'\n",
     "2: [[protects]] unknown key 'why'"),
])
def test_bad_protects_table(tmp_path, config, message):
    cfg = tmp_path / "qlint.toml"
    cfg.write_text("# test\n" + config)
    run = qlint("check", FIX, "--config", str(cfg))
    assert run.code == 2
    assert run.err == f"qlint: error: {cfg}:{message}\n"


def test_protects_in_a_configuration_adds_to_the_pack(tmp_path):
    cfg = tmp_path / "qlint.toml"
    cfg.write_text("[[protects]]\nlock = 'AioContext'\nfields = ['State.pending']\n")
    pack = build_pack(load(str(cfg)))
    assert [(p.lock, p.fields, p.origin.pack, p.origin.line) for p in pack.protects][1:] == [
        ("AioContext", ("State.pending",), "config", 1)]

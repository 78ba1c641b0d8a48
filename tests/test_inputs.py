"""Bad input: exact one-line errors and exit codes."""
from __future__ import annotations

import json
import os

import pytest

from conftest import qlint

FIX = "fixtures/core/two-entries"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_nonexistent_path_is_a_usage_error():
    run = qlint("check", "no/such/dir")
    assert run.code == 2
    assert run.err == "qlint: error: no/such/dir: no such file or directory\n"
    assert run.out == ""


def test_not_a_c_file(tmp_path):
    p = write(tmp_path / "notes.txt", "hello\n")
    run = qlint("check", p)
    assert run.code == 2
    assert run.err == f"qlint: error: {p}: not a C source file (.c), header (.h) or included source (.inc)\n"


@pytest.mark.parametrize("content, message", [
    ("", "compile database is empty"),
    ("{not json", "not valid JSON: line 1: Expecting property name enclosed in double quotes"),
    ('{"a": 1}', "expected a JSON array of compile commands"),
    ('[{"file": "a.c", "command": "cc a.c"}]', "entry 0: missing or invalid 'directory'"),
    ('[{"directory": "/", "command": "cc a.c"}]', "entry 0: missing or invalid 'file'"),
    ('[{"directory": "/", "file": "a.c"}]', "entry 0: needs 'arguments' or 'command'"),
    ('[{"directory": "/", "file": "a.c", "arguments": []}]',
     "entry 0: 'arguments' must be a non-empty list of strings"),
    ('[42]', "entry 0: expected an object"),
])
def test_broken_compile_database(tmp_path, content, message):
    build = tmp_path / "build"
    build.mkdir()
    db = write(build / "compile_commands.json", content)
    run = qlint("check", FIX, "-p", str(build))
    assert run.code == 2
    assert run.err == f"qlint: error: {db}: {message}\n"


def test_build_dir_without_database(tmp_path):
    run = qlint("check", FIX, "-p", str(tmp_path))
    assert run.code == 2
    assert run.err == f"qlint: error: {tmp_path}: no compile_commands.json in build directory\n"


def test_unknown_rule_code():
    run = qlint("check", FIX, "--select", "QL999")
    assert run.code == 2
    assert run.err == "qlint: error: unknown rule code 'QL999' (see `qlint rules`)\n"


def test_exit_zero_and_select():
    assert qlint("check", FIX, "--exit-zero").code == 0
    run = qlint("check", FIX, "--select", "QL103", "--format", "json")
    assert run.code == 0 and run.json["findings"] == []


@pytest.mark.parametrize("config, message", [
    ("colour = 1\n", "2: unknown key 'colour'"),
    ("jobs = 'many'\n", "2: 'jobs' must be a positive integer"),
    ("[[requires]]\nfunction = 'f'\nlock = 'NoSuchLock'\n",
     "2: [[requires]] names unknown lock 'NoSuchLock'"),
    ("[[lock]]\nname = 'L'\nacquire = 'a'\n", "2: [[lock]] missing key 'release'"),
    ("[[lock]]\nname = 'L'\nacquire = ['a(']\nrelease = ['b']\n",
     "2: [[lock]] 'acquire': not a function matcher: 'a('"),
    ("[[callback]]\napi = 'x'\nargs = [1]\nentry = 'nowhere'\n",
     "2: [[callback]] names unknown entry kind 'nowhere' (declare it with [[entry]] kind = \"nowhere\")"),
    ("[[contract]]\nfunction = 'f'\nattribute = 'GRAPH_RDLOCK'\nholds = ['AioContext']\n",
     "2: [[contract]] needs 'function' or 'attribute' (one of them)"),
    ("[[contract]]\nattribute = 'GRAPH_RDLOCK'\n", "2: [[contract]] needs 'holds' or 'accepts'"),
    ("[[contract]]\nfunction = 'f'\naccepts = ['nolock']\n",
     "2: [[contract]] accepts unknown lock 'nolock'"),
    ("[[callback]]\napi = 'x'\nargs = [0]\nentry = 'bh'\nholds = ['AioContext']\n",
     "2: [[callback]] 'holds' needs invoke = true (an entry point's locks are its [[entry]] kind's)"),
    ("[[boundary]]\nreason = 'r'\n", "2: [[boundary]] missing key 'function'"),
    ("[[boundary]]\nfunction = 'f'\nholds = ['BQL']\n", "2: [[boundary]] unknown key 'holds'"),
    ("[[requires]]\nfunction = 1\nlock = 'AioContext'\n",
     "2: [[requires]] 'function' must be a list of strings"),
    ("[[entry]]\nkind = 'bh'\nholds = ['NoLock']\n", "2: [[entry]] holds unknown lock 'NoLock'"),
    ("[[inside]]\nfunction = 'f'\nsection = 'nosection'\n",
     "2: [[inside]] names unknown section 'nosection'"),
    ("[[across-deferral]]\nsection = 'nosection'\nrequires = 'AioContext'\n",
     "2: [[across-deferral]] names unknown section 'nosection'"),
    ("[[section]]\nname = 'S'\nbegin = ['a']\nend = ['b']\ncolour = 1\n",
     "2: [[section]] unknown key 'colour'"),
    ("[[assume]]\ncondition = '* != qemu_get_aio_context()'\nholds = ['AioContext']\n",
     "2: [[assume]] 'condition': '* != qemu_get_aio_context()': '*' stands for one side of '==' "
     "only (\"* == X\")"),
    ("[[lock]\n", "invalid TOML: Expected ']]' at the end of an array declaration (at line 2, column 7)"),
])
def test_bad_configuration(tmp_path, config, message):
    cfg = write(tmp_path / "qlint.toml", "# test\n" + config)
    run = qlint("check", FIX, "--config", cfg)
    assert run.code == 2
    sep = ":" if message[0].isdigit() else ": "
    assert run.err == f"qlint: error: {cfg}{sep}{message}\n"


def test_file_outside_the_database_is_parsed_in_degraded_mode(tmp_path):
    src = tmp_path / "extra.c"
    src.write_text('#include "qemu/fixture-state.h"\n'
                   "static void bh(void *o) { qemu_laio_process_completions(o); }\n"
                   "void init(State *s) { aio_bh_new(s->ctx, bh, s); }\n")
    run = qlint("check", str(src), "-p", "fixtures", "-I", "fixtures/include", "--format", "json")
    assert run.code == 1
    assert f"qlint: warning: {src}: not in fixtures/compile_commands.json; parsed in degraded mode\n" in run.err
    assert [(f["rule"], f["line"]) for f in run.json["findings"]] == [("QL101", 2)]
    assert run.json["stats"]["degraded_tus"] == 1


def test_degraded_mode_without_any_database_is_announced(tmp_path):
    tree = tmp_path / "tree"
    (tree / "include" / "qemu").mkdir(parents=True)
    for name in ("qemu-like.h", "fixture-state.h"):
        (tree / "include" / "qemu" / name).write_text(
            open(os.path.join("fixtures", "include", "qemu", name)).read())
    (tree / "block").mkdir()
    (tree / "block" / "ok.c").write_text('#include "qemu/fixture-state.h"\nint f(void) { return 0; }\n')
    (tree / "block" / "bad.c").write_text('#include "qemu/fixture-state.h"\nint g(void) { return }\n')
    run = qlint("check", str(tree / "block"), "--format", "json")
    assert run.code == 1                                      # the parse error is a finding
    assert run.err == ("qlint: warning: no compile_commands.json found: degraded mode, include "
                       "paths guessed (-p BUILD_DIR points at a configured build); the program is "
                       "the checked files alone (no configuration file or git work tree marks a "
                       "project)\n")
    stats = run.json["stats"]
    assert (stats["tus"], stats["tus_with_errors"], stats["degraded_tus"]) == (2, 1, 2)
    bad = os.path.relpath(tree / "block" / "bad.c")          # JSON holds no absolute path
    assert run.json["problems"] == [{"path": bad, "kind": "parse-errors", "errors": 1,
                                     "message": f"{bad}:2:22: expected expression"}]
    assert [(f["rule"], f["path"], f["line"], f["column"], f["message"])
            for f in run.json["findings"]] == [
        ("QL000", bad, 2, 22, "expected expression (1 parse error(s): the translation unit is "
                              "analysed only in part)")]


def test_compile_command_forms_and_flag_cleaning(tmp_path):
    from qlint.frontend import compdb
    db = write(tmp_path / "compile_commands.json", json.dumps([
        {"directory": str(tmp_path), "file": "a.c",
         "command": "cc -Iinc -MD -MQ x -MF a.d -o a.o -c a.c -DX=1"},
        {"directory": "sub", "file": "b.c", "arguments": ["gcc", "-isystem", "sys", "b.c"]},
        {"directory": str(tmp_path), "file": "a.c", "command": "cc -DDUP a.c"},
    ]))
    d = compdb.load(db)
    a = d.job(str(tmp_path / "a.c"))
    assert a.args == (f"-I{tmp_path}/inc", "-DX=1")
    b = d.job(str(tmp_path / "sub" / "b.c"))
    assert b.args == ("-isystem", f"{tmp_path}/sub/sys")
    assert b.notes == [f"relative directory taken relative to {tmp_path}"]
    assert d.duplicates == [str(tmp_path / "a.c")]

"""qlint executes nothing it reads, writes only its cache and the requested output, refuses an
unsafe cache directory, and writes no absolute path into JSON or SARIF unless asked."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from conftest import REPO, qlint
from fixture_trees import bh_source, make_tree, write
from qemu_trees import qemu_tree

CALL = "    qemu_laio_process_completions(s);\n"
PWNED = "pwned"                       # every marker's name starts with it


def markers(*roots) -> list[str]:
    return sorted(os.path.join(d, n) for root in roots for d, dirs, files in os.walk(root)
                  for n in files + dirs if n.startswith(PWNED))


def evil_tools(directory, marker: str) -> str:
    """Compilers that leave a marker when run, and a clang plugin that does when loaded."""
    os.makedirs(directory)
    for name in ("cc", "gcc", "clang", "evil-cc"):
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\ntouch {marker}-{name}\n")
        os.chmod(path, 0o755)
    if shutil.which("cc"):
        source = os.path.join(directory, "plugin.c")
        with open(source, "w") as f:
            f.write('#include <stdio.h>\n__attribute__((constructor)) static void run(void)\n'
                    f'{{ fclose(fopen("{marker}-plugin", "w")); }}\n')
        subprocess.run(["cc", "-shared", "-fPIC", "-o", os.path.join(directory, "plugin.so"),
                        source], check=True)
    return directory


def test_nothing_from_the_compile_database_or_the_configuration_is_executed(tmp_path):
    root = make_tree(tmp_path / "tree", {"a.c": bh_source(CALL), "b.c": bh_source(CALL),
                                         f"c $(touch {PWNED}-file).c": bh_source(CALL),
                                         "other.c": bh_source(CALL)})
    marker = str(tmp_path / PWNED)
    tools = evil_tools(str(tmp_path / "tools"), marker)
    shell = f"$(touch {marker}-subst) `touch {marker}-tick`; touch {marker}-semi | touch {marker}-pipe"
    odd_dir = os.path.join(root, f"d $(touch {PWNED}-dir)")
    os.makedirs(odd_dir)
    db = [
        {"directory": root, "file": "a.c",
         "command": f"{tools}/evil-cc -Iinclude '-DX={shell}' -c a.c && touch {marker}-and"},
        {"directory": root, "file": "b.c",
         "arguments": [f"{tools}/evil-cc", "-Iinclude", f"-D{shell}", f"-fplugin={tools}/plugin.so",
                       "-Xclang", "-load", "-Xclang", f"{tools}/plugin.so", "-B", tools,
                       "-c", "b.c"]},
        {"directory": odd_dir, "file": f"../c $(touch {PWNED}-file).c",
         "arguments": ["cc", "-I../include", f"../c $(touch {PWNED}-file).c"]},
    ]
    write(root, "build/compile_commands.json", json.dumps(db))
    write(root, ".qlint.toml", f'include = ["$(touch {marker}-include)"]\n'
                               f'define = ["Y=`touch {marker}-define`"]\n'
                               f'exclude = ["*; touch {marker}-exclude"]\n')
    env = {"PATH": f"{tools}:{os.environ['PATH']}", "CC": f"{tools}/cc"}
    run = qlint("check", ".", "other.c", "--format", "json", "--jobs", "1",
                "--cache-dir", str(tmp_path / "cache"), cwd=root, env=env)
    assert markers(tmp_path, REPO) == []
    assert run.code == 1, run.err
    found = {f["path"] for f in run.json["findings"]}
    failed = {p["path"] for p in run.json["problems"] if p["kind"] == "failed"}
    assert {"a.c", "b.c", f"c $(touch {PWNED}-file).c", "other.c"} <= found | failed
    assert "other.c" in found and "b.c" in found       # degraded with the config's flags; plugins


def test_the_tools_would_leave_markers():
    """The check above can fail: the same tools run by a shell do leave their markers."""
    root = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"qlint-safety-{os.getpid()}")
    try:
        tools = evil_tools(os.path.join(root, "tools"), os.path.join(root, PWNED))
        subprocess.run(f"{tools}/evil-cc; touch {root}/{PWNED}-semi", shell=True, check=True)
        names = {os.path.basename(m) for m in markers(root)}
        assert {f"{PWNED}-evil-cc", f"{PWNED}-semi"} <= names
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- writes -------------------------------------------------------------------------------

def snapshot(*roots) -> dict:
    """(mtime, size, mode) of every file and directory below the roots."""
    out = {}
    for root in roots:
        for d, dirs, files in os.walk(root):
            for path in [d] + [os.path.join(d, n) for n in dirs + files]:
                st = os.lstat(path)
                out[path] = (st.st_mtime_ns, st.st_size, st.st_mode)
    return out


def changed_outside(before: dict, after: dict, allowed: list[str]) -> list[str]:
    """What changed besides the allowed paths, what lies below them, and the directories
    they were created in."""
    parents = {os.path.dirname(a) for a in allowed}
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p)
                  and p not in parents and not any(p == a or p.startswith(a + os.sep)
                                                   for a in allowed))


WRITING_FLAGS = ["-MD", "-MF", "dep.d", "-Wp,-MMD,wp.d", "-Xclang", "-dependency-file", "-Xclang",
                 "xclang.d", "-Xclang", "-MT", "-Xclang", "x", "-Xclang", "-header-include-file",
                 "-Xclang", "headers.txt", "-H", "-Xclang", "-module-dependency-dir", "-Xclang",
                 "moddeps", "-fmodules", "-fmodules-cache-path=modcache", "-ftime-trace",
                 "-save-temps", "--serialize-diagnostics", "diag.dia", "-o", "a.o"]


def writing_tree(tmp_path) -> str:
    """A tree whose compile database asks for every output a compiler can write."""
    root = make_tree(tmp_path / "tree", {"a.c": '#include <stddef.h>\n' + bh_source(CALL)})
    db = [{"directory": root, "file": "a.c",
           "arguments": ["cc", "-Iinclude", *WRITING_FLAGS, "-c", "a.c"]}]
    write(root, "build/compile_commands.json", json.dumps(db))
    return root


@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "read-only"])
def test_a_run_writes_only_its_cache_and_its_output(tmp_path, read_only):
    root = writing_tree(tmp_path)
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "TMPDIR": str(home)}
    cache, out = tmp_path / "cache", tmp_path / "out"
    out.mkdir()
    if read_only:
        subprocess.run(["chmod", "-R", "a-w", root], check=True)
    try:
        before = snapshot(tmp_path)
        for fmt in ("json", "sarif", "text"):           # cold, then warm twice
            run = qlint("check", "a.c", "--format", fmt, "-o", str(out / f"r.{fmt}"),
                        "--cache-dir", str(cache), cwd=root, env=env)
            assert run.code == 1, run.err
            assert "include" not in run.err              # -H printed nothing
        after = snapshot(tmp_path)
    finally:
        subprocess.run(["chmod", "-R", "u+w", root], check=True)
    assert changed_outside(before, after, [str(cache), str(out)]) == []
    assert sorted(os.listdir(out)) == ["r.json", "r.sarif", "r.text"]


def test_the_default_cache_lies_under_the_build_directory(tmp_path):
    root = writing_tree(tmp_path)
    before = snapshot(tmp_path)
    run = qlint("check", "a.c", "--format", "json", cwd=root, env={"HOME": str(tmp_path)})
    assert run.code == 1, run.err
    cache = os.path.join(root, "build", "qlint-cache")
    assert changed_outside(before, snapshot(tmp_path), [cache]) == []
    assert os.path.isdir(os.path.join(cache, "tu"))


# ---- the cache directory --------------------------------------------------------------------

def refusal(tmp_path, root, cache_dir=None) -> str:
    args = ["--cache-dir", str(cache_dir)] if cache_dir else []
    run = qlint("check", "a.c", "--format", "json", *args, cwd=root)
    assert run.code == 2, run.err
    return run.err


def test_the_default_cache_directory_is_refused_when_it_is_a_symlink(tmp_path):
    root = make_tree(tmp_path / "tree", {"a.c": bh_source(CALL)})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    link = os.path.join(root, "build", "qlint-cache")
    os.symlink(elsewhere, link)
    assert refusal(tmp_path, root) == \
        f"qlint: error: {link}: cache directory is a symbolic link; refusing to use it\n"
    assert os.listdir(elsewhere) == []


def test_a_cache_directory_of_another_user_is_refused(tmp_path):
    if os.getuid() != 0:
        pytest.skip("giving a directory to another user needs root")
    root = make_tree(tmp_path / "tree", {"a.c": bh_source(CALL)})
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    assert refusal(tmp_path, root, theirs) == \
        f"qlint: error: {theirs}: cache directory belongs to another user; refusing to use it\n"
    assert os.listdir(theirs) == []


def test_a_symlink_above_the_cache_directory_is_followed(tmp_path):
    """Only the cache directory itself is checked, once resolved: a parent that is a symlink
    (a home or cache directory moved to another disk) is the user's own setup."""
    root = make_tree(tmp_path / "tree", {"a.c": bh_source(CALL)})
    disk = tmp_path / "disk"
    (disk / "qlint").mkdir(parents=True, mode=0o700)
    os.symlink(disk, tmp_path / "cache-link")
    run = qlint("check", "a.c", "--format", "json", "--cache-dir",
                str(tmp_path / "cache-link" / "qlint"), cwd=root)
    assert run.code == 1, run.err
    assert os.path.isdir(disk / "qlint" / "tu")
    assert stat.S_IMODE(os.stat(disk / "qlint" / "tu").st_mode) == 0o700


# ---- absolute paths -----------------------------------------------------------------------------

def strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value


def absolute_strings(report: str, *prefixes) -> list[str]:
    """Strings of the report that hold an absolute path or one of the prefixes."""
    bad = ("file://",) + tuple(p for p in prefixes if p)
    return sorted({s for s in strings(json.loads(report))
                   if s.startswith("/") or any(b in s for b in bad)})


def reports(cwd, paths, cache, *extra) -> dict[str, str]:
    """JSON and SARIF reports of `paths`, with `cache` as the cache directory (None: the
    default one)."""
    out = {}
    where = ("--cache-dir", str(cache)) if cache is not None else ()
    for fmt in ("json", "sarif"):
        run = qlint("check", *paths, "--format", fmt, *where, *extra, cwd=cwd)
        assert run.code in (0, 1), run.err
        out[fmt] = run.out
    return out


def test_no_absolute_path_in_reports_of_a_tree_outside_the_working_directory(tmp_path):
    """Analysed by absolute path from another directory, with a parse error in a header
    outside it: findings, steps, problems, notifications and the category stay relative."""
    root = make_tree(tmp_path / "tree", {
        "a.c": bh_source(CALL),
        "b.c": '#include "broken.h"\n' + bh_source(CALL).replace("bh", "bh_b")})
    write(root, "include/broken.h", "int broken = ;\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = reports(str(elsewhere), [os.path.join(root, "a.c"), os.path.join(root, "b.c")],
                   tmp_path / "cache")
    for fmt, report in made.items():
        assert absolute_strings(report, str(tmp_path), os.path.expanduser("~")) == [], fmt
    data = json.loads(made["json"])
    assert data["findings"][0]["path"] == "../tree/a.c"
    assert data["problems"][0]["message"].startswith("../tree/include/broken.h:1:")
    absolute = reports(str(elsewhere), [os.path.join(root, "a.c")], tmp_path / "cache",
                       "--absolute-paths")
    assert json.loads(absolute["json"])["findings"][0]["path"] == os.path.join(root, "a.c")
    assert json.loads(absolute["sarif"])["runs"][0]["originalUriBaseIds"] == \
        {"%SRCROOT%": {"uri": f"file://{elsewhere}/"}}


def test_no_absolute_path_in_reports_of_the_fixtures():
    made = reports(REPO, ["fixtures"], os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                    f"qlint-safety-cache-{os.getpid()}"))
    try:
        for fmt, report in made.items():
            assert absolute_strings(report, REPO, os.path.expanduser("~")) == [], fmt
    finally:
        shutil.rmtree(os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                   f"qlint-safety-cache-{os.getpid()}"), ignore_errors=True)


@pytest.mark.qemu
def test_no_absolute_path_in_reports_of_qemu():
    # The tree's own cache: its whole program is analysed by the other `qemu` tests.
    tree = qemu_tree("7.2")
    made = reports(tree, ["block/linux-aio.c", "block/io_uring.c", "util/async.c", "block/qed.c"],
                   None)
    for fmt, report in made.items():
        assert absolute_strings(report, tree, os.path.expanduser("~")) == [], fmt

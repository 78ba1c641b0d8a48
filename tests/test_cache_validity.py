"""When a cached entry may be trusted: a file rewritten with its old size and mtime (tar,
`git archive`, `cp -p`, `rsync -a`, os.utime), a header that appears where the include search
looked, and a file that changes while it is parsed (docs/architecture.md, "Facts cache")."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time

import pytest

from conftest import FIXTURES, findings, qlint

# a.c's bottom half calls COMPLETE(), which header.h defines: as the call that needs the
# AioContext lock (the bug), or as a call of the same length that needs nothing.
BUGGY = "#define COMPLETE(s) qemu_laio_process_completions(s)\n"
FIXED = "#define COMPLETE(s) prepare(s)                      \n"
SOURCE = ('#include "qemu/fixture-state.h"\n'
          '#include "{header}"\n'
          "static void a_bh(void *opaque) {{ {call}; }}\n"
          "void a_init(State *s) {{ aio_bh_new(s->ctx, a_bh, s); }}\n")
BUGGY_CALL = "qemu_laio_process_completions(opaque)"
FIXED_CALL = "prepare(opaque)                      "
FINDING = [("QL101", "src/a.c", 3, "a_bh")]


@pytest.fixture
def tree(tmp_path):
    """src/a.c including qemu/header.h (the fixed macro) from include/, with overlay/ searched
    first (-I overlay -I include) and empty."""
    root = tmp_path / "tree"
    shutil.copytree(os.path.join(FIXTURES, "include"), root / "include")
    (root / "include" / "qemu" / "header.h").write_text(FIXED)
    (root / "overlay").mkdir()
    (root / "src").mkdir()
    write_source(root, header="qemu/header.h", call="COMPLETE(opaque)")
    (root / "build").mkdir()
    db = [{"directory": str(root / "build"), "file": str(root / "src" / "a.c"),
           "arguments": ["cc", "-I", str(root / "overlay"), "-I", str(root / "include"),
                         "-DPAD=0", '-DNEW_HEADER="qemu/new.h"', "-c", str(root / "src" / "a.c")]}]
    (root / "build" / "compile_commands.json").write_text(json.dumps(db))
    return root


def write_source(root, **fields) -> None:
    (root / "src" / "a.c").write_text(SOURCE.format(**fields))


def run(tree):
    return qlint("check", "src", "--format", "json", "-v", cwd=str(tree))


def counts(r) -> str:
    return next(l for l in r.err.splitlines() if "translation unit(s):" in l)


def rewrite_keeping_stat(path, text: str) -> None:
    """Rewrite a file in place with the same size and put its mtime back, as tar, `cp -p`
    and `rsync -a` do: size, mtime and inode are all as before."""
    before = os.stat(path)
    assert len(text.encode()) == before.st_size
    with open(path, "w") as f:
        f.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == \
        (before.st_size, before.st_mtime_ns, before.st_ino)


def drop_results(tree) -> None:
    """Keep the facts, forget the whole-run results: the next run validates every TU."""
    for entry in (tree / "build" / "qlint-cache" / "result").rglob("*.json"):
        entry.unlink()


def test_a_source_rewritten_with_its_size_and_mtime_is_parsed_again(tree):
    write_source(tree, header="qemu/header.h", call=BUGGY_CALL)
    first = run(tree)
    assert (first.code, findings(first)) == (1, FINDING)
    rewrite_keeping_stat(tree / "src" / "a.c",
                         SOURCE.format(header="qemu/header.h", call=FIXED_CALL))
    drop_results(tree)
    again = run(tree)
    assert counts(again) == ("qlint: 1 translation unit(s): 0 from the cache, 1 parsed, "
                             "0 prefix header(s) precompiled, 0 reused")
    assert (again.code, findings(again)) == (0, [])


def test_a_header_rewritten_with_its_size_and_mtime_invalidates_its_includers(tree):
    (tree / "include" / "qemu" / "header.h").write_text(BUGGY)
    first = run(tree)
    assert (first.code, findings(first)) == (1, FINDING)
    rewrite_keeping_stat(tree / "include" / "qemu" / "header.h", FIXED)
    drop_results(tree)
    again = run(tree)
    assert counts(again).startswith("qlint: 1 translation unit(s): 0 from the cache, 1 parsed")
    assert (again.code, findings(again)) == (0, [])


def test_the_whole_result_is_not_reused_after_a_same_size_same_mtime_change(tree):
    (tree / "include" / "qemu" / "header.h").write_text(BUGGY)
    assert findings(run(tree)) == FINDING
    warm = run(tree)
    assert "qlint: nothing changed: the previous result is reused" in warm.err
    assert findings(warm) == FINDING
    rewrite_keeping_stat(tree / "include" / "qemu" / "header.h", FIXED)
    again = run(tree)
    assert "nothing changed" not in again.err
    assert (again.code, findings(again)) == (0, [])


def test_the_compile_database_is_read_whole_every_run(tree):
    """Its flags are part of each TU's key: a same-size, same-mtime edit of a flag counts."""
    (tree / "src" / "a.c").write_text('#include "qemu/fixture-state.h"\n'
                                      "#if PAD\n#define CALL qemu_laio_process_completions\n"
                                      "#else\n#define CALL prepare\n#endif\n"
                                      "static void a_bh(void *opaque) { CALL(opaque); }\n"
                                      "void a_init(State *s) { aio_bh_new(s->ctx, a_bh, s); }\n")
    assert findings(run(tree)) == []
    db = tree / "build" / "compile_commands.json"
    rewrite_keeping_stat(db, db.read_text().replace("-DPAD=0", "-DPAD=1"))
    again = run(tree)
    assert findings(again) == [("QL101", "src/a.c", 7, "a_bh")]


def _archive(tree, path, header_text: str, extract_to) -> None:
    """An archive of the tree to extract in `extract_to`, with `header_text` as the header,
    every member dated the same second (`git archive` of two commits with one committer time)."""
    with tarfile.open(path, "w") as tar:
        for member in sorted(tree.rglob("*")):
            if "qlint-cache" in member.parts:
                continue
            info = tar.gettarinfo(str(member), str(member.relative_to(tree)))
            info.mtime = 1_700_000_000
            data = None
            if member.is_file():
                data = member.read_bytes()
                if member.name == "header.h":
                    data = header_text.encode()
                if member.name == "compile_commands.json":
                    data = data.replace(str(tree).encode(), str(extract_to).encode())
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def test_a_tar_round_trip_over_the_same_folder(tree, tmp_path):
    """`git archive PARENT | tar x`, check, `git archive FIX | tar x` over it, check."""
    work = tmp_path / "work"
    _archive(tree, tmp_path / "parent.tar", BUGGY, work)
    _archive(tree, tmp_path / "fix.tar", FIXED, work)
    work.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "parent.tar"), "-C", str(work)], check=True)
    first = run(work)
    assert (first.code, findings(first)) == (1, FINDING)
    header = work / "include" / "qemu" / "header.h"
    before = os.stat(header)
    subprocess.run(["tar", "-xf", str(tmp_path / "fix.tar"), "-C", str(work)], check=True)
    after = os.stat(header)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = run(work)
    assert "nothing changed" not in again.err
    assert (again.code, findings(again)) == (0, [])


@pytest.mark.parametrize("directive", ['#include "qemu/new.h"', "#include NEW_HEADER",
                                       '#if __has_include("qemu/new.h")\n#include "qemu/new.h"\n'
                                       '#endif'])
def test_a_header_that_was_missing_and_appears(tree, directive):
    write_source(tree, header="qemu/header.h", call="COMPLETE_NEW(opaque)")
    source = tree / "src" / "a.c"
    source.write_text(directive + "\n" + source.read_text())
    first = run(tree)
    if directive.startswith("#include"):
        assert first.json["problems"] == [{
            "path": "src/a.c", "kind": "parse-errors", "errors": 1,
            "message": "src/a.c:1:10: 'qemu/new.h' file not found"}]
    else:
        assert first.json["problems"][0]["message"] == \
            "src/a.c:6:34: call to undeclared function 'COMPLETE_NEW'; ISO C99 and later do " \
            "not support implicit function declarations"
    assert findings(first) == []
    directory = tree / "include" / "qemu"
    dir_before = os.stat(directory)
    (directory / "new.h").write_text(BUGGY.replace("COMPLETE", "COMPLETE_NEW"))
    os.utime(directory, ns=(dir_before.st_atime_ns, dir_before.st_mtime_ns))
    again = run(tree)
    assert again.json["problems"] == []
    assert (again.code, findings(again)) == (1, [("QL101", "src/a.c", 4 + directive.count("\n"),
                                                  "a_bh")])


@pytest.mark.parametrize("shadow", ["overlay", "src"])
def test_a_header_that_appears_earlier_on_the_include_path(tree, shadow):
    """qemu/header.h was found in include/; one created in overlay/ (an earlier -I) or next
    to the including file (searched first for "...") is the one the TU includes now."""
    assert findings(run(tree)) == []
    (tree / shadow / "qemu").mkdir()
    (tree / shadow / "qemu" / "header.h").write_text(BUGGY)
    again = run(tree)
    assert (again.code, findings(again)) == (1, FINDING)


def test_a_file_changed_while_its_tu_is_parsed_is_not_vouched_for(tmp_path):
    """A stat taken at the parse proves nothing about a change in the same clock tick (the
    git index's "racy" entries): the entry of a parse that started less than a tick after
    its file changed is parsed again, whatever the file's stat says then."""
    from qlint.facts.ir import TUFacts
    from qlint.frontend.cache import FactsCache
    from qlint.frontend.compdb import CompileJob
    source = tmp_path / "a.c"
    source.write_text("int a;\n")
    job = CompileJob(str(source), args=[], directory=str(tmp_path))
    cache = FactsCache(str(tmp_path / "cache"))
    cache.parsing()
    cache.store(job, TUFacts(path=str(source)))
    rewrite_keeping_stat(source, "int b;\n")
    assert FactsCache(str(tmp_path / "cache")).peek(job) is None

    time.sleep(0.2)                      # now older than the parse by more than a tick
    cache.parsing()
    cache.store(job, TUFacts(path=str(source)))
    assert FactsCache(str(tmp_path / "cache")).peek(job) is not None

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
# AioContext lock (the bug), or as a call of the same length that needs nothing. header.h is
# included by a.c itself, or ("prefix") by the header both TUs begin with, precompiled.
BUGGY = "#define COMPLETE(s) qemu_laio_process_completions(s)\n"
FIXED = "#define COMPLETE(s) prepare(s)                      \n"
HEADS = {"own": '#include "qemu/fixture-state.h"\n#include "qemu/header.h"\n',
         "prefix": '#include "qemu/all.h"\n/* all.h includes the header */\n'}
BODY = ("static void a_bh(void *opaque) {{ {call}; }}\n"
        "void a_init(State *s) {{ aio_bh_new(s->ctx, a_bh, s); }}\n")
BUGGY_CALL = "qemu_laio_process_completions(opaque)"
FIXED_CALL = "prepare(opaque)                      "
FINDING = [("QL101", "src/a.c", 3, "a_bh")]


@pytest.fixture(params=["own", "prefix"])
def tree(request, tmp_path):
    return make_tree(tmp_path, request.param)


@pytest.fixture
def own_tree(tmp_path):
    return make_tree(tmp_path, "own")


def make_tree(tmp_path, layout: str):
    """src/a.c and src/b.c, which begin with the same header (precompiled once for both);
    a.c uses qemu/header.h (the fixed macro) from include/, which b.c includes only when it
    is in the prefix; overlay/ is searched first (-I overlay -I include) and empty."""
    root = tmp_path / "tree"
    shutil.copytree(os.path.join(FIXTURES, "include"), root / "include")
    (root / "include" / "qemu" / "header.h").write_text(FIXED)
    (root / "include" / "qemu" / "all.h").write_text('#include "qemu/fixture-state.h"\n'
                                                     '#include "qemu/header.h"\n')
    (root / "overlay").mkdir()
    (root / "src").mkdir()
    (root / "src" / "a.c").write_text(HEADS[layout] + BODY.format(call="COMPLETE(opaque)"))
    (root / "src" / "b.c").write_text(HEADS[layout].splitlines()[0] + "\nvoid b_init(void) { }\n")
    (root / "build").mkdir()
    db = [{"directory": str(root / "build"), "file": str(root / "src" / name),
           "arguments": ["cc", "-I", str(root / "overlay"), "-I", str(root / "include"),
                         "-DPAD=0", '-DNEW_HEADER="qemu/new.h"', "-c", str(root / "src" / name)]}
          for name in ("a.c", "b.c")]
    (root / "build" / "compile_commands.json").write_text(json.dumps(db))
    return root


def in_prefix(tree) -> bool:
    return "all.h" in (tree / "src" / "a.c").read_text()


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


def test_a_source_rewritten_with_its_size_and_mtime_is_parsed_again(own_tree):
    source = own_tree / "src" / "a.c"
    source.write_text(HEADS["own"] + BODY.format(call=BUGGY_CALL))
    first = run(own_tree)
    assert (first.code, findings(first)) == (1, FINDING)
    rewrite_keeping_stat(source, HEADS["own"] + BODY.format(call=FIXED_CALL))
    drop_results(own_tree)
    again = run(own_tree)
    assert counts(again) == ("qlint: 2 translation unit(s): 1 from the cache, 1 parsed, "
                             "0 prefix header(s) precompiled, 1 reused")
    assert (again.code, findings(again)) == (0, [])


def test_a_header_rewritten_with_its_size_and_mtime_invalidates_its_includers(tree):
    """Its includers only: a.c, or a.c and b.c when it belongs to their prefix (rebuilt)."""
    (tree / "include" / "qemu" / "header.h").write_text(BUGGY)
    first = run(tree)
    assert (first.code, findings(first)) == (1, FINDING)
    rewrite_keeping_stat(tree / "include" / "qemu" / "header.h", FIXED)
    drop_results(tree)
    again = run(tree)
    assert counts(again) == (
        "qlint: 2 translation unit(s): 0 from the cache, 2 parsed, 1 prefix header(s) "
        "precompiled, 0 reused" if in_prefix(tree) else
        "qlint: 2 translation unit(s): 1 from the cache, 1 parsed, 0 prefix header(s) "
        "precompiled, 1 reused")
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
    assert "nothing changed" in run(tree).err


def test_the_compile_database_is_read_whole_every_run(own_tree):
    """Its flags are part of each TU's key: a same-size, same-mtime edit of a flag counts."""
    (own_tree / "src" / "a.c").write_text(
        '#include "qemu/fixture-state.h"\n'
        "#if PAD\n#define CALL qemu_laio_process_completions\n#else\n#define CALL prepare\n"
        "#endif\nstatic void a_bh(void *opaque) { CALL(opaque); }\n"
        "void a_init(State *s) { aio_bh_new(s->ctx, a_bh, s); }\n")
    assert findings(run(own_tree)) == []
    db = own_tree / "build" / "compile_commands.json"
    rewrite_keeping_stat(db, db.read_text().replace("-DPAD=0", "-DPAD=1"))
    again = run(own_tree)
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
def test_a_header_that_was_missing_and_appears(own_tree, directive):
    """Not found first ("file not found", or a __has_include that was false); created
    next to headers that were found (the directory's mtime put back): found now."""
    source = own_tree / "src" / "a.c"
    source.write_text(directive + "\n" + HEADS["own"] + BODY.format(call="COMPLETE_NEW(opaque)"))
    first = run(own_tree)
    line = 4 + directive.count("\n")
    assert first.json["problems"] == [{
        "path": "src/a.c", "kind": "parse-errors", "errors": 1,
        "message": "src/a.c:1:10: 'qemu/new.h' file not found" if directive.startswith("#include")
        else f"src/a.c:{line}:34: call to undeclared function 'COMPLETE_NEW'; ISO C99 and later "
             f"do not support implicit function declarations"}]
    error_line = 1 if directive.startswith("#include") else line
    assert findings(first) == [("QL000", "src/a.c", error_line, "")]
    directory = own_tree / "include" / "qemu"
    dir_before = os.stat(directory)
    (directory / "new.h").write_text(BUGGY.replace("COMPLETE", "COMPLETE_NEW"))
    os.utime(directory, ns=(dir_before.st_atime_ns, dir_before.st_mtime_ns))
    again = run(own_tree)
    assert again.json["problems"] == []
    assert (again.code, findings(again)) == (1, [("QL101", "src/a.c", line, "a_bh")])


@pytest.mark.parametrize("shadow", ["overlay", "own"])
def test_a_header_that_appears_earlier_on_the_include_path(tree, shadow):
    """qemu/header.h was found in include/qemu/; one created in overlay/ (an earlier -I) or
    next to the file that includes it (searched first for "...": src/ for a.c, include/qemu/
    for all.h) wins now."""
    assert findings(run(tree)) == []
    includer = "include/qemu" if in_prefix(tree) else "src"
    place = tree / ("overlay" if shadow == "overlay" else includer) / "qemu"
    place.mkdir()
    (place / "header.h").write_text(BUGGY)
    again = run(tree)
    assert (again.code, findings(again)) == (1, FINDING)


def _cache(tmp_path, source):
    """store(): the facts of a TU made of `source` alone, as parsed from now; peek(): the
    checksum of their valid entry in a new run."""
    from qlint.facts.ir import TUFacts
    from qlint.frontend.cache import FactsCache
    from qlint.frontend.compdb import CompileJob
    job = CompileJob(str(source), args=[], directory=str(tmp_path))
    cache = FactsCache(str(tmp_path / "cache"))

    def store():
        cache.parsing()
        cache.store(job, TUFacts(path=str(source)))
    return store, lambda: FactsCache(str(tmp_path / "cache")).peek(job)


def _recorded_stat(tmp_path, source):
    entry = next((tmp_path / "cache" / "tu").rglob("*.json"))
    header = json.loads(entry.read_bytes().split(b"\n", 1)[0])
    return next(st for path, st, _digest in header["deps"] if path == str(source))


def test_a_file_written_less_than_100_ms_before_its_parse_is_parsed_again(tmp_path):
    """Its content may have changed while it was parsed, after libclang read it and before
    its hash was taken: the hash cannot vouch for what was parsed."""
    source = tmp_path / "a.c"
    store, peek = _cache(tmp_path, source)
    source.write_text("int a;\n")
    store()
    assert peek() is None
    time.sleep(0.2)
    store()
    assert peek() is not None


def test_a_racy_stat_is_checked_by_content_and_refreshed_once_it_is_old(tmp_path):
    """git's racy entries: a stat whose mtime or ctime is in the clock tick it was taken in
    stays the same through a change in that tick, so it is not recorded; the file is checked
    by content next time, and its stat recorded then, when it can be trusted."""
    source = tmp_path / "a.c"
    store, peek = _cache(tmp_path, source)
    source.write_text("int a;\n")
    os.utime(source, ns=(10**18, 10**18))      # written long ago (mtime), changed now (ctime)
    store()
    assert _recorded_stat(tmp_path, source) is None
    rewrite_keeping_stat(source, "int b;\n")
    assert peek() is None                       # the content check sees the change

    os.utime(source, ns=(10**18, 10**18))      # the ctime is recent again
    store()
    assert _recorded_stat(tmp_path, source) is None
    time.sleep(0.2)
    assert peek() is not None                  # unchanged content
    st = os.stat(source)
    assert _recorded_stat(tmp_path, source) == [st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                                                 st.st_ino, st.st_dev]
    assert peek() is not None


def test_the_include_search_records_each_candidate_before_the_file_found(tmp_path):
    """Quoted: the including file's directory, -iquote, then -I; angled: -I only; an
    #include_next: every candidate; -include: from the compile's directory; a missing
    directory stands for all below it."""
    from qlint.frontend.cache import View
    from qlint.frontend.search import IncludeSearch, system_dirs
    for d in ("src", "quote", "inc/sub", "inc/qemu", "build"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "inc" / "qemu" / "a.h").write_text("#include_next <qemu/a.h>\n")
    (tmp_path / "inc" / "sub" / "b.h").write_text("")
    (tmp_path / "build" / "forced.h").write_text("")
    (tmp_path / "src" / "x.c").write_text('#include "qemu/a.h"\n#include <sub/b.h>\n'
                                          "#if 0\n#include <gone.h>\n#endif\n")
    args = ["-iquote", str(tmp_path / "quote"), f"-I{tmp_path / 'inc'}", "-include", "forced.h"]
    view = View()
    missing, stops = IncludeSearch(view.is_file, view.is_dir).absent(
        args, str(tmp_path / "build"), [str(tmp_path / "src" / "x.c"),
                                        str(tmp_path / "inc" / "qemu" / "a.h")],
        lambda path: open(path, "rb").read())
    t = str(tmp_path)
    ours = {d: missing.pop(d) for d in list(missing) if d.startswith(t)}
    assert ours == {f"{t}/src": {"qemu/"}, f"{t}/quote": {"qemu/"}, f"{t}/inc": {"gone.h"}}
    for d in system_dirs():           # <gone.h>, and all of the #include_next's candidates
        if os.path.isdir(d) and not os.path.exists(os.path.join(d, "qemu")):
            assert missing.pop(d) == {"gone.h", "qemu/"}, d
    assert stops == [f"{t}/build/forced.h", f"{t}/inc/qemu/a.h", f"{t}/inc/sub/b.h"]

"""The incremental facts cache, precompiled prefixes and worker isolation."""
from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
import sys
import time
import zlib

import pytest

from conftest import FIXTURES, qlint


@pytest.fixture
def tree(tmp_path):
    """A small tree: the fixture headers, three TUs of which two include an extra header."""
    root = tmp_path / "tree"
    shutil.copytree(os.path.join(FIXTURES, "include"), root / "include")
    (root / "include" / "qemu" / "extra.h").write_text("int extra(void);\n")
    src = root / "src"
    src.mkdir()
    for name, extra in (("a.c", True), ("b.c", True), ("c.c", False)):
        text = '#include "qemu/fixture-state.h"\n'
        text += '#include "qemu/extra.h"\n' if extra else ""
        text += (f"static void {name[0]}_bh(void *opaque) {{ qemu_laio_process_completions(opaque); }}\n"
                 f"void {name[0]}_init(State *s) {{ aio_bh_new(s->ctx, {name[0]}_bh, s); }}\n")
        (src / name).write_text(text)
    build = root / "build"
    build.mkdir()
    db = [{"directory": str(build), "file": str(src / n),
           "arguments": ["cc", "-I", str(root / "include"), "-std=gnu11", "-c", str(src / n)]}
          for n in ("a.c", "b.c", "c.c")]
    (build / "compile_commands.json").write_text(json.dumps(db))
    return root


def run(tree, *extra, env=None):
    return qlint("check", "src", "--format", "json", "-v", *extra, cwd=str(tree), env=env)


def counts(r) -> str:
    return next(l for l in r.err.splitlines() if "translation unit(s):" in l)


def test_cold_warm_and_a_header_change_invalidates_exactly_its_includers(tree):
    cold = run(tree)
    assert cold.code == 1 and len(cold.json["findings"]) == 3
    assert counts(cold) == ("qlint: 3 translation unit(s): 0 from the cache, 3 parsed, "
                            "1 prefix header(s) precompiled, 0 reused")
    warm = run(tree)
    assert "qlint: nothing changed: the previous result is reused" in warm.err
    assert warm.out == cold.out
    # A content change of the header: a.c and b.c include it, c.c does not.
    (tree / "include" / "qemu" / "extra.h").write_text("int extra(void);\nint more(void);\n")
    again = run(tree)
    assert counts(again) == ("qlint: 3 translation unit(s): 1 from the cache, 2 parsed, "
                             "0 prefix header(s) precompiled, 1 reused")
    assert again.out == cold.out


def _bodies(tree, kind: str) -> list:
    out = []
    for entry in sorted((tree / "build" / "qlint-cache" / kind).rglob("*.json")):
        _header, _nl, body = entry.read_bytes().partition(b"\n")
        out.append(json.loads(zlib.decompress(body)))
    return out


def test_the_prefix_names_are_stored_once_and_given_back_to_every_tu(tree):
    from qlint.facts.codec import decode_tu
    cold = run(tree)
    # The prefix (the fixture header and what it includes) declares the AioContext lock's
    # functions; each TU's entry keeps only the names outside it, the prefix's entry all.
    (prefix,) = _bodies(tree, "pch")
    assert "aio_context_acquire" in prefix["declared"]
    tus = [decode_tu(body) for body in _bodies(tree, "tu")]
    assert [sorted(tu.declared) for tu in sorted(tus, key=lambda t: t.path)] == [
        ["a_bh", "a_init", "extra"], ["b_bh", "b_init", "extra"], ["c_bh", "c_init"]]
    # Analysed again from the entries (no stored result): the pack that needs the prefix's
    # names is active, and the findings are the cold run's.
    shutil.rmtree(tree / "build" / "qlint-cache" / "result")
    warm = run(tree)
    assert counts(warm).startswith("qlint: 3 translation unit(s): 3 from the cache, 0 parsed")
    assert warm.out == cold.out and len(warm.json["findings"]) == 3


def test_touched_but_unchanged_file_is_a_cache_hit(tree):
    run(tree)
    os.utime(tree / "include" / "qemu" / "extra.h")       # new mtime, same content
    os.utime(tree / "src" / "a.c")
    again = run(tree)
    assert "nothing changed" in again.err


def test_a_stored_result_is_checked_against_the_files_not_the_entries(tree):
    # A warm run looks at each file of the program once (its stat), not at every TU's entry:
    # with the entries gone the result still holds; a header changed since does not.
    cold = run(tree)
    shutil.rmtree(tree / "build" / "qlint-cache" / "tu")
    warm = run(tree)
    assert "qlint: nothing changed: the previous result is reused" in warm.err
    assert warm.out == cold.out
    (tree / "include" / "qemu" / "extra.h").write_text("int extra(void);\nint more(void);\n")
    again = run(tree)
    assert counts(again) == ("qlint: 3 translation unit(s): 0 from the cache, 3 parsed, "
                             "0 prefix header(s) precompiled, 1 reused")


def test_corrupt_and_truncated_entries_are_rebuilt(tree):
    run(tree)
    entries = sorted((tree / "build" / "qlint-cache" / "tu").rglob("*.json"))
    assert len(entries) == 3
    entries[0].write_bytes(entries[0].read_bytes()[:-40])          # truncated
    data = bytearray(entries[1].read_bytes())
    data[-5] ^= 0x55                                              # one flipped byte
    entries[1].write_bytes(bytes(data))
    for result in (tree / "build" / "qlint-cache" / "result").rglob("*.json"):
        result.unlink()
    again = run(tree)
    assert counts(again).startswith("qlint: 3 translation unit(s): 1 from the cache, 2 parsed")
    assert len(again.json["findings"]) == 3
    assert "nothing changed" in run(tree).err


def test_two_runs_at_once_share_the_cache_safely(tree):
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-m", "qlint", "check", "src", "--format", "json"],
                              cwd=str(tree), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [1, 1]
    reports = [json.loads(o[0]) for o in outs]
    assert reports[0]["findings"] == reports[1]["findings"]
    assert "nothing changed" in run(tree).err


def test_no_cache_and_cache_dir(tree, tmp_path):
    r = run(tree, "--no-cache")
    assert counts(r).startswith("qlint: 3 translation unit(s): 0 from the cache, 3 parsed")
    assert not (tree / "build" / "qlint-cache").exists()
    elsewhere = tmp_path / "cache"
    run(tree, "--cache-dir", str(elsewhere))
    assert len(list((elsewhere / "tu").rglob("*.json"))) == 3


def test_unsafe_cache_directories_are_refused(tree, tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    r = run(tree, "--cache-dir", str(link))
    assert r.code == 2
    assert r.err == f"qlint: error: {link}: cache directory is a symbolic link; refusing to use it\n"
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    r = run(tree, "--cache-dir", str(shared))
    assert r.code == 2
    assert r.err == (f"qlint: error: {shared}: cache directory is writable by other users; "
                     f"refusing to use it\n")


def test_size_bound_prunes_least_recently_used(tmp_path):
    from qlint.frontend.cache import FactsCache
    cache = FactsCache(str(tmp_path / "c"), max_bytes=3000)
    for i in range(10):      # incompressible bodies: entries are stored zlib-compressed
        blob = base64.b64encode(random.Random(i).randbytes(1000)).decode()
        cache.store_result(f"{i:064x}", {"blob": blob})
        os.utime(cache._entry("result", f"{i:064x}"), ns=(i * 10**9, i * 10**9))
    cache.prune()
    left = sorted(p.name for p in (tmp_path / "c" / "result").rglob("*.json"))
    assert left == [f"{i:064x}.json" for i in (8, 9)]


def test_a_crash_and_a_hang_cost_one_tu_each(tree):
    r = run(tree, "--no-cache", "--timeout", "3",
            env={"QLINT_FAULT_INJECT": "crash:a.c"})
    assert r.code == 1
    assert r.json["problems"] == [{"path": "src/a.c", "kind": "failed", "errors": 1,
                                   "message": "libclang crashed while parsing (signal 11)"}]
    assert [(f["rule"], f["path"], f["line"], f["function"], f["message"])
            for f in r.json["findings"]] == [
        ("QL000", "src/a.c", 1, "", "the translation unit is not analysed: libclang crashed "
                                    "while parsing (signal 11)"),
        ("QL101", "src/b.c", 3, "b_bh", r.json["findings"][1]["message"]),
        ("QL101", "src/c.c", 2, "c_bh", r.json["findings"][2]["message"])]
    assert "warning" not in r.err                 # the QL000 finding reports it
    r = run(tree, "--no-cache", "--timeout", "3", env={"QLINT_FAULT_INJECT": "hang:b.c"})
    assert r.json["problems"] == [{"path": "src/b.c", "kind": "failed", "errors": 1,
                                   "message": "parse timed out after 3 s"}]
    assert [(f["rule"], f["function"]) for f in r.json["findings"]] == \
        [("QL101", "a_bh"), ("QL000", ""), ("QL101", "c_bh")]
    assert r.json["stats"]["tus_failed"] == 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_output_is_byte_identical_across_jobs_and_cache_states(tree, jobs):
    cold = run(tree, "--no-cache", "--jobs", jobs)
    first = run(tree, "--jobs", jobs)
    warm = run(tree, "--jobs", "2")
    assert cold.out == first.out == warm.out


def test_a_run_cut_short_keeps_the_facts_it_parsed(tree, tmp_path):
    # b.c stalls its worker; the run is killed while it waits: a.c's and c.c's facts, parsed
    # meanwhile, are in the cache, and the next run parses only b.c.
    import glob
    import signal
    import time
    cache = str(tmp_path / "cache")
    env = dict(os.environ, QLINT_FAULT_INJECT="hang:b.c")
    env.pop("QLINT_DEBUG", None)
    proc = subprocess.Popen([sys.executable, "-m", "qlint", "check", "src", "--jobs", "2",
                             "--timeout", "120", "--cache-dir", cache], cwd=str(tree), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 100
    while len(glob.glob(os.path.join(cache, "tu", "*", "*.json"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    r = run(tree, "--cache-dir", cache)
    assert counts(r) == ("qlint: 3 translation unit(s): 2 from the cache, 1 parsed, "
                         "0 prefix header(s) precompiled, 1 reused")
    assert r.code == 1 and len(r.json["findings"]) == 3


def test_size_bound_keeps_what_this_run_used(tmp_path):
    """One run's facts over the bound (a whole QEMU build) stay: pruning them would make the
    next run parse everything again."""
    from qlint.frontend.cache import FactsCache
    cache = FactsCache(str(tmp_path / "c"), max_bytes=3000)
    for i in range(10):
        blob = base64.b64encode(random.Random(i).randbytes(1000)).decode()
        cache.store_result(f"{i:064x}", {"blob": blob})
        if i < 3:            # left by an earlier run
            os.utime(cache._entry("result", f"{i:064x}"), ns=(i * 10**9, i * 10**9))
    cache.prune()
    left = sorted(p.name for p in (tmp_path / "c" / "result").rglob("*.json"))
    assert left == [f"{i:064x}.json" for i in range(3, 10)]


def _jobs(tmp_path, sources: dict, settle: bool = True):
    """CompileJobs of `sources` ({name: text}) beside a header with a static inline function
    every one includes (each TU's facts have a copy of it: code before the #include keeps it
    out of a precompiled prefix)."""
    from qlint.frontend.compdb import CompileJob
    (tmp_path / "twice.h").write_text("static inline int twice(int x) { return x * 2; }\n")
    jobs = []
    for name, text in sorted(sources.items()):
        (tmp_path / name).write_text('typedef int first_t;\n#include "twice.h"\n' + text)
        jobs.append(CompileJob(str(tmp_path / name), args=["-std=gnu11"],
                               directory=str(tmp_path)))
    if settle:
        time.sleep(0.2)     # older than 100 ms when parsed: an entry can vouch for them
    return jobs


def test_a_cold_collect_reads_back_what_its_workers_stored(tmp_path):
    # The workers store the facts; the parent reads the entries back in path order as a warm
    # run does: the second TU's copy of the header's static function is left out.
    from qlint.frontend.cache import FactsCache
    from qlint.frontend.collect import collect
    jobs = _jobs(tmp_path, {"a.c": "int a(void) { return twice(1); }\n",
                            "b.c": "int b(void) { return twice(2); }\n"})
    cache = FactsCache(str(tmp_path / "cache"))
    cold, stats = collect(jobs, 2, 60.0, cache)
    assert (stats.parsed, stats.cached) == (2, 0)
    names = lambda facts: sorted(f.name for f in facts.functions)  # noqa: E731
    assert [names(cold[job.file]) for job in jobs] == [["a", "twice"], ["b"]]
    warm, stats = collect(jobs, 2, 60.0, FactsCache(str(tmp_path / "cache")))
    assert (stats.parsed, stats.cached) == (0, 2)
    assert [names(warm[job.file]) for job in jobs] == [["a", "twice"], ["b"]]
    # Without a cache the workers send the facts, every copy included (Program drops them).
    bare, _stats = collect(jobs, 2, 60.0, None)
    assert [names(bare[job.file]) for job in jobs] == [["a", "twice"], ["b", "twice"]]


def test_an_entry_another_run_rewrote_is_parsed_again(tmp_path, monkeypatch):
    # What the worker stored no longer reads back (another run wrote the entry since): the
    # TU is parsed again and its facts stored from the parent.
    from qlint.frontend.cache import FactsCache
    from qlint.frontend.collect import collect
    jobs = _jobs(tmp_path, {"a.c": "int a(void) { return twice(1); }\n"})
    cache = FactsCache(str(tmp_path / "cache"))
    stores, loads = [], []
    load, store = cache.load, cache.store
    monkeypatch.setattr(cache, "load", lambda job, seen=None, written="": loads.append(job.file))
    monkeypatch.setattr(cache, "store", lambda *a: stores.append(a[0].file) or store(*a))
    facts, stats = collect(jobs, 1, 60.0, cache)
    assert (loads, stores) == ([jobs[0].file], [jobs[0].file])   # the worker's store: its own
    assert sorted(f.name for f in facts[jobs[0].file].functions) == ["a", "twice"]
    assert stats.parsed == 1
    assert load(jobs[0]) is not None                     # and the parent's is in the cache


def test_a_file_written_just_before_is_read_back_from_what_its_worker_stored(tmp_path,
                                                                            monkeypatch):
    # Its entry cannot vouch for it in the next run (the racy rule), but it is what this run's
    # worker parsed: read back, not parsed a second time.
    from qlint.frontend.cache import FactsCache
    from qlint.frontend.collect import collect
    jobs = _jobs(tmp_path, {"a.c": "int a(void) { return twice(1); }\n"}, settle=False)
    cache = FactsCache(str(tmp_path / "cache"))
    read, load = [], cache.load
    monkeypatch.setattr(cache, "load", lambda *a: read.append(load(*a)) or read[-1])
    facts, _stats = collect(jobs, 1, 60.0, cache)
    assert read == [facts[jobs[0].file]] and read[0] is not None
    assert FactsCache(str(tmp_path / "cache")).peek(jobs[0]) is None     # the next run's view


def test_a_store_that_fails_in_the_worker_loses_nothing(tmp_path, monkeypatch):
    # The worker sends the facts instead; only the entry is missing (parsed again next run).
    from qlint.frontend.cache import FactsCache
    from qlint.frontend.collect import collect
    jobs = _jobs(tmp_path, {"a.c": "int a(void) { return twice(1); }\n"})
    cache = FactsCache(str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "store", lambda *a: 1 / 0)
    facts, stats = collect(jobs, 1, 60.0, cache)
    tu = facts[jobs[0].file]
    assert (tu.problem, sorted(f.name for f in tu.functions), stats.parsed) == \
        ("", ["a", "twice"], 1)
    assert FactsCache(str(tmp_path / "cache")).peek(jobs[0]) is None

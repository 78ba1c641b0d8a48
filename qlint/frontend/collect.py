"""Facts for every compile job: from the cache, or parsed by the workers.

Parsing is made cheaper with a precompiled prefix header: QEMU's TUs all begin with
`#include "qemu/osdep.h"` (hundreds of headers), so the TUs of one flag group that begin with
the same header share one PCH of it, built once by a worker (and cached). A TU for which the PCH
does not fit is parsed without it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from ..files import read_regular
from .cache import code_digest
from .parse import PrefixResult, PrefixTask, TUTask
from .search import named_search_path
from .workers import STORED, run_tasks

_LEADING = re.compile(rb"\A(?:\s+|/\*.*?\*/|//[^\n]*\n)*", re.S)
_INCLUDE = re.compile(rb'#\s*include\s*(["<])([^">]+)[">]')


@dataclass
class CollectStats:
    cached: int = 0
    parsed: int = 0
    prefixes: int = 0                  # precompiled headers built this run
    prefixes_reused: int = 0
    notes: list = field(default_factory=list)


def first_include(path: str, job) -> str | None:
    """The header a TU includes before anything else, resolved like the preprocessor would;
    None if the TU has code, a macro or a conditional before its first #include."""
    try:
        head = read_regular(path, 65536)
    except OSError:
        return None
    m = _INCLUDE.match(head, _LEADING.match(head).end())
    if not m:
        return None
    quoted, name = m.group(1) == b'"', m.group(2).decode("utf-8", "replace")
    for directory in named_search_path(job.args, quoted, os.path.dirname(path)):
        candidate = os.path.normpath(os.path.join(directory, name))
        if os.path.isfile(candidate):
            return candidate
    return None


def collect(jobs, workers: int, timeout: float, cache=None, on_parsed=None):
    """{file: TUFacts} for the jobs, and what it took; `on_parsed(file)` as each TU is parsed.
    Cached facts are decoded in a thread while the workers parse the rest (forks happen in
    this thread; the decoding thread touches nothing a worker uses), and this thread reads
    back the entries the workers store (FactsCache is shared: its memos' updates are atomic)."""
    stats = CollectStats()
    results = {}
    hits = [job for job in jobs if cache is not None and cache.peek(job)]
    hit_files = {job.file for job in hits}
    todo = [job for job in jobs if job.file not in hit_files]
    decoded: dict = {}
    reader = threading.Thread(target=_decode, args=(cache, hits, decoded), daemon=True)
    reader.start()
    if todo:
        results.update(_parse(todo, workers, timeout, cache, stats, on_parsed))
    reader.join()
    late = [job for job in hits if decoded.get(job.file) is None]   # changed meanwhile
    if late:
        results.update(_parse(late, workers, timeout, cache, stats, on_parsed))
    for job in hits:
        if decoded.get(job.file) is not None:
            results[job.file] = decoded[job.file]
            stats.cached += 1
    return {job.file: results[job.file] for job in jobs}, stats


def _decode(cache, hits, out: dict) -> None:
    """Decode the hits in their order (the plan's: by path), leaving out the static functions
    an earlier one brought (decode_tu)."""
    seen: set = set()
    for job in hits:
        out[job.file] = cache.load(job, seen)


def _parse(todo, workers, timeout, cache, stats, on_done) -> dict:
    results = {}
    scratch = None if cache is not None else tempfile.mkdtemp(prefix="qlint-pch-")
    if cache is not None:
        cache.parsing()
    try:
        prefixes = _prefixes(todo, workers, timeout, cache, scratch, stats)
        tasks = [TUTask(job, prefixes[job.file][1] if job.file in prefixes else None)
                 for job in todo]
        by_file = {job.file: job for job in todo}
        store = lambda file, facts: cache.store(by_file[file], facts,  # noqa: E731
                                                prefixes.get(file))
        # Stored as each TU is parsed, by its worker: a cold whole-program run cut short keeps
        # what it parsed, and the parent reads the entry back as a warm run would.
        in_worker = (lambda task, facts: store(task.key, facts)) if cache is not None else None
        run_tasks(tasks, workers, timeout, on_done, in_worker=in_worker,
                  on_result=_in_path_order([task.key for task in tasks], by_file, cache, results))
        # An entry another run rewrote since its worker stored it: parsed again, stored here.
        again = [task for task in tasks if results[task.key] is None]
        results.update(run_tasks(again, workers, timeout, on_result=store))
        stats.parsed += len(todo)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return results


def _in_path_order(order: list, by_file: dict, cache, results: dict):
    """on_result for run_tasks: facts go to `results`; those a worker STORED are read back from
    the cache in `order` (the plan's: by path) as soon as every TU before them has arrived,
    leaving out the static functions an earlier one brought, as _decode does. Decoding those
    copies only for Program to drop them left a cold run's heap a third larger than a warm
    one's (freed objects among kept ones)."""
    stored, seen, done = {}, set(), [0]

    def arrived(file, facts):
        if isinstance(facts, tuple) and facts[0] == STORED:
            stored[file] = facts[1]
        else:
            results[file] = facts
        while done[0] < len(order) and (order[done[0]] in stored or order[done[0]] in results):
            ready = order[done[0]]
            if ready in stored:
                results[ready] = cache.load(by_file[ready], seen, stored.pop(ready))
            done[0] += 1
    return arrived


def _prefixes(todo, workers, timeout, cache, scratch, stats) -> dict:
    """(cache key, PrefixResult) per TU file that can use a prefix: reused from the cache, or
    built for a group of at least two TUs (a PCH pays off only when shared)."""
    groups = defaultdict(list)
    for job in todo:
        # A TU parsed with an overlay (its files as at a revision) is parsed whole: the
        # prefix header was built from the files on disk.
        header = None if job.degraded or job.overlay else first_include(job.file, job)
        if header is not None:
            groups[(job.args, job.directory, header)].append(job)
    plans, tasks = [], []
    for (args, directory, header), members in sorted(groups.items(), key=lambda g: g[0][2]):
        key = _prefix_key(cache, args, directory, header)
        reused = cache.load_prefix(key) if cache is not None else None
        if reused is not None:
            stats.prefixes_reused += 1
            plans.append((key, members, PrefixResult(
                reused["output"], tuple(reused["declared"]), tuple(reused["includes"]),
                statics=tuple(tuple(s) for s in reused.get("statics", ())))))
        elif len(members) >= 2:
            output = cache.pch_path(key) if cache is not None else os.path.join(scratch, key + ".pch")
            task = PrefixTask(header, args, directory, output)
            tasks.append(task)
            plans.append((key, members, task))
    built = run_tasks(tasks, workers, timeout) if tasks else {}
    out = {}
    for key, members, source in plans:
        result = built[source.output] if isinstance(source, PrefixTask) else source
        if isinstance(source, PrefixTask):
            if result.problem:
                stats.notes.append(f"{source.header}: not precompiled: {result.problem}")
                continue
            stats.prefixes += 1
            if cache is not None:
                cache.store_prefix(key, source, result)
        for job in members:
            out[job.file] = (key, result)
    return out


def _prefix_key(cache, args, directory, header) -> str:
    parts = ["pch", code_digest("frontend"), header, list(args), directory]
    if cache is not None:
        return cache.key(*parts)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

"""Fuzz qlint's whole pipeline with mutated real C: front end → IR → analysis → reports.

    python scripts/fuzz.py [--seed N] [--inputs N] [--minutes M] [--jobs N] [--qemu TREE]
                           [--timeout S] [--save DIR]

The corpus is every C file under fixtures/ and a few QEMU 7.2 files (when --qemu names a tree,
or the cached one is there). hypothesis draws mutation plans from a seed: truncation at a byte,
line ranges deleted, duplicated or swapped, tokens inserted (braces, `#if 0`, lock calls, NUL
and non-UTF-8 bytes, very long lines and deep expressions), two files spliced. Each input is
parsed by libclang (with the fixtures' include directory; QEMU files without their build's, so
with errors) and goes through the facts codec, the program, call graph and rules, suppressions
and every report format, in qlint's own worker pool. A failure is an exception, a crash, an
input that takes longer than --timeout (a hang), a report that is not valid UTF-8 or JSON, or a
finding, step or related location outside the input: a file the input neither is nor includes,
or a line past its end. Prints one JSON line of numbers; exits 1 on failures (saved with --save).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qlint import config as configmod  # noqa: E402
from qlint import suppressions  # noqa: E402
from qlint.facts.codec import decode_tu, encode_tu  # noqa: E402
from qlint.frontend.compdb import CompileJob  # noqa: E402
from qlint.frontend.parse import TUTask, _parse, parse_args  # noqa: E402
from qlint.frontend.workers import run_tasks  # noqa: E402
from qlint.pipeline import check_facts, problems_of  # noqa: E402
from qlint.report import github, jsonfmt, sarif, text  # noqa: E402
from qlint.rules.registry import all_rules  # noqa: E402

FIXTURES = os.path.join(REPO, "fixtures")
INCLUDE = os.path.join(FIXTURES, "include")
QEMU_FILES = ("block/linux-aio.c", "block/io.c", "block/mirror.c", "block/qcow2-cluster.c",
              "util/async.c", "block/io_uring.c")
DEFAULT_QEMU = os.path.join(os.environ.get("QLINT_QEMU_CACHE") or
                            os.path.expanduser("~/.cache/qlint/qemu"), "7.2", "qemu-7.2.0")
BATCH = 250
NEWLINE = re.compile(rb"\r\n|\r|\n")          # clang's line ends: a lone CR ends a line too

TOKENS = (
    b"{", b"}", b"(", b")", b";", b",", b"#if 0\n", b"#endif\n", b"#else\n", b"goto out;",
    b"out:", b"return;", b"return 0;", b"break;", b"continue;", b"else", b"do {", b"} while (0);",
    b"aio_context_acquire(ctx);", b"aio_context_release(ctx);", b"qemu_co_mutex_lock(&m);",
    b"qemu_co_mutex_unlock(&m);", b"qemu_mutex_lock(&s->lock);", b"qemu_mutex_unlock(&s->lock);",
    b"aio_bh_new(ctx, cb, s);", b"static void cb(void *opaque) { }",
    b"/* qlint: ignore[QL101] */", b"// qlint: ignore\n", b"/*", b"*/", b'"', b"'", b"\\\n",
    b"#define X(a) a(", b"#include \"qemu/fixture-state.h\"\n", b"#line 999999\n",
    b"switch (x) { case 1:", b"for (;;)", b"while (1) {", b"?", b":", b"&&", b"__attribute__((cleanup(f)))",
    b"\0", b"\xff\xfe", b"\xc3(", b"\xed\xa0\x80", b"\r", b"\t",
)
# Very long lines, and expressions nested deeper than any recursion limit.
LONG_TOKENS = (
    lambda n: b"int v" + b"x" * n + b";",
    lambda n: b"int v = 1" + b" + 1" * n + b";",
    lambda n: b"f(" + b"1 ? 2 : " * min(n, 5000) + b"3);",
    lambda n: b"/*" + b" " * n + b"*/",
)


# ---- inputs -------------------------------------------------------------------------------

def load_corpus(qemu: str | None) -> list[tuple[str, bytes]]:
    """(name, bytes) of the fixtures' C files and, with a QEMU tree, of QEMU_FILES."""
    names = sorted(os.path.relpath(os.path.join(d, n), REPO)
                   for d, _dirs, files in os.walk(FIXTURES) for n in files if n.endswith(".c"))
    corpus = [(name, _read(os.path.join(REPO, name))) for name in names]
    if qemu:
        corpus += [(f"qemu:{name}", _read(os.path.join(qemu, name))) for name in QEMU_FILES
                   if os.path.isfile(os.path.join(qemu, name))]
    return corpus


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


OFFSET = st.integers(min_value=0, max_value=1 << 20)     # taken modulo the size
LENGTH = st.integers(min_value=1, max_value=60)
TOKEN = st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=12),
                  st.builds(lambda make, n: LONG_TOKENS[make](n),
                            st.integers(0, len(LONG_TOKENS) - 1), st.integers(100, 60000)))


def plans(corpus_size: int):
    """(corpus index, [operation]) as in apply()."""
    other = st.integers(0, corpus_size - 1)
    operation = st.one_of(
        st.tuples(st.just("truncate"), OFFSET),
        st.tuples(st.just("delete"), OFFSET, LENGTH),
        st.tuples(st.just("duplicate"), OFFSET, LENGTH),
        st.tuples(st.just("swap"), OFFSET, OFFSET, LENGTH),
        st.tuples(st.just("insert_line"), OFFSET, TOKEN),
        st.tuples(st.just("insert_byte"), OFFSET, TOKEN),
        st.tuples(st.just("splice"), other, OFFSET, OFFSET),
    )
    return st.tuples(other, st.lists(operation, min_size=1, max_size=5))


def apply(plan, corpus) -> bytes:
    index, operations = plan
    data = corpus[index][1]
    for name, *args in operations:
        data = OPERATIONS[name](data, corpus, *args)
    return data


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _truncate(data, _corpus, at):
    return data[:at % (len(data) + 1)]


def _delete(data, _corpus, at, length):
    lines = _lines(data)
    start = at % (len(lines) + 1)
    return b"".join(lines[:start] + lines[start + length:])


def _duplicate(data, _corpus, at, length):
    lines = _lines(data)
    start = at % (len(lines) + 1)
    return b"".join(lines[:start + length] + lines[start:start + length] + lines[start + length:])


def _swap(data, _corpus, a, b, length):
    lines = _lines(data)
    a, b = sorted((a % (len(lines) + 1), b % (len(lines) + 1)))
    length = min(length, b - a)
    first, second = lines[a:a + length], lines[b:b + length]
    return b"".join(lines[:a] + second + lines[a + length:b] + first + lines[b + length:])


def _insert_line(data, _corpus, at, token):
    lines = _lines(data)
    start = at % (len(lines) + 1)
    return b"".join(lines[:start] + [token + b"\n"] + lines[start:])


def _insert_byte(data, _corpus, at, token):
    at %= len(data) + 1
    return data[:at] + token + data[at:]


def _splice(data, corpus, other, cut, cut_other):
    tail = corpus[other][1]
    return data[:cut % (len(data) + 1)] + tail[cut_other % (len(tail) + 1):]


OPERATIONS = {"truncate": _truncate, "delete": _delete, "duplicate": _duplicate, "swap": _swap,
              "insert_line": _insert_line, "insert_byte": _insert_byte, "splice": _splice}


def generate(seed: int, count: int, corpus) -> list[bytes]:
    """`count` mutated inputs drawn by hypothesis from `seed` (the same ones every time)."""
    inputs: list[bytes] = []

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(plans(len(corpus)))
    def draw(plan):
        inputs.append(apply(plan, corpus))

    draw()
    return inputs


# ---- one input ----------------------------------------------------------------------------

@dataclass
class Outcome:
    number: int
    failure: str = ""          # "" | exception | crash | hang | location | report
    message: str = ""
    findings: int = 0
    libclang_crash: bool = False      # libclang's parse crashes on the input (isolated)


_RULES = None


def rules_and_pack():
    """Every rule and the built-in packs, loaded once (before the workers fork)."""
    global _RULES
    if _RULES is None:
        _RULES = (list(all_rules().values()), configmod.build_pack(configmod.Config()))
    return _RULES


@dataclass
class FuzzTask:
    """One input through the pipeline; run by qlint's worker pool (frontend/workers.py), which
    turns a dead worker into failed("...crashed...") and one past the timeout into a hang."""
    number: int
    source: bytes = field(repr=False)

    @property
    def key(self) -> str:
        return f"input-{self.number}"

    def run(self) -> Outcome:
        with input_job(self.source) as job:
            try:
                return check_input(self.number, job)
            except Exception:
                return Outcome(self.number, "exception", traceback.format_exc())

    def failed(self, reason: str) -> Outcome:
        return Outcome(self.number, "hang" if "timed out" in reason else "crash", reason)


@dataclass
class ParseTask:
    """libclang's parse of an input alone: tells a crash of libclang itself (qlint isolates it,
    reports the TU as failed and goes on) from one in qlint's own use of libclang."""
    number: int
    source: bytes = field(repr=False)

    @property
    def key(self) -> str:
        return f"parse-{self.number}"

    def run(self) -> str:
        with input_job(self.source) as job:
            parsed = _parse(job.file, parse_args(job), job.directory)
            return "parsed" if parsed is not None else "failed"

    def failed(self, reason: str) -> str:
        return reason


def blame_libclang(tasks: list, results: dict, jobs: int, timeout: float) -> None:
    """Crashes that libclang's parse alone reproduces become `libclang_crash` outcomes."""
    crashed = [t for t in tasks if results[t.key].failure == "crash"]
    parses = run_tasks([ParseTask(t.number, t.source) for t in crashed], jobs, timeout)
    for task in crashed:
        if "crashed" in parses[f"parse-{task.number}"]:
            outcome = results[task.key]
            outcome.failure, outcome.libclang_crash = "", True


@contextlib.contextmanager
def input_job(source: bytes):
    """The compile job of `source` written as input.c in a new directory, removed afterwards."""
    directory = tempfile.mkdtemp(prefix="qlint-fuzz-")
    try:
        path = os.path.join(directory, "input.c")
        with open(path, "wb") as f:
            f.write(source)
        yield CompileJob(path, ["-I" + INCLUDE, "-std=gnu11"], directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def check_input(number: int, job: CompileJob) -> Outcome:
    path, directory = job.file, job.directory
    rules, pack = rules_and_pack()
    facts = TUTask(job).run()
    facts = decode_tu(json.loads(json.dumps(encode_tu(facts))))     # as a worker and the cache
    _program, _graph, _ctx, findings = check_facts([facts], pack, rules, directory)
    problems = problems_of([facts], directory)
    findings, _ = suppressions.apply(findings, {r.code for r in rules}, [path], True, directory)
    reports = {
        "text": text.render(findings, show_path=True) + text.statistics(findings),
        "json": jsonfmt.render(findings, {"tus": 1}, problems),
        "sarif": sarif.render(findings, all_rules(), problems, "qlint", directory),
        "github": github.render(findings),
    }
    for fmt, report in reports.items():
        report.encode("utf-8")                      # what the CLI writes; raises if it cannot be
        if fmt in ("json", "sarif"):
            json.loads(report)
    outside = locations_outside(findings, directory, {path, *facts.includes})
    if outside:
        return Outcome(number, "location", "; ".join(outside[:5]), len(findings))
    return Outcome(number, findings=len(findings))


def locations_outside(findings, base: str, files: set[str]) -> list[str]:
    """Every finding, step and related location that is not a line of one of `files`."""
    sizes: dict[str, int] = {}
    bad = []
    for f in findings:
        where = [(f.path, f.line, "finding")] + [(s.path, s.line, "step") for s in f.trace] + \
            [(r.path, r.line, "related") for r in f.related]
        for rel, line, what in where:
            full = os.path.normpath(os.path.join(base, rel))
            if full not in files:
                bad.append(f"{f.rule} {what} in {rel}, which the input does not include")
                continue
            if full not in sizes:
                sizes[full] = len(NEWLINE.split(_read(full)))
            if not 1 <= line <= sizes[full]:
                bad.append(f"{f.rule} {what} at {rel}:{line}, outside lines 1-{sizes[full]}")
    return bad


# ---- a run --------------------------------------------------------------------------------

@dataclass
class Summary:
    seed: int
    corpus: int
    inputs: int = 0
    seconds: float = 0.0
    findings: int = 0
    libclang_crashes: int = 0
    failures: dict = field(default_factory=dict)     # kind -> count
    distinct: list = field(default_factory=list)     # one line per distinct failure

    def numbers(self) -> dict:
        return {"seed": self.seed, "corpus": self.corpus, "inputs": self.inputs,
                "seconds": round(self.seconds, 1),
                "inputs_per_second": round(self.inputs / self.seconds, 1) if self.seconds else 0,
                "findings": self.findings, "libclang_crashes": self.libclang_crashes,
                "failures": self.failures, "distinct": self.distinct}


def fuzz(seed: int = 0, inputs: int | None = 1000, minutes: float | None = None, jobs: int = 2,
         timeout: float = 60.0, qemu: str | None = None, save: str | None = None,
         on_batch=None) -> Summary:
    """Run `inputs` inputs (or until `minutes` have passed, whichever comes first)."""
    corpus = load_corpus(qemu)
    rules_and_pack()
    summary = Summary(seed, len(corpus))
    started = time.monotonic()
    deadline = started + minutes * 60 if minutes else None
    batch = 0
    while (inputs is None or summary.inputs < inputs) and \
            (deadline is None or time.monotonic() < deadline):
        count = BATCH if inputs is None else min(BATCH, inputs - summary.inputs)
        sources = generate(seed * 1_000_003 + batch, count, corpus)
        tasks = [FuzzTask(summary.inputs + i, s) for i, s in enumerate(sources)]
        results = run_tasks(tasks, jobs, timeout)
        blame_libclang(tasks, results, jobs, timeout)
        for task in tasks:
            _record(summary, task, results[task.key], save)
        summary.inputs += len(tasks)
        summary.seconds = time.monotonic() - started
        batch += 1
        if on_batch:
            on_batch(summary)
    return summary


def check_files(paths: list[str], jobs: int = 2, timeout: float = 60.0) -> dict[str, Outcome]:
    """Outcomes of given inputs (saved failures, regression inputs), by path."""
    rules_and_pack()
    tasks = [FuzzTask(i, _read(path)) for i, path in enumerate(paths)]
    results = run_tasks(tasks, jobs, timeout)
    blame_libclang(tasks, results, jobs, timeout)
    return {path: results[task.key] for path, task in zip(paths, tasks)}


def _record(summary: Summary, task: FuzzTask, outcome: Outcome, save: str | None) -> None:
    summary.findings += outcome.findings
    summary.libclang_crashes += outcome.libclang_crash
    if not outcome.failure:
        return
    summary.failures[outcome.failure] = summary.failures.get(outcome.failure, 0) + 1
    signature = f"{outcome.failure}: {_last_line(outcome.message)}"
    if signature not in summary.distinct:
        summary.distinct.append(signature)
    if save:
        os.makedirs(save, exist_ok=True)
        stem = os.path.join(save, f"{outcome.failure}-{summary.seed}-{task.number}")
        with open(stem + ".c", "wb") as f:
            f.write(task.source)
        with open(stem + ".txt", "w", encoding="utf-8") as f:
            f.write(outcome.message + "\n")


def _last_line(message: str) -> str:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inputs", type=int, help="how many inputs (default 1000 without --minutes)")
    parser.add_argument("--minutes", type=float, help="stop after this long")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per input (a hang)")
    parser.add_argument("--qemu", default=DEFAULT_QEMU if os.path.isdir(DEFAULT_QEMU) else None,
                        help="QEMU 7.2 tree for the corpus (default: the cached one, if any)")
    parser.add_argument("--save", metavar="DIR", help="write failing inputs and their errors here")
    parser.add_argument("-v", "--verbose", action="store_true", help="numbers after each batch")
    parser.add_argument("--check", nargs="+", metavar="FILE",
                        help="run these inputs (saved failures) instead of generated ones")
    args = parser.parse_args(argv)
    if args.check:
        outcomes = check_files(args.check, args.jobs, args.timeout)
        for path, outcome in outcomes.items():
            status = outcome.failure or ("libclang crash" if outcome.libclang_crash else "ok")
            print(f"{path}: {status} {_last_line(outcome.message)}")
        return 1 if any(o.failure for o in outcomes.values()) else 0
    inputs = args.inputs if args.inputs or args.minutes else 1000
    progress = (lambda s: print(json.dumps(s.numbers()), file=sys.stderr, flush=True)) \
        if args.verbose else None
    summary = fuzz(args.seed, inputs, args.minutes, args.jobs, args.timeout, args.qemu,
                   args.save, progress)
    print(json.dumps(summary.numbers()))
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())

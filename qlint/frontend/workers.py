"""Parse compile jobs in worker processes.

libclang objects cannot cross processes, so workers return encoded facts. Every parse happens in
a worker, also with --jobs 1: a TU that crashes libclang (the worker dies) or hangs (it exceeds
the per-TU timeout and is killed) is reported as a problem of that TU, the worker is replaced,
and the run goes on. Results are keyed by TU, so their order never depends on scheduling.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from multiprocessing.connection import wait

from ..facts.codec import decode_tu, encode_tu
from ..facts.ir import Diagnostic, TUFacts
from .compdb import CompileJob

DEFAULT_TIMEOUT = 300.0


def _worker_main(conn) -> None:
    from .parse import parse_job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            facts = parse_job(job)
        except Exception as e:  # an extractor bug must not lose the TU silently
            facts = TUFacts(path=job.file, degraded=job.degraded,
                            problem=f"internal error while extracting facts: {type(e).__name__}: {e}")
        conn.send(encode_tu(facts))


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.job: CompileJob | None = None
        self.started = 0.0

    def send(self, job: CompileJob) -> None:
        self.job = job
        self.started = time.monotonic()
        self.conn.send(job)

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


def _problem(job: CompileJob, reason: str) -> TUFacts:
    return TUFacts(path=job.file, degraded=job.degraded, problem=reason,
                   diagnostics=[Diagnostic("fatal", job.file, 0, 0, reason)])


def parse_all(jobs: list[CompileJob], workers: int, timeout: float = DEFAULT_TIMEOUT,
              on_done=None) -> dict[str, TUFacts]:
    """Facts for every job, keyed by file. `on_done(file)` is called as each finishes."""
    results: dict[str, TUFacts] = {}
    if not jobs:
        return results
    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    pending = list(reversed(jobs))
    pool = [_Worker(ctx) for _ in range(max(1, min(workers, len(jobs))))]

    def finish(job, facts):
        results[job.file] = facts
        if on_done:
            on_done(job.file)

    try:
        for w in pool:
            if pending:
                w.send(pending.pop())
        while any(w.job for w in pool):
            busy = [w for w in pool if w.job]
            now = time.monotonic()
            wait_for = max(0.05, min(w.started + timeout - now for w in busy))
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], wait_for)
            for i, w in enumerate(pool):
                if not w.job:
                    continue
                job = w.job
                if w.conn in ready:
                    try:
                        data = w.conn.recv()
                    except (EOFError, OSError):
                        data = None
                    if data is not None:
                        finish(job, decode_tu(data))
                        w.job = None
                        if pending:
                            w.send(pending.pop())
                        continue
                if w.proc.sentinel in ready or not w.proc.is_alive():
                    code = w.proc.exitcode
                    why = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
                    finish(job, _problem(job, f"libclang crashed while parsing ({why})"))
                elif time.monotonic() - w.started > timeout:
                    finish(job, _problem(job, f"parse timed out after {timeout:g} s"))
                else:
                    continue
                w.kill()
                pool[i] = _Worker(ctx)
                if pending:
                    pool[i].send(pending.pop())
    finally:
        for w in pool:
            if w.job:
                w.kill()
            else:
                w.stop()
    return results

"""Run parse tasks in worker processes.

libclang objects cannot cross processes, so workers return encoded facts, or store them in the
facts cache themselves (`in_worker`) and send (STORED, the entry's checksum): the parent then
reads the entry as a warm run does. Every parse happens in
a worker, also with --jobs 1: a TU that crashes libclang (the worker dies) or hangs (it exceeds
the per-TU timeout and is killed) is reported as a problem of that TU, the worker is replaced,
and the run goes on. Results are keyed by TU, so their order never depends on scheduling.
"""
from __future__ import annotations

import faulthandler
import gc
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import wait

from ..facts.codec import decode_tu, encode_tu
from ..facts.ir import TUFacts

DEFAULT_TIMEOUT = 300.0
STORED = "stored"      # (STORED, checksum): what a worker sends for facts `in_worker` stored


def _worker_main(conn, in_worker=None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.enable()                  # forked from a parent that paused it (pipeline.py)
    faulthandler.disable()       # a crash is the parent's one-line problem, not a stack dump
    fault = os.environ.get("QLINT_FAULT_INJECT", "")
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        _inject(fault, task.key)
        try:
            result = task.run()
        except Exception as e:  # an extractor bug must not lose the TU silently
            result = task.failed(f"internal error while extracting facts: {type(e).__name__}: {e}")
        if isinstance(result, TUFacts):
            result = _stored(in_worker, task, result) or encode_tu(result)
        conn.send(result)


def _stored(in_worker, task, facts):
    """(STORED, checksum) if `in_worker` stored the facts; None if it did not, or failed (the
    facts are sent instead: an entry not written costs the next run a parse, nothing more)."""
    if in_worker is None:
        return None
    try:
        written = in_worker(task, facts)
    except Exception:  # noqa: BLE001 - the parse succeeded; only its entry is missing
        return None
    return (STORED, written) if written else None


def _inject(fault: str, key: str) -> None:
    """Fault injection for the isolation tests: QLINT_FAULT_INJECT="crash:NAME" kills the
    worker (as a libclang crash would) and "hang:NAME" stalls it, when parsing a file whose
    path ends with NAME."""
    if not fault:
        return
    what, _, name = fault.partition(":")
    if name and key.endswith(name):
        if what == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif what == "hang":
            time.sleep(3600)


class _Worker:
    def __init__(self, ctx, in_worker=None):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, in_worker), daemon=True)
        self.proc.start()
        child.close()
        self.job = None
        self.started = 0.0

    def send(self, task) -> None:
        self.job = task
        self.started = time.monotonic()
        self.conn.send(task)

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


def run_tasks(tasks: list, workers: int, timeout: float = DEFAULT_TIMEOUT, on_done=None,
              on_result=None, in_worker=None) -> dict:
    """Results of the tasks (TUTask, PrefixTask), keyed by task.key. `on_result(key, result)`
    then `on_done(key)` are called as each finishes. A task whose worker dies or exceeds
    `timeout` gets task.failed(reason). `in_worker(task, facts)` runs in the worker (forked:
    it has the parent's objects as they were) on the facts it parsed; where it returns a
    checksum (it stored them), the result is (STORED, checksum) instead of the facts."""
    results: dict = {}
    if not tasks:
        return results
    fork = hasattr(os, "fork")
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    if not fork:
        in_worker = None             # a closure cannot be sent to a spawned process
    pending = list(reversed(tasks))
    pool = [_Worker(ctx, in_worker) for _ in range(max(1, min(workers, len(tasks))))]

    def finish(task, result):
        if isinstance(result, list):       # encoded facts ((STORED, checksum) is a tuple)
            result = decode_tu(result)
        results[task.key] = result
        if on_result:
            on_result(task.key, result)
        if on_done:
            on_done(task.key)

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
                task = w.job
                if w.conn in ready:
                    try:
                        data = w.conn.recv()
                    except (EOFError, OSError):
                        data = None
                    if data is not None:
                        finish(task, data)
                        w.job = None
                        if pending:
                            w.send(pending.pop())
                        continue
                if w.proc.sentinel in ready or not w.proc.is_alive():
                    w.proc.join()
                    code = w.proc.exitcode
                    why = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
                    finish(task, task.failed(f"libclang crashed while parsing ({why})"))
                elif time.monotonic() - w.started > timeout:
                    finish(task, task.failed(f"parse timed out after {timeout:g} s"))
                else:
                    continue
                w.kill()
                pool[i] = _Worker(ctx, in_worker)
                if pending:
                    pool[i].send(pending.pop())
    finally:
        for w in pool:
            if w.job:
                w.kill()
            else:
                w.stop()
    return results

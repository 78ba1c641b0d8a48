"""Two scopes on real QEMU 7.2: `qlint check FILE` reports FILE's findings judged against the
whole program; the pre-commit hook on one file; `--diff REV` in a git repository of the tree
(a scratch copy: the configured tree is never changed)."""
from __future__ import annotations

import os
import shlex
import subprocess

import pytest
import yaml

from conftest import REPO, findings, qlint, trace
from qemu_trees import patch_file, qemu_tree, remove_copy, scratch_copy

pytestmark = pytest.mark.qemu

# The copy's files keep the owner of the fetched tree: git must be told it is safe.
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory",
           "GIT_CONFIG_VALUE_0": "*"}
IOQ_SUBMIT = ("QL101", "block/linux-aio.c", 329, "ioq_submit")
SEED000 = ("QL101", "block/linux-aio.c", 235, "qemu_laio_process_completions_and_submit")
COLD = ("qlint: parsing 1866 translation unit(s), 1865 of them for the program around the "
        "checked paths (once: the cache keeps their facts)\n")


def git(cwd: str, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env=dict(os.environ, **GIT_ENV)).stdout


def check(repo: str, *args: str):
    return qlint("check", *args, "--format", "json", cwd=repo, env=GIT_ENV)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A scratch copy of the tree, committed to a git repository of its own (build/ is in
    QEMU's .gitignore), and the first run in it: `check block/linux-aio.c` with a cold cache."""
    copy = scratch_copy(qemu_tree("7.2"), str(tmp_path_factory.mktemp("scope")))
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "QEMU 7.2.0")
    yield copy, check(copy, "block/linux-aio.c")
    remove_copy(copy)


def commit(copy: str, path: str, old: str, new: str) -> None:
    patch_file(os.path.join(copy, path), old, new)
    git(copy, "commit", "-q", "-am", f"change {path}")


def test_one_file_is_checked_against_the_whole_program(repo):
    # The violating call is in linux-aio.c; the function that misses the lock is QED's timer
    # callback (block/qed.c), which only the whole program shows.
    copy, first = repo
    assert (first.code, findings(first), first.err) == (1, [IOQ_SUBMIT], COLD)
    assert trace(first.json["findings"][0])[:3] == [("qed_need_check_timer_cb", 313),
                                                    ("qed_need_check_timer_cb", 316),
                                                    ("qed_need_check_timer_entry", 304)]
    assert first.json["stats"]["tus"] == 1866
    warm = check(copy, "block/linux-aio.c")
    assert (warm.out, warm.err) == (first.out, "")
    qed = check(copy, "block/qed.c", "--select", "QL101")
    assert (qed.code, findings(qed)) == (0, [])
    qed = check(copy, "block/qed.c", "--select", "QL101", "--report-paths-through")
    assert (qed.code, findings(qed)) == (1, [IOQ_SUBMIT])


def test_the_seed000_bug_put_back_is_reported_by_the_file_and_by_the_hook_on_it_alone(repo):
    # QEMU commit e091f0e905's bug: completions processed before the lock is taken. The
    # pre-commit hook's command (.pre-commit-hooks.yaml) on the one changed file reports it,
    # with the QED finding already in that file.
    copy, _first = repo
    patch_file(f"{copy}/block/linux-aio.c",
               "    aio_context_acquire(s->aio_context);\n    qemu_laio_process_completions(s);\n",
               "    qemu_laio_process_completions(s);\n    aio_context_acquire(s->aio_context);\n")
    try:
        with open(os.path.join(REPO, ".pre-commit-hooks.yaml"), encoding="utf-8") as f:
            [hook] = yaml.safe_load(f)
        words = shlex.split(hook["entry"])
        for run in (check(copy, "block/linux-aio.c"),
                    qlint(*words[1:], "--format", "json", "block/linux-aio.c", cwd=copy)):
            assert (run.code, findings(run)) == (1, [SEED000, IOQ_SUBMIT])
            assert trace(run.json["findings"][0]) == [
                ("qemu_laio_completion_bh", 244), ("qemu_laio_completion_bh", 248),
                ("qemu_laio_process_completions_and_submit", 235)]
        diff = check(copy, "--diff", "HEAD")
        assert (diff.code, findings(diff)) == (1, [SEED000])
    finally:
        git(copy, "checkout", "--", "block/linux-aio.c")


SKIPPED = ("qlint: warning: 5086 C file(s) not in the compile database were skipped (not built "
           "in this configuration; -v names them)\n")


def test_diff_reports_the_violation_elsewhere_that_removing_a_lock_caused(repo):
    # virtio-blk's dataplane start calls blk_set_aio_context() under the old context's lock;
    # without it, block-backend.c's call of bdrv_try_change_aio_context() is reached unlocked.
    copy, _first = repo
    commit(copy, "hw/block/dataplane/virtio-blk.c",
           "    aio_context_acquire(old_context);\n"
           "    r = blk_set_aio_context(s->conf->conf.blk, s->ctx, &local_err);\n"
           "    aio_context_release(old_context);\n",
           "    r = blk_set_aio_context(s->conf->conf.blk, s->ctx, &local_err);\n")
    try:
        run = check(copy, "--diff", "HEAD~1")
        assert (run.code, findings(run)) == (
            1, [("QL101", "block/block-backend.c", 2155, "blk_do_set_aio_context")])
        assert run.err == "qlint: parsing 1 translation unit(s) as they were at HEAD~1\n" + SKIPPED
        steps = [(s["path"], s["function"], s["line"]) for s in run.json["findings"][0]["trace"]]
        assert steps[-3:] == [
            ("hw/block/dataplane/virtio-blk.c", "virtio_blk_data_plane_start", 232),
            ("block/block-backend.c", "blk_set_aio_context", 2185),
            ("block/block-backend.c", "blk_do_set_aio_context", 2155)]
        # The file changed is the scope: the finding is reported through its path.
        run = check(copy, "hw/block/dataplane/virtio-blk.c", "--diff", "HEAD~1")
        assert (run.code, findings(run)) == (
            1, [("QL101", "block/block-backend.c", 2155, "blk_do_set_aio_context")])
    finally:
        git(copy, "reset", "-q", "--hard", "HEAD~1")


def test_diff_reports_a_new_way_into_a_violation_already_reported(repo):
    # qmp_blockdev_del() without its lock: bdrv_unref() reaches bdrv_detach_child()'s call of
    # bdrv_try_change_aio_context() without the node's AioContext lock, a violation reported
    # from the start from another QMP handler. The finding is not new and its trace touches
    # no changed line: its ways in are new, the handler's, its QAPI marshaller's and
    # hmp_drive_del()'s, which calls it. The calls of block.c that need the lock further down
    # are reached through that one: they are not reported again.
    copy, _first = repo
    patch_file(os.path.join(copy, "blockdev.c"),
               "    aio_context_acquire(aio_context);\n\n"
               "    if (bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_DRIVE_DEL",
               "\n    if (bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_DRIVE_DEL")
    commit(copy, "blockdev.c", "    bdrv_unref(bs);\n\nout:\n    aio_context_release(aio_context);\n",
           "    bdrv_unref(bs);\n\nout:\n    return;\n")
    try:
        run = check(copy, "--diff", "HEAD~1")
        assert (run.code, findings(run)) == (1, [("QL101", "block.c", 3093, "bdrv_detach_child")])
        [found] = run.json["findings"]
        assert trace(found)[:2] == [("qmp_blockdev_insert_anon_medium", 238),
                                    ("qmp_blockdev_insert_anon_medium", 277)]
        handler = "entry point: QMP/HMP command handler (main loop)"
        assert found["related"][:3] == [
            {"path": "block/monitor/block-hmp-cmds.c", "line": 138,
             "message": f"since HEAD~1, also reached from hmp_drive_del(), {handler}"},
            {"path": "blockdev.c", "line": 3612,
             "message": f"since HEAD~1, also reached from qmp_blockdev_del(), {handler}"},
            {"path": "build/qapi/qapi-commands-block-core.c", "line": 1478,
             "message": f"since HEAD~1, also reached from qmp_marshal_blockdev_del(), {handler}"}]
        assert not any(r["message"].startswith("since") for r in found["related"][3:])
    finally:
        git(copy, "reset", "-q", "--hard", "HEAD~1")


def test_diff_of_an_unrelated_commit_reports_nothing(repo):
    copy, _first = repo
    commit(copy, "block/qed.c", " * QEMU Enhanced Disk Format\n",
           " * QEMU Enhanced Disk Format (QED)\n")
    try:
        run = check(copy, "--diff", "HEAD~1")
        assert (run.code, run.json["findings"]) == (0, [])
        assert run.err == "qlint: parsing 1 translation unit(s) as they were at HEAD~1\n" + SKIPPED
    finally:
        git(copy, "reset", "-q", "--hard", "HEAD~1")

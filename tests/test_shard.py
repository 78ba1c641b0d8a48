"""qlint check --shard I/N: each runner of a CI matrix parses its share of the program into a
cache; a last run over the merged caches reports, as one run would have."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import FIXTURES, qlint


def _program_size() -> int:
    with open(os.path.join(FIXTURES, "compile_commands.json")) as f:
        return len(json.load(f))


@pytest.mark.parametrize("count", [2, 3])
def test_shards_and_a_run_over_their_merged_caches_give_the_report_of_one_run(tmp_path, count):
    total = _program_size()
    # Shard i takes every count-th TU from the i-th, in path order.
    shares = [len(range(i, total, count)) for i in range(count)]
    shards = [str(tmp_path / f"shard{i}") for i in range(1, count + 1)]
    for i, (cache, share) in enumerate(zip(shards, shares), 1):
        run = qlint("check", "--shard", f"{i}/{count}", "--cache-dir", cache, "--jobs", "1",
                    cwd=FIXTURES)
        assert (run.code, run.out) == (0, "")
        assert run.err == (f"qlint: shard {i}/{count}: {share} of the program's {total} translation "
                           f"unit(s), {share} parsed, 0 already cached, in {cache}\n")
    merged = str(tmp_path / "merged")
    for cache in shards:            # what a CI job does with the shards' artifacts
        shutil.copytree(cache, merged, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.pch"))
    final = qlint("check", ".", "--format", "json", "--cache-dir", merged, "-v", cwd=FIXTURES)
    assert f"qlint: {total} translation unit(s): {total} from the cache, 0 parsed" in final.err
    one = qlint("check", ".", "--format", "json", "--cache-dir", str(tmp_path / "one"),
                cwd=FIXTURES)
    assert final.code == one.code == 1
    assert final.out == one.out
    # A shard whose TUs are cached already parses nothing.
    run = qlint("check", "--shard", f"2/{count}", "--cache-dir", merged, cwd=FIXTURES)
    assert run.err == (f"qlint: shard 2/{count}: {shares[1]} of the program's {total} translation "
                       f"unit(s), 0 parsed, {shares[1]} already cached, in {merged}\n")


@pytest.mark.parametrize("args, message", [
    (["--shard", "0/2"], "--shard 0/2: expected I/N with 1 <= I <= N (shard 2 of 4: 2/4)"),
    (["--shard", "3/2"], "--shard 3/2: expected I/N with 1 <= I <= N (shard 2 of 4: 2/4)"),
    (["--shard", "two"], "--shard two: expected I/N with 1 <= I <= N (shard 2 of 4: 2/4)"),
    (["--shard", "1/2", "--no-cache"], "--shard fills the cache: it cannot go with --no-cache"),
    (["--shard", "1/2", "--diff", "HEAD"], "--shard only parses: it cannot go with --diff"),
])
def test_bad_shards(args, message):
    run = qlint("check", *args, cwd=os.path.join(FIXTURES, "core", "handler-elsewhere"))
    assert (run.code, run.out, run.err) == (2, "", f"qlint: error: {message}\n")

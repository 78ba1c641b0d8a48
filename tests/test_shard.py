"""qlint check --shard I/N: each runner of a CI matrix parses its share of the program into a
cache; a last run over the merged caches reports, as one run would have."""
from __future__ import annotations

import os
import shutil

import pytest

from conftest import FIXTURES, qlint


@pytest.mark.parametrize("count, shares", [(2, [18, 18]), (3, [12, 12, 12])])
def test_shards_and_a_run_over_their_merged_caches_give_the_report_of_one_run(tmp_path, count,
                                                                               shares):
    shards = [str(tmp_path / f"shard{i}") for i in range(1, count + 1)]
    for i, (cache, share) in enumerate(zip(shards, shares), 1):
        run = qlint("check", "--shard", f"{i}/{count}", "--cache-dir", cache, "--jobs", "1",
                    cwd=FIXTURES)
        assert (run.code, run.out) == (0, "")
        assert run.err == (f"qlint: shard {i}/{count}: {share} of the program's 36 translation "
                           f"unit(s), {share} parsed, 0 already cached, in {cache}\n")
    merged = str(tmp_path / "merged")
    for cache in shards:            # what a CI job does with the shards' artifacts
        shutil.copytree(cache, merged, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.pch"))
    final = qlint("check", ".", "--format", "json", "--cache-dir", merged, "-v", cwd=FIXTURES)
    assert "qlint: 36 translation unit(s): 36 from the cache, 0 parsed" in final.err
    one = qlint("check", ".", "--format", "json", "--cache-dir", str(tmp_path / "one"),
                cwd=FIXTURES)
    assert final.code == one.code == 1
    assert final.out == one.out
    # A shard whose TUs are cached already parses nothing.
    run = qlint("check", "--shard", f"2/{count}", "--cache-dir", merged, cwd=FIXTURES)
    assert run.err == (f"qlint: shard 2/{count}: {shares[1]} of the program's 36 translation "
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

"""Small throw-away source trees for tests that edit their sources: the fixtures' headers, the
given files, and a build/compile_commands.json listing the .c files (found as QEMU's is)."""
from __future__ import annotations

import json
import os
import shutil

from conftest import FIXTURES

HEADER = '#include "qemu/fixture-state.h"\n'


def make_tree(root, files: dict[str, str]) -> str:
    root = str(root)
    shutil.copytree(os.path.join(FIXTURES, "include"), os.path.join(root, "include"),
                    dirs_exist_ok=True)
    for name, text in files.items():
        write(root, name, text)
    entries = [{"directory": root, "file": name,
                "arguments": ["cc", "-Iinclude", "-std=gnu11", "-c", name]}
               for name in sorted(files) if name.endswith(".c")]
    write(root, "build/compile_commands.json", json.dumps(entries, indent=2))
    return root


def write(root: str, name: str, text: str) -> str:
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def bh_source(body: str, before: str = "") -> str:
    """A file whose bottom half `bh` runs `body` without the AioContext lock."""
    return (HEADER + before + "static void bh(void *o)\n{\n    State *s = o;\n\n" + body +
            "}\n\nvoid init(State *s)\n{\n    aio_bh_new(s->ctx, bh, s);\n}\n")

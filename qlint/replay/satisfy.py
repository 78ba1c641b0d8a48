"""The program with the rule satisfied: what causal confirmation replays a counterexample on.

A violation confirms a finding only if it needs the finding's defect: the same schedule, on the
program changed just enough to satisfy the rule, must not break the same invariant. The change
is made to the IR as calls inserted where the rule wants them (the engine runs them,
engine.patch_action):

  QL101   the required lock held around the violating call        @begin L ... @end L
  QL103   the excluded lock released around the call             @drop L ... @retake L
  QL203   the required section open around the call              @begin S ... @end S
  QL102,  a lock or section left held/open: the function ends    @end-held S at its exit
  QL201   what it began and still holds; one ended without being begun (or twice): that end
          happens only if it is open                             @end-if-held S
  QL202   the required section begun before the deferral and ended when the deferred callback
          returns (instead of where it ends too early)           @begin R ... @end-held R
"""
from __future__ import annotations

import re
from dataclasses import replace

from ..facts.ir import EXIT, Call

_CALLS_RE = re.compile(r"^calls (\w+)\(\) (?:without|with|outside) (.+?)(?: held)?$")
_LEAK_RE = re.compile(r"^returns with (.+) (?:held|open)$")
_END_RE = re.compile(r"^(.+) (?:released|ended) (?:here|again)$")
_BEGIN_RE = re.compile(r"^(.+) (?:acquired|begun|begins) here$")
_DEFERS_RE = re.compile(r"^defers (\w+)\(\)")
_MISSING_RE = re.compile(r"^(.+) is open across the deferral of (\w+)\(\) without (.+)$")
_EARLY_RE = re.compile(r"^(.+) ends in deferred (\w+)\(\) before (.+) does")


def finding_sections(finding: dict) -> list:
    """The locks or sections a QL102/QL201/QL202 finding is about (what it says is left held
    or open, ended without being begun, or missing)."""
    found = []
    for step in finding["trace"]:
        for pattern in (_LEAK_RE, _END_RE, _BEGIN_RE):
            m = pattern.match(step["note"])
            if m and m.group(1) not in found:
                found.append(m.group(1))
    missing = _MISSING_RE.match(finding["message"]) or _EARLY_RE.match(finding["message"])
    if missing:
        found = [missing.group(3) if _MISSING_RE.match(finding["message"]) else missing.group(1)]
    return found


def satisfied(world, function_key):
    """(the rule-satisfied variant of the world, what was changed in words), or None when the
    finding says too little to satisfy its rule."""
    finding = world.finding
    patch = _PATCHES[finding["rule"]](world, finding, function_key)
    if patch is None:
        return None
    overrides, words = patch
    functions = dict(world.functions)
    functions.update(overrides)
    return world.variant(functions=functions, satisfied=words), words


def _around(world, finding, function_key, before: str, after: str):
    m = _CALLS_RE.match(finding["trace"][-1]["note"])
    if not m:
        return None
    required, lock = m.group(1), m.group(2)
    fn = world.functions[function_key]
    site = _call_at(world, fn, finding["line"], required)
    if site is None:
        return None
    block, index = site
    call = fn.blocks[block].events[index]
    patched = _insert(fn, block, index, [_patch(before, lock, call)],
                      [_patch(after, lock, call)])
    words = {"@begin": f"{lock} held around", "@drop": f"{lock} released around"}[before]
    return {fn.key: patched}, f"{words} the call of {required}() at line {call.line}"


def _lock_required(world, finding, key):
    return _around(world, finding, key, "@begin", "@end")


def _lock_excluded(world, finding, key):
    return _around(world, finding, key, "@drop", "@retake")


def _unbalanced(world, finding, key):
    """QL102/QL201: a lock or section left held (open), or ended without being begun."""
    steps = finding["trace"]
    message = finding["message"]
    leaked = _LEAK_RE.match(steps[-1]["note"])
    if leaked or re.search(r" is still (?:held|open) when |leaves the | is not (?:released|ended) on ",
                           message):
        section = leaked.group(1) if leaked else _first(steps, _BEGIN_RE)
        fn = _function_of(world, steps[-1])
        if section is None or fn is None:
            return None
        patched = _at_exit(fn, _patch("@end-held", section, None, fn.end_line))
        return {fn.key: patched}, f"{fn.name}() ending the {section} it leaves {_still(world, section)}"
    for step in reversed(steps):
        m = _END_RE.match(step["note"])
        fn = _function_of(world, step) if m else None
        if fn is None:
            continue
        site = _end_at(world, fn, step["line"], m.group(1))
        if site is None:
            continue
        block, index = site
        call = fn.blocks[block].events[index]
        patched = _replace_call(fn, block, index, _patch("@end-if-held", m.group(1), call))
        return {fn.key: patched}, (f"the {m.group(1)} end at line {call.line} made only if it "
                                   f"is {_still(world, m.group(1))}")
    return None


def _across_deferral(world, finding, key):
    """QL202: the required section spans the deferral and the deferred callback."""
    message = finding["message"]
    missing, early = _MISSING_RE.match(message), _EARLY_RE.match(message)
    owner = world.functions[key]
    if missing:
        required, callback = missing.group(3), missing.group(2)
        step = next((s for s in finding["trace"] if _DEFERS_RE.match(s["note"])), None)
        site = _call_at(world, owner, step["line"], None) if step else None
        cb = _callback(world, callback)
        if site is None or cb is None:
            return None
        block, index = site
        call = owner.blocks[block].events[index]
        patched = _insert(owner, block, index, [_patch("@begin", required, call)], [])
        return {owner.key: patched, cb.key: _at_exit(cb, _patch("@end-held", required, None,
                                                                  cb.end_line))}, \
            f"{required} begun before the deferral of {callback}() and ended when it returns"
    if early:
        required, callback = early.group(1), early.group(2)
        cb = _callback(world, callback)
        site = _end_at(world, cb, None, required) if cb else None
        if site is None:
            return None
        block, index = site
        call = cb.blocks[block].events[index]
        patched = _replace_call(cb, block, index, _patch("@nop", required, call))
        patched = _at_exit(patched, _patch("@end-held", required, None, cb.end_line))
        return {cb.key: patched}, f"{required} ended when {callback}() returns"
    return None


_PATCHES = {"QL101": _lock_required, "QL203": _lock_required, "QL103": _lock_excluded,
            "QL102": _unbalanced, "QL201": _unbalanced, "QL202": _across_deferral}


# ---- the IR, changed -----------------------------------------------------------------------

def _patch(action: str, name: str, call, line: int = 0) -> Call:
    """An inserted call: `action` on the lock or section `name` (engine.patch_action)."""
    return Call(action, call.line if call is not None else line,
                call.col if call is not None else 0, via=name)


def _insert(fn, block: int, index: int, before: list, after: list):
    blocks = list(fn.blocks)
    events = list(blocks[block].events)
    events[index:index + 1] = before + [events[index]] + after
    blocks[block] = replace(blocks[block], events=events)
    return replace(fn, blocks=blocks)


def _replace_call(fn, block: int, index: int, call: Call):
    blocks = list(fn.blocks)
    events = list(blocks[block].events)
    events[index] = call
    blocks[block] = replace(blocks[block], events=events)
    return replace(fn, blocks=blocks)


def _at_exit(fn, call: Call):
    blocks = list(fn.blocks)
    blocks[EXIT] = replace(blocks[EXIT], events=list(blocks[EXIT].events) + [call])
    return replace(fn, blocks=blocks)


def _call_at(world, fn, line: int, name: str | None):
    """(block, index) of the call at `line` (reaching `name`, if given)."""
    for b, block in enumerate(fn.blocks):
        for i, e in enumerate(block.events):
            if isinstance(e, Call) and e.line == line and not e.name.startswith("@") and \
                    (name is None or world.reaches_goal(e, name)):
                return b, i
    return None


def _end_at(world, fn, line: int | None, section: str):
    """(block, index) of the call ending `section` (at `line`, if given; else the first)."""
    for b, block in enumerate(fn.blocks):
        for i, e in enumerate(block.events):
            if isinstance(e, Call) and (line is None or e.line == line) and any(
                    op.op == "end" and op.section == section for op in world.sem.section_ops(e)):
                return b, i
    return None


def _function_of(world, step: dict):
    from .scenario import NotModelled, _function
    try:
        return world.functions[_function(world.program, step["function"], step["path"])]
    except NotModelled:
        return None


def _callback(world, name: str):
    keys = world.program.by_name.get(name, [])
    return world.functions[keys[0]] if keys else None


def _still(world, name: str) -> str:
    section = world.section(name)
    return "held" if section is not None and section.kind == "lock" else "open"


def _first(steps, pattern):
    for step in steps:
        m = pattern.match(step["note"])
        if m:
            return m.group(1)
    return None

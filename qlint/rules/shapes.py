"""How each shape of violation (qlint/analysis/cells.py) is reported: where, with which trace and
related locations. The words are the reporting rule's own (Rule.messages)."""
from __future__ import annotations

from ..analysis.balance import first_end
from ..analysis.violations import met_requirements
from ..report.model import Contract, Related, Step
from .trace import (MAX_RELATED, also_reached, call_steps, callee_words, changed_by, decisions,
                    declared_by, entry_step, every_way, exit_of, instance_words,
                    registration_related, required_words, suggestion, where_changed)


def report(rule, ctx, v):
    """The finding of violation `v` by `rule`, which owns its cell."""
    return REPORTERS[v.cell.shape](rule, ctx, v)


def _entry(rule, ctx, v):
    """Unmet at an entry point: the chain of calls from it to the violating call."""
    last = v.chain[-1]
    fn = ctx.program.functions[last.caller]
    args = dict(required=v.required, lock=v.lock, what=required_words(ctx, v.lock, last),
                entry=f"{v.entry.kind} {ctx.program.name_of(v.entry.func)}()")
    steps = call_steps(ctx, v.chain, rule.words("step", v.cell, **args))
    trace = [entry_step(ctx, v.entry)] + steps
    return rule.finding("entry", v.cell, (fn.file, last.call.line, last.call.col, fn.name),
                        detail=f"{v.required}|{v.lock}", trace=trace,
                        related=also_reached(ctx, v.entry, v.others),
                        ways=every_way(ctx, [(v.entry, v.chain)] + v.others, v.cell.table),
                        contract=contract_of(ctx, last, v.cell.table), **args)


def _local(rule, ctx, v):
    """Unmet inside a function that ended (or holds) it: at its call, down the callee's chain."""
    if hasattr(v, "origin"):
        return _in_helper(rule, ctx, v)
    fn = ctx.program.functions[v.function]
    w = v.witness
    args = dict(required=v.chain[-1].required, lock=v.lock, function=fn.name,
                callee=callee_words(ctx, w), name=w.required or ctx.program.name_of(w.target),
                what=required_words(ctx, v.lock, v.chain[-1]))
    trace = [Step(fn.name, fn.file, fn.line, rule.words("start", v.cell, **args))]
    trace += call_steps(ctx, v.chain, rule.words("step", v.cell, **args))
    return rule.finding(v.cell.shape, v.cell, (fn.file, w.call.line, w.call.col, fn.name),
                        detail=rule.words("detail-local", v.cell, **args), trace=trace,
                        contract=contract_of(ctx, v.chain[-1], v.cell.table), **args)


def contract_of(ctx, w, table: str) -> Contract | None:
    """The inferred contract (by name) that the witness's call violates, with its first
    evidence; None if the requirement is not inferred."""
    if w.by_attribute:
        return None
    for name, entry in met_requirements(ctx.locks, w, table):
        if entry.lock == w.lock and entry.evidence:
            e = entry.evidence[0]
            return Contract(name, w.lock, e.kind, e.file, e.line, e.text, e.held, e.total,
                            e.confidence)
    return None


def _in_helper(rule, ctx, v):
    """A call a context excludes, in a helper the context flows down to: at the call, with
    the path from the function that holds the context."""
    fn, origin = ctx.program.functions[v.function], ctx.program.functions[v.origin]
    w = v.witness
    args = dict(callee=callee_words(ctx, w), function=fn.name, origin=origin.name,
                required=w.required, lock=v.lock)
    trace = [Step(origin.name, origin.file, origin.line, f"{origin.name}() runs in coroutine "
                                                          f"context")]
    trace += call_steps(ctx, v.chain, rule.words("step-helper", v.cell, **args))
    ways = [Related(ctx.program.functions[k].file, ctx.program.functions[k].line,
                    f"also reached from {ctx.program.name_of(k)}()") for k in [v.origin] + v.others]
    return rule.finding("helper-every" if v.every else "helper-some", v.cell,
                        (fn.file, w.call.line, w.call.col, fn.name),
                        detail=f"{w.required}|{v.lock}|helper", trace=trace,
                        related=ways[1:MAX_RELATED + 1], ways=ways, **args)


def _undeclared(rule, ctx, v):
    """A call that needs what its function neither provides nor declares."""
    fn = ctx.program.functions[v.function]
    w = v.witness
    call = w.call
    trace = [Step(fn.name, fn.file, fn.line, f"{fn.name}() is not annotated"),
             Step(fn.name, fn.file, call.line, f"calls {w.required}()", call.col)]
    return rule.finding("undeclared", v.cell, (fn.file, call.line, call.col, fn.name),
                        detail=f"{w.required}|{w.lock}", trace=trace,
                        callee=callee_words(ctx, w), lock=v.lock, function=fn.name,
                        suggestion=suggestion(ctx, v.lock))


def _passed(rule, ctx, v):
    """A callback passed on to be called through a parameter, where its attribute's
    requirement is neither provided nor declared."""
    fn = ctx.program.functions[v.function]
    w, last = v.witness, v.chain[-1]
    callback = ctx.program.name_of(v.callback)
    attribute = declared_by(ctx, last)
    args = dict(function=fn.name, callback=f"{callback}()" + (f" ({attribute})" if attribute
                                                                 else ""),
                callee=ctx.program.name_of(w.target), lock=v.lock,
                suggestion=suggestion(ctx, v.lock), required=callback)
    trace = [Step(fn.name, fn.file, fn.line, f"{fn.name}() is not annotated")] + \
        call_steps(ctx, v.chain, rule.words("step-passed", v.cell, **args))
    return rule.finding("passed", v.cell, (fn.file, w.call.line, w.call.col, fn.name),
                        detail=f"{callback}|{v.lock}|passed", trace=trace, **args)


def _asserted(rule, ctx, v):
    """A function that asserts a lock in a context, reached there from a function that holds
    the context and neither holds nor declares the lock: at that function's call, with the
    way down to the assertion."""
    program = ctx.program
    fn, target = program.functions[v.function], program.functions[v.asserting]
    helpers = [program.name_of(w.target) for w in v.chain if not w.terminal]
    context = v.context.replace("-", " ")
    args = dict(asserting=target.name, lock=v.lock, context=context,
                assertion=v.assertion.name, function=fn.name,
                through=f" through {', '.join(h + '()' for h in helpers)}" if helpers else "",
                suggestion=suggestion(ctx, v.lock))
    here = f"{target.name}() asserts {v.lock} here"
    trace = [Step(fn.name, fn.file, fn.line, f"{fn.name}() runs in {context}")]
    trace += call_steps(ctx, v.chain, rule.words("step-asserted", v.cell, **args))
    trace.append(Step(target.name, target.file, v.assertion.line, here, v.assertion.col))
    return rule.finding("asserted", v.cell, (fn.file, v.witness.call.line, v.witness.call.col,
                                             fn.name),
                        detail=f"{target.name}|{v.lock}|asserted", trace=trace,
                        related=[Related(target.file, v.assertion.line, here,
                                         v.assertion.col)], **args)


def _annotatable(rule, ctx, v):
    """A function that only runs where what it needs is provided: declare it so."""
    fn = ctx.program.functions[v.function]
    w, lock = v.witness, v.lock
    annotation = suggestion(ctx, lock)
    kind, what = v.way
    if kind == "call":
        caller = ctx.program.functions[what.caller]
        first = Step(caller.name, caller.file, what.call.line,
                     f"calls {fn.name}() with {lock} provided", what.call.col)
        origin = f"its callers provide it (e.g. {caller.name}())"
    else:
        first = entry_step(ctx, what)
        origin = f"it runs as a {what.kind}"
    needed = lock.replace("-", " ") if v.cell.kind == "context" else lock
    trace = [first, Step(fn.name, fn.file, w.call.line, f"calls {w.required}()", w.call.col)]
    return rule.finding("annotatable", v.cell, (fn.file, fn.line, fn.col, fn.name),
                        detail=f"{lock}|{annotation}", trace=trace, function=fn.name,
                        callee=callee_words(ctx, w), needed=needed, origin=origin,
                        annotation=annotation)


def _registration(rule, ctx, v):
    """A function that may assume a lock, registered where nothing provides it."""
    entry, lock = v.entry, v.lock
    fn = ctx.program.functions[entry.func]
    reg = entry.registration
    related = registration_related(ctx, entry) + [
        Related(fn.file, fn.line, f"{fn.name}() declared to require {lock}")]
    return rule.finding("registration", v.cell,
                        (reg.file, reg.line, reg.call.col, ctx.program.name_of(reg.caller)),
                        detail=f"{fn.name}|{lock}|{entry.kind}", trace=[entry_step(ctx, entry)],
                        related=related, function=fn.name, lock=lock, kind=entry.kind,
                        api=reg.api)


# ---- the balance of sections, in the rule's nouns: ("lock", "acquired", "released", "held")

def _paths(rule, ctx, v):
    """Paths that leave a section differently: the shortest odd one."""
    fn = ctx.program.functions[v.function]
    words = rule.nouns()
    section, ident = v.key
    mine = lambda s, i: s == section and (ident is None or i == ident)  # noqa: E731
    explorer = v.summary.explorer
    where, col = exit_of(fn, explorer, v.node)
    leak = v.net > 0
    line = min(n for s, i, _c, n in (v.state.held if leak else v.state.below) if mine(s, i))
    note = f"{section} {words['opened' if leak else 'closed']} here"
    at, chain = where_changed(ctx, fn, line, section, v.net)
    trace = [Step(fn.name, fn.file, line, note + changed_by(ctx, chain), at)] + \
        decisions(fn, explorer, v.node, line) + [
        Step(fn.name, fn.file, where, f"returns with {section} {words['still']}" if leak
             else "returns")]
    what = "leak" if leak else "extra-end" if v.owned else "unpaired-return"
    return rule.finding(what, v.cell, (fn.file, where, col, fn.name),
                        detail=f"{section}|{what}", trace=trace,
                        related=[Related(fn.file, line, note)], section=section, line=line,
                        function=fn.name, instance=instance_words(ctx, fn, line, section),
                        **words)


def _twice(rule, ctx, v):
    """A section ended twice on one path."""
    fn = ctx.program.functions[v.function]
    words = rule.nouns()
    section, call, first = v.section, v.call, v.first
    trace = [Step(fn.name, fn.file, first, f"{section} {words['closed']} here")] if first else []
    trace += decisions(fn, v.summary.explorer, v.node, 0) if v.summary.explorer else []
    trace.sort(key=lambda step: step.line)
    trace.append(Step(fn.name, fn.file, call.line, f"{section} {words['closed']} again",
                      call.col))
    before = f" (already {words['closed']} at line {first})" if first else ""
    return rule.finding("twice", v.cell, (fn.file, call.line, call.col, fn.name),
                        detail=f"{section}|double|{call.name}", trace=trace, section=section,
                        before=before, instance=instance_words(ctx, fn, call.line, section),
                        **words)


def _entry_point(rule, ctx, v):
    """An entry point that leaves a section open on every path, or closes one it lacks."""
    fn = ctx.program.functions[v.entry.func]
    words = rule.nouns()
    entry, section, summary = v.entry, v.section, v.summary
    node, state = min(summary.exits, key=lambda e: (len(summary.explorer.path(e[0])), e[0]))
    where, _col = exit_of(fn, summary.explorer, node)
    # Roots named by [[entry]] have the kind "entry": "an entry point", not "a entry entry".
    kind = "an entry point" if entry.kind == "entry" else f"a {entry.kind} entry point"
    opens = v.delta > 0
    line = min(n for s, _i, _c, n in (state.held if opens else state.below) if s == section)
    col, chain = where_changed(ctx, fn, line, section, v.delta)
    note = f"{section} {words['opened' if opens else 'closed']} here" + changed_by(ctx, chain)
    # A callee that takes it on some of its paths only (a result it returns, ignored).
    where_taken = next((f"on the paths where {ctx.program.name_of(k)}() takes it"
                        for k in chain if not ctx.locks.summary(k).consistent), "on every path")
    trace = [entry_step(ctx, entry), Step(fn.name, fn.file, line, note, col),
             Step(fn.name, fn.file, where, "returns")]
    return rule.finding("entry-open" if opens else "entry-close", v.cell,
                        (fn.file, line, col, fn.name),
                        detail=f"{section}|entry|{'open' if opens else 'close'}", trace=trace,
                        related=registration_related(ctx, entry), section=section,
                        function=fn.name, kind=kind, where_taken=where_taken,
                        instance=instance_words(ctx, fn, line, section), **words)


def _handoff(rule, ctx, v):
    """A deferred callback that does not end, on every path, what was handed to it."""
    words = rule.nouns()
    handoff, summary, open_paths = v.handoff, v.summary, v.open_paths
    cb = ctx.program.functions[handoff.callback]
    owner = ctx.program.functions[handoff.owner]
    section, call = handoff.section, handoff.call
    trace = [Step(owner.name, owner.file, handoff.begin, f"{section} {words['opened']} here"),
             Step(owner.name, owner.file, call.line,
                  f"defers {cb.name}() with {section} {words['still']}", call.col)]
    where, col = cb.line, cb.col
    if open_paths:
        node, _st = min(open_paths, key=lambda e: (len(summary.explorer.path(e[0])), e[0]))
        where, col = exit_of(cb, summary.explorer, node)
        trace += decisions(cb, summary.explorer, node, 0)
    trace.append(Step(cb.name, cb.file, where, f"returns with {section} {words['still']}"))
    related = [Related(owner.file, handoff.begin, f"{section} {words['opened']} here"),
               Related(owner.file, call.line, f"{cb.name}() deferred here", call.col)]
    some = "some of its paths" if len(open_paths) < len(summary.exits) else "any path"
    return rule.finding("handoff", v.cell, (cb.file, where, col, cb.name),
                        detail=f"{section}|handed|{owner.name}", trace=trace, related=related,
                        section=section, owner=owner.name, callback=cb.name,
                        line=call.line, some=some, **words)


def _deferral(rule, ctx, v):
    """A section open across a deferral without the one that must span it."""
    handoff, spec = v.handoff, v.rule
    owner = ctx.program.functions[handoff.owner]
    cb = ctx.program.functions[handoff.callback]
    call = handoff.call
    related = [Related(owner.file, handoff.begin, f"{spec.section} begins here")]
    trace = [Step(owner.name, owner.file, handoff.begin, f"{spec.section} begins here"),
             Step(owner.name, owner.file, call.line,
                  f"defers {cb.name}() to the main loop with {spec.section} open", call.col)]
    end = first_end(ctx.locks, handoff.callback, spec.section)
    if end:
        related.append(Related(end[1], end[0], f"{spec.section} ends here, in {cb.name}()"))
        trace.append(Step(cb.name, end[1], end[0], f"{spec.section} ends here"))
    return rule.finding(v.problem, v.cell, (owner.file, call.line, call.col, owner.name),
                        detail=f"{spec.section}|{spec.requires}|{cb.name}|{v.problem}",
                        trace=trace, related=related, section=spec.section,
                        requires=spec.requires, callback=cb.name)


REPORTERS = {
    "entry": _entry, "local": _local, "inherited": _local, "undeclared": _undeclared,
    "annotatable": _annotatable, "passed": _passed, "asserted": _asserted,
    "registration": _registration, "paths": _paths,
    "twice": _twice, "entry-point": _entry_point, "handoff": _handoff, "deferral": _deferral,
}

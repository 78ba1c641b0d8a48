"""A confirmation in SARIF 2.1.0 (qlint/report/sarif.py writes it): the record goes into the
result's property bag, and a counterexample becomes a codeFlow with one threadFlow per thread;
each location's executionOrder is the event's place in the interleaving, so a viewer can
rebuild the timeline across threads, and the violating event is `essential`."""
from __future__ import annotations

import sarif_om as om

from ..report.sarif import location, node


def result_properties(confirmation: dict) -> dict:
    return {"confirmation": confirmation}


def counterexample_flow(confirmation: dict, root: str):
    """The counterexample as a codeFlow, or None when there is none."""
    events = confirmation.get("schedule") or []
    if confirmation.get("status") != "confirmed" or not events:
        return None
    names = list(dict.fromkeys((confirmation.get("threads") or []) +
                               [e["thread"] for e in events]))   # the setup's too
    flows = []
    for name in names:
        steps = [node(om.ThreadFlowLocation, execution_order=order,
                      importance="essential" if e.get("violation") else None,
                      location=_location(e, root))
                 for order, e in enumerate(events, 1) if e["thread"] == name]
        if steps:
            flows.append(node(om.ThreadFlow, id=name, locations=steps,
                              message=node(om.Message, text=f"thread {name}")))
    text = f"counterexample ({confirmation['invariant']}): {confirmation['message']}"
    return node(om.CodeFlow, message=node(om.Message, text=text), thread_flows=flows)


def _location(event: dict, root: str):
    text = f"{event['function']}: {event['event']}"
    if event.get("path"):
        return location(event["path"], event["line"], 0, root, text)
    return node(om.Location, message=node(om.Message, text=text))

"""A confirmation in SARIF 2.1.0 terms, for the SARIF writer: the record itself goes into the
result's property bag, and a counterexample becomes a codeFlow with one threadFlow per thread;
each location's executionOrder is the event's place in the interleaving, so a viewer can
rebuild the timeline across threads."""
from __future__ import annotations


def result_properties(confirmation: dict) -> dict:
    """Properties to merge into a result's property bag."""
    return {"confirmation": confirmation}


def code_flow(confirmation: dict, threads: list[str] | None = None):
    """The counterexample as a SARIF codeFlow (plain JSON data), or None if there is none."""
    events = confirmation.get("schedule") or []
    if confirmation.get("status") != "confirmed" or not events:
        return None
    names = threads or list(dict.fromkeys(e["thread"] for e in events))
    flows = []
    for name in names:
        locations = [_location(order, e) for order, e in enumerate(events, 1) if e["thread"] == name]
        if locations:
            flows.append({"id": name, "message": {"text": f"thread {name}"}, "locations": locations})
    text = f"counterexample ({confirmation['invariant']}): {confirmation['message']}"
    return {"message": {"text": text}, "threadFlows": flows}


def _location(order: int, event: dict) -> dict:
    message = {"text": f"{event['function']}: {event['event']}"}
    location = {"message": message}
    if event.get("path"):
        location["physicalLocation"] = {"artifactLocation": {"uri": event["path"],
                                                             "uriBaseId": "%SRCROOT%"},
                                        "region": {"startLine": max(event["line"], 1)}}
    out = {"executionOrder": order, "location": location}
    if event.get("violation"):
        out["importance"] = "essential"
    return out

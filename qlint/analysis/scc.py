"""Strongly connected components (iterative Tarjan), shared by the call graph and the CFGs."""
from __future__ import annotations


def sccs(nodes, succ) -> list[list]:
    """Components of the graph `succ(node) -> iterable`, each sorted, in reverse topological
    order: a component comes before every component that reaches it."""
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    out: list[list] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ(child))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(sorted(comp))
    return out


def postorder(nodes, succ) -> list:
    """`nodes` in depth-first postorder over the edges that stay among them, roots taken in the
    given order: in a call graph, callees before callers wherever no cycle forbids it."""
    members = set(nodes)
    seen: set = set()
    out: list = []
    for root in nodes:
        if root in seen:
            continue
        seen.add(root)
        work = [(root, iter(succ(root)))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                out.append(node)
            elif child in members and child not in seen:
                seen.add(child)
                work.append((child, iter(succ(child))))
    return out

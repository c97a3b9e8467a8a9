"""rlam's ``fork_trace``: a fork run inheriting the original's steps by reference."""

from __future__ import annotations

from reprolam.compat.rlam.trace import ExecutionTrace


def fork_trace(original_trace: ExecutionTrace, fork_point: str) -> ExecutionTrace:
    """A new trace holding the original's actions up to and including ``fork_point``.

    Which actions: rlam's, those before ``fork_point`` in topological order. In the store the
    fork is a new run that inherits the original's steps by reference up to the first step
    not among them; any later step among them is recorded in the fork as reused (its outputs
    taken, nothing executed). The original is never changed; the fork is yours to extend.
    ``RuntimeError`` if ``fork_point`` is not in the original trace.
    """
    import networkx as nx

    original_trace.require_action(fork_point)
    copied: list[str] = []
    for node in nx.topological_sort(original_trace.graph):
        copied.append(node)
        if node == fork_point:
            break
    run = original_trace.run
    indexes = {original_trace._index[node] for node in copied}
    at = next(i for i in range(len(run.steps) + 1) if i not in indexes)
    carried = sorted(i for i in indexes if i > at)
    forked = ExecutionTrace(store=original_trace.store)
    forked._run = run.fork(at, carry=carried)
    renumbered = {old: at + position for position, old in enumerate(carried)}
    for node in copied:  # same nodes, data and edges as rlam's copy
        nx.DiGraph.add_node(forked.graph, node, **original_trace.graph.nodes[node])
        for parent in original_trace.graph.predecessors(node):
            nx.DiGraph.add_edge(forked.graph, parent, node)
    for node in copied:  # inherited steps keep their index, carried ones are renumbered
        old = original_trace._index[node]
        forked._index[node] = new = renumbered.get(old, old)
        forked._node_at[new] = node
    return forked

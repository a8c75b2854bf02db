"""Dead-layer elimination.

    x ─ A ─ y ─ B ─ out          x ─ A ─ y ─ B ─ out
         └─ C ─ unused     ==>
Layers none of whose outputs reach a network output are removed.
"""


def eliminate_dead_layers(graph, ctx) -> int:
    return graph.remove_dead()

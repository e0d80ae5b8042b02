"""The package's structure: dependencies point down the layers (`module_graph.LAYERS`),
no cycle, no import hidden inside a function, pure protocol arithmetic, and strategies
that ask the session to book instead of writing the world's state."""
import ast

import module_graph as mg

EDGES = mg.edges()
#: only the command line imports inside functions (so that `--help` and bad input answer
#: at once); the package's front door imports lazily what its functions return
LAZY_ALLOWED = ("simulation.cli", mg.TOP)
#: the world's state a strategy must not assign to: it asks the session (or the world
#: object's own methods) instead
WORLD_STATE = {"world", "fleet", "radios", "nat", "manager", "cells", "broker", "security",
               "peer_load", "tracer", "failures", "polls_sent", "polls_answered"}


def test_every_module_has_a_layer():
    assert [m for m in mg.modules() if m != mg.TOP and mg.layer_of(m) is None] == []


def test_no_edge_points_up():
    assert mg.upward(EDGES) == []


def test_no_cycle():
    assert mg.cycles(EDGES) == []


def test_no_import_inside_a_function_but_the_command_lines():
    assert [(a, b) for a, b, inner in EDGES if inner and a not in LAZY_ALLOWED] == []


def test_protocols_are_pure():
    """Sizes, timers and closed forms import nothing of the simulation but each other."""
    bad = [(a, b) for a, b, _ in EDGES if a.startswith("simulation.protocols")
           and not b.startswith("simulation.protocols") and b != "simulation.errors"]
    assert bad == []


def _chain(node) -> list[str]:
    """Names along an assignment target: `w.fleet.x[i]` -> ['w', 'fleet', 'x']."""
    names = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return names[::-1]


def test_strategies_do_not_write_the_world():
    writes = []
    for name, path in mg.modules().items():
        if not name.startswith("simulation.strategies"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, ast.AugAssign) else [])
            for target in targets:
                chain = _chain(target)
                # through the world's state (a strategy's own attributes are its own)
                if WORLD_STATE & set(chain[1:-1]) or (len(chain) > 1
                                                      and chain[0] in ("w", "b", "world")):
                    writes.append(f"{path.name}:{node.lineno}: {'.'.join(chain)}")
    assert writes == []


def test_the_checks_can_fail():
    """The graph reader sees an upward edge, a cycle and a write into the world."""
    fake = [("simulation.protocols.coap", "simulation.world.nat", False),
            ("simulation.world.nat", "simulation.protocols.coap", True)]
    assert mg.upward(fake) == [("simulation.protocols.coap", "simulation.world.nat")]
    assert mg.cycles(fake) == [["simulation.protocols.coap", "simulation.world.nat"]]
    target = ast.parse("w.fleet.busy_until[i] = 1.0").body[0].targets[0]
    assert _chain(target) == ["w", "fleet", "busy_until"]

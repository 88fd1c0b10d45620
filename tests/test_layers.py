"""The layers import one way (hw <- models <- sim) and no module imports itself through others.

Read from the source with ``ast`` (nothing is imported), so a violation names the file and line.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("hw", "models", "sim")          # each may import only the ones before it


def _modules():
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


MODULES = dict(_modules())


def _imports(name, path):
    """(line, imported project module) for every import in ``path``, deferred ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from pkg import module" imports a module; "from module import name" the module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in LAYERS:
                yield node.lineno, target


def test_layers_import_one_way():
    wrong = []
    for name, path in MODULES.items():
        rank = LAYERS.index(name.split(".")[0])
        for line, target in _imports(name, path):
            if LAYERS.index(target.split(".")[0]) > rank:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "imports from a lower layer up:\n" + "\n".join(wrong)


def test_no_import_cycles():
    graph = {name: sorted({t for _, t in _imports(name, path) if t in MODULES and t != name})
             for name, path in MODULES.items()}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


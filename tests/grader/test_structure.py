"""The grader's modules import each other without circles: the command line only parses and calls."""

import ast
from pathlib import Path

from grader.labs import REPO


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def grader_imports() -> dict[str, set[str]]:
    """Each grader module and the grader modules it imports, at the top or inside a function."""
    modules = {_module_name(path): path for path in (REPO / "grader").rglob("*.py")
               if "checks" not in path.relative_to(REPO / "grader").parts[:1]}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module, *(f"{node.module}.{a.name}" for a in node.names)] if isinstance(node, ast.ImportFrom) \
                and node.module else []
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def test_no_import_circles_in_the_grader():
    graph = grader_imports()
    assert "grader.__main__" in graph and "grader.grading" in graph["grader.__main__"]

    def cycle_from(start, node, path):
        for target in graph[node]:
            if target == start:
                return [*path, target]
            if target not in path:
                found = cycle_from(start, target, [*path, target])
                if found:
                    return found
        return None

    circles = [c for c in (cycle_from(name, name, [name]) for name in graph) if c]
    assert not circles, circles
    assert not any("grader.__main__" in targets for targets in graph.values())

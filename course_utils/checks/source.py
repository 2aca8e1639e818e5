"""Which names a piece of code uses: how checks spot a forbidden shortcut in a student's answer.

Used on both sides: a public check reads the source of the student's function
(:func:`function_source`), a hidden check reads the submitted cell's text from
the notebook file, never from the student's kernel. Import aliases are resolved,
so ``import tensorflow as t; t.nn.sigmoid(z)`` and ``from tensorflow.nn import
sigmoid as s; s(z)`` both count as ``tensorflow.nn.sigmoid``.

Reading the source cannot see a function reached another way (``getattr`` with a
computed name, ``keras.activations.sigmoid`` for ``tf.nn.sigmoid``): :func:`watch_calls`
sees which library functions actually run, by their code objects.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator

# Short names students write for common modules, resolved to the full module path.
_CANONICAL = {"tf": "tensorflow", "np": "numpy", "keras": "keras", "tfk": "keras"}


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attribute lookups on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def used_names(source: str) -> set[str]:
    """Every dotted name ``source`` reads (``tensorflow.nn.sigmoid``, ``numpy.maximum``...), aliases resolved.

    Raises SyntaxError when ``source`` does not parse.
    """
    tree = ast.parse(textwrap.dedent(source))
    aliases = dict(_CANONICAL)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                    alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)):
            dotted = _dotted(node)
            if dotted:
                head, _, rest = dotted.partition(".")
                resolved = aliases.get(head, head)
                resolved = _CANONICAL.get(resolved, resolved)
                names.add(f"{resolved}.{rest}" if rest else resolved)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
            target = _dotted(node.args[0])
            if target:
                names.add(f"{aliases.get(target, target)}.{node.args[1].value}")
    return names


def imports_of(sources: Iterable[str]) -> str:
    """The import statements of ``sources`` (notebook cells), one per line; a cell that does not parse adds none.

    Given to :func:`forbidden_uses`, they resolve names an answer uses but imports in another cell.
    """
    lines = []
    for source in sources:
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines)


def forbidden_uses(source: str, forbidden: Iterable[str], imports: str = "") -> list[str]:
    """The entries of ``forbidden`` that ``source`` uses, in the order given.

    An entry matches a used name equal to it or ending with ``.<entry>``: ``"nn.sigmoid"``
    catches ``tf.nn.sigmoid`` and ``tensorflow.nn.sigmoid``; ``"tensorflow.nn.conv2d"`` only that.
    ``imports`` (see :func:`imports_of`) are the other cells' import statements, read before ``source``.
    Code that does not parse uses nothing (the kernel reports the syntax error itself).
    """
    try:
        names = used_names(f"{imports}\n{textwrap.dedent(source)}")
    except SyntaxError:
        return []
    return [entry for entry in forbidden
            if any(name == entry or name.endswith("." + entry) for name in names)]


def kernel_cells() -> list[str]:
    """The cells run so far in this IPython kernel (its input history ``In``); [] outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    return [str(cell) for cell in shell.user_ns.get("In", [])] if shell is not None else []


def function_source(function: Callable) -> str | None:
    """The source text of ``function`` (in a notebook: its cell's code), or None when unavailable."""
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return None


def resolve(name: str):
    """The object a dotted name names (``tf.nn.sigmoid``, ``numpy.add.at``), importing its module; None if none."""
    head, _, rest = name.partition(".")
    parts = [_CANONICAL.get(head, head), *(rest.split(".") if rest else [])]
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                target = getattr(target, attribute)
        except AttributeError:
            return None
        return target
    return None


def _code_of(target):
    """The code object that runs when ``target`` is called (decorators unwrapped), or None for a builtin."""
    if isinstance(target, type):
        target = vars(target).get("__init__") or vars(target).get("__call__")
    try:
        target = inspect.unwrap(target)
    except ValueError:
        pass
    return getattr(target, "__code__", None)


def _same_builtin(called, watched) -> bool:
    return called is watched or (type(called) is type(watched) and getattr(called, "__name__", 0) ==
                                 getattr(watched, "__name__", 1) and getattr(called, "__self__", 0) is
                                 getattr(watched, "__self__", 1))


@contextlib.contextmanager
def watch_calls(names: Iterable[str]) -> Iterator[list[str]]:
    """Record which of the library functions ``names`` (dotted, as in :func:`resolve`) run inside the block.

    Yields a list that fills, in order of first call, with the names called. A function is recognised by the
    code object that runs (its decorators unwrapped) or, for a builtin, by identity, so every alias, lookup and
    API that reaches it counts. ``tf.function`` runs eagerly inside the block, so compiled code is seen too.
    """
    codes, builtins = {}, []
    for name in names:
        target = resolve(name)
        code = _code_of(target) if target is not None else None
        if code is not None:
            codes[code] = name
        elif target is not None:
            builtins.append((target, name))
    called: list[str] = []

    def profiler(frame, event, arg):
        if event == "call":
            name = codes.get(frame.f_code)
        elif event == "c_call":
            name = next((n for target, n in builtins if _same_builtin(arg, target)), None)
        else:
            return
        if name is not None and name not in called:
            called.append(name)

    tf = sys.modules.get("tensorflow")
    eager = tf.config.functions_run_eagerly() if tf is not None else None
    if tf is not None:
        tf.config.run_functions_eagerly(True)
    previous = sys.getprofile()
    sys.setprofile(profiler)
    threading.setprofile(profiler)
    try:
        yield called
    finally:
        sys.setprofile(previous)
        threading.setprofile(None)
        if tf is not None:
            tf.config.run_functions_eagerly(eager)


def call_watched(function: Callable, names: Iterable[str], *args, **kwargs) -> tuple[object, list[str]]:
    """``(function(*args, **kwargs), the names of :func:`watch_calls` that ran during the call)``."""
    with watch_calls(names) as called:
        value = function(*args, **kwargs)
    return value, list(called)

"""The narrow channel between trusted checks and the student's kernel.

A hidden check asks for *values*: ``student.call("sigmoid", z)`` sends the
arguments into the sandboxed kernel (as a JSON tree plus an ``.npz`` file that
the kernel can read but not change), calls whatever the student's namespace
holds under that name, and sends back only plain data (NumPy arrays, numbers,
strings, None, and lists/tuples/dicts of them) as JSON plus an ``.npz`` blob,
read here with ``allow_pickle=False``. Nothing the kernel does can run code in
the trusted process or change how the answer is judged.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import re
import secrets

import numpy as np

from grader.kernel import KernelGone, SandboxedKernel

REPLY_LIMIT = 64 * 1024 * 1024
MESSAGE_LIMIT = 160

# Runs inside the student's kernel. It is sent afresh with every request.
_PROBE = r'''
def {name}():
    import base64, io, json
    import numpy
    shell = get_ipython()
    ns = shell.user_ns
    request = json.loads(ns.pop("{name}_request"))
    ns.pop("{name}", None)

    def unpack(node, arrays):
        if isinstance(node, dict) and "__array__" in node:
            return arrays[node["__array__"]]
        if isinstance(node, dict) and "__list__" in node:
            return [unpack(item, arrays) for item in node["__list__"]]
        if isinstance(node, dict) and "__tuple__" in node:
            return tuple(unpack(item, arrays) for item in node["__tuple__"])
        if isinstance(node, dict) and "__dict__" in node:
            return {{key: unpack(item, arrays) for key, item in node["__dict__"]}}
        return node

    def pack(value, arrays, depth=0):
        if depth > 20:
            raise TypeError("the value is nested too deeply")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, numpy.generic):
            return value
        if isinstance(value, (list, tuple)):
            key = "__list__" if isinstance(value, list) else "__tuple__"
            return {{key: [pack(item, arrays, depth + 1) for item in value]}}
        if isinstance(value, dict):
            return {{"__dict__": [[str(k), pack(v, arrays, depth + 1)] for k, v in value.items()]}}
        if hasattr(value, "numpy") and callable(value.numpy):
            value = value.numpy()
        array = numpy.asarray(value)
        if array.dtype == object:
            raise TypeError(f"cannot send back a value of type {{type(value).__name__}}")
        name = f"a{{len(arrays)}}"
        arrays[name] = array
        return {{"__array__": name}}

    try:
        blob = numpy.load(request["npz"], allow_pickle=False)
        arrays = {{key: blob[key] for key in blob.files}}
        args, kwargs = unpack(request["tree"], arrays)
        target = eval(request["expr"], ns)
        result = target(*args, **kwargs) if request["call"] else target
        out = {{}}
        tree = pack(result, out)
        buffer = io.BytesIO()
        numpy.savez(buffer, **out)
        return json.dumps({{"tree": tree, "npz": base64.b64encode(buffer.getvalue()).decode()}})
    except BaseException as error:
        return json.dumps({{"error": f"{{type(error).__name__}}: {{error}}"}})
'''


class StudentError(Exception):
    """The student's code failed or did not answer; the message is safe to show the student."""


def pack(value, arrays: dict[str, np.ndarray]):
    """Trusted side: turn arguments into a JSON tree plus named arrays."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return {"__list__" if isinstance(value, list) else "__tuple__": [pack(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[str(k), pack(v, arrays)] for k, v in value.items()]}
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"cannot send a {type(value).__name__} to the student's kernel")
    name = f"a{len(arrays)}"
    arrays[name] = array
    return {"__array__": name}


def unpack(node, arrays: dict[str, np.ndarray]):
    """Trusted side: rebuild plain data from a JSON tree and arrays; reject anything else."""
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, list):
        raise ValueError("malformed answer")
    if "__array__" in node:
        return arrays[str(node["__array__"])]
    if "__list__" in node:
        return [unpack(item, arrays) for item in node["__list__"]]
    if "__tuple__" in node:
        return tuple(unpack(item, arrays) for item in node["__tuple__"])
    if "__dict__" in node:
        return {str(key): unpack(item, arrays) for key, item in node["__dict__"]}
    raise ValueError("malformed answer")


def _label(expr: str) -> str:
    """Name a plain function or variable; never echo a check's own expression to the student."""
    return f"`{expr}`" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", expr) else "your code"


def _short(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    return first if len(first) <= MESSAGE_LIMIT else first[:MESSAGE_LIMIT] + "..."


class StudentKernel:
    """What hidden checks see of a student: values, fetched through the probe."""

    def __init__(self, kernel: SandboxedKernel, default_timeout: float = 60.0):
        self._kernel = kernel
        self.default_timeout = default_timeout

    def call(self, expr: str, *args, _timeout: float | None = None, **kwargs):
        """Evaluate ``expr`` in the notebook's namespace, call it with the arguments, return plain data."""
        return self._request(expr, args, kwargs, call=True, timeout=_timeout)

    def value(self, expr: str, *, _timeout: float | None = None):
        """Evaluate ``expr`` in the notebook's namespace and return it as plain data."""
        return self._request(expr, (), {}, call=False, timeout=_timeout)

    def _request(self, expr: str, args, kwargs, *, call: bool, timeout: float | None):
        arrays: dict[str, np.ndarray] = {}
        tree = pack([list(args), kwargs], arrays)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        name = f"_grader_probe_{secrets.token_hex(8)}"
        try:
            with self._kernel.shared_file(buffer.getvalue()) as npz:
                payload = json.dumps({"tree": tree, "npz": npz, "expr": expr, "call": call})
                code = _PROBE.format(name=name) + f"\n{name}_request = {payload!r}\n"
                text = self._kernel.evaluate(code, f"{name}()", timeout or self.default_timeout, REPLY_LIMIT)
        except KernelGone as gone:
            raise StudentError(f"the notebook's kernel is not running ({gone})") from None
        except TimeoutError:
            raise StudentError(f"{_label(expr)} did not finish within {timeout or self.default_timeout:.0f} s") \
                from None
        except ValueError as error:
            raise StudentError(f"{_label(expr)} returned too much data ({error})") from None
        try:
            reply = json.loads(ast.literal_eval(text))
            if "error" in reply:
                raise StudentError(f"{_label(expr)} raised {_short(str(reply['error']))}")
            blob = np.load(io.BytesIO(base64.b64decode(reply["npz"])), allow_pickle=False)
            return unpack(reply["tree"], {key: blob[key] for key in blob.files})
        except StudentError:
            raise
        except Exception:
            raise StudentError(f"{_label(expr)} sent back an answer that could not be read") from None

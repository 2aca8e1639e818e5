"""Hostile and broken Lab 1 submissions, each with the outcome it must get.

Every case starts from one of the example submissions (alice: all correct, 16 points; bob: two wrong
answers, 14 points; carol: untouched, 0 points) and changes it. ``{repo}``, ``{course}`` and
``{port}`` in the code are filled in by the test.

``CRASHES`` kill the kernel after correct work (graded with small limits, :data:`CRASH_LIMITS`): a
crash costs only what it breaks, so a crash in the last cell keeps every point and one after the
perceptron exercise keeps the points of the exercises before it.
"""

from dataclasses import dataclass

ALICE, BOB = 16.0, 14.0
# What the example class (grader/examples/lab1_perceptron) gets, however it is graded.
EXAMPLE_GRADES = {"alice": ("graded", ALICE), "bob": ("graded", BOB), "carol": ("missing answer", 0.0),
                  "dave": ("invalid notebook", 0.0)}


@dataclass(frozen=True)
class Case:
    student: str
    base: str              # alice, bob or carol
    code: str = ""          # a cell inserted right after the imports cell
    status: str | tuple[str, ...] = "graded"  # several when more than one outcome is right
    score: float = 0.0
    edit: str = ""          # a named edit of the notebook itself (see the test)
    after: str = ""         # where the code goes: after this grade_id's cell, "end", or "" (after the imports)


CORPUS = [
    Case("loop", "carol", "while True:\n    pass", "timeout"),
    Case("nosigint", "carol", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
         "timeout"),
    Case("exiter", "carol", "import os\nos._exit(3)", "kernel died"),
    Case("segfault", "carol", "import ctypes\nctypes.string_at(0)", "kernel died"),
    Case("membomb", "carol", "hog = []\nwhile True:\n    hog.append(bytearray(50_000_000))", "out of memory"),
    Case("forkbomb", "carol", "import os, time\nfor _ in range(100_000):\n    try:\n        pid = os.fork()\n"
         "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(20)\n        os._exit(0)",
         ("missing answer", "kernel died")),  # the bomb may take the kernel's own threads down with it
    Case("printer", "carol", "while True:\n    print('x' * 100_000)", "output limit"),
    Case("snoop", "carol", "for path in ['{repo}/grader/checks/test_lab1.py', '{repo}/solutions',\n"
         "             '{course}/gradebook.db', '{course}/submitted/alice/lab1_perceptron/lab1_perceptron.ipynb']:\n"
         "    try:\n        print(open(path).read()[:2000])\n"
         "    except Exception as error:\n        print(repr(error))",
         "missing answer"),
    Case("vandal", "carol", "for path in ['{course}/gradebook.db', '{course}/grades.csv', "
         "'{course}/submitted/alice/lab1_perceptron/lab1_perceptron.ipynb', '{repo}/grader/checks/test_lab1.py']:\n"
         "    try:\n        open(path, 'w').write('pwned')\n    except Exception as error:\n        print(repr(error))",
         "missing answer"),
    Case("network", "carol", "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
         "except OSError as error:\n    print(repr(error))", "missing answer"),
    Case("patcher", "bob", "import numpy, pytest, course_utils.checks as c\nnumpy.allclose = lambda *a, **k: True\n"
         "numpy.testing.assert_allclose = lambda *a, **k: None\nc.array_problem = lambda *a, **k: None\n"
         "pytest.main = lambda *a, **k: 0\nchecks.check_activations = lambda *a: print('PASSED')",
         "graded", BOB),
    Case("hooks", "bob", "def _fake(lines):\n    text = ''.join(lines)\n"
         "    return [\"print('PASSED')\\n\"] if 'checks.check_' in text else lines\n"
         "get_ipython().input_transformers_cleanup.append(_fake)", "graded", BOB),
    Case("traceback", "bob", "import sys\nget_ipython().showtraceback = lambda *a, **k: None\n"
         "sys.excepthook = lambda *a: None", "graded", BOB),
    Case("stderr", "alice", "import sys, warnings\nwarnings.warn('a harmless warning')\n"
         "print('noise on stderr', file=sys.stderr)", "graded", ALICE),
    Case("detector", "alice", status="graded", score=ALICE - 1, edit="relu_lookup"),
    Case("locked", "alice", status="tampered", score=ALICE, edit="edit_locked"),
    Case("deleter", "alice", status="tampered", score=ALICE, edit="delete_check"),
    Case("twin", "alice", status="tampered", score=ALICE, edit="duplicate_answer"),
    Case("oldformat", "alice", status="graded", score=ALICE, edit="nbformat3"),
    Case("badjson", "alice", status="invalid notebook", edit="truncate"),
    Case("empty", "alice", status="invalid notebook", edit="empty"),
    Case("huge", "alice", status="invalid notebook", edit="huge"),
]

NOSIGINT_LOOP = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
CRASH_LIMITS = {"memory_mb": 2500, "cell_seconds": 180}
CRASHES = [
    Case("lastloop", "alice", NOSIGINT_LOOP, "timeout", ALICE, after="end"),
    Case("lasthog", "alice", "hog = []\nwhile True:\n    hog.append(bytearray(50_000_000))", "out of memory", ALICE,
         after="end"),
    Case("lastexit", "alice", "import os\nos._exit(3)", "kernel died", ALICE, after="end"),
    Case("earlyexit", "alice", "import os\nos._exit(3)", "kernel died", 5.0, after="perceptron"),
]

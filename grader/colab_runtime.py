"""Colab's runtime as a test environment (``make colab-check``), and what a new Colab freeze changes for the labs.

Colab runs a lab on the system Python of an Ubuntu image whose packages Google publishes as a pip freeze
(``../shared/colab/pip-freeze.gpu.txt``, from ``googlecolab/backend-info``). ``check`` builds a stand-in for it:
a copy of the local Python's interpreter and standard library (3.11 here; Colab runs 3.13) whose own
site-packages holds Colab's version of every package the labs, ``course_utils`` and the grading notebook import
(``tensorflow-cpu`` at Colab's TensorFlow version), of the kernel's packages and of everything the setup cells'
requirements pull in. A copy of an installation, not a virtual environment: in Colab that Python is the system
one, and the grading notebook layers its own virtual environment on it. Then it

1. resolves every setup cell's requirement (``course-utils`` from a wheel built here, with the cell's extras)
   against the whole freeze as constraints: a dependency floor Colab does not meet fails;
2. asks pip what that requirement would install in Colab's environment, as the setup cell runs it: a package
   Colab ships that pip would change fails;
3. runs every lab's solution notebook (``grader.labs.all_labs``) top to bottom in smoke mode, setup cell
   included, in a kernel of that Python where a stand-in ``google.colab`` is imported at start (so the setup
   cell takes its Colab branch), the install line points at the local wheel and ``apt-get`` is a stand-in that
   installs nothing; afterwards Colab's packages must be as before;
4. runs the tests of those labs' public checks (``tests/course_utils/checks/``) with that Python and Colab's
   pytest: the checks read TensorFlow's and NumPy's error messages, which change between releases;
5. runs the grading notebook (``grader/grade_in_colab.ipynb``) the same way on the example class of Lab 1: its
   grader goes into its own virtual environment, Colab's packages stay as they were.

``compare NEW`` lists what a new freeze (a path or a URL) changes among the packages the labs import or install.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.labs import REPO, Lab, all_labs

FREEZE = REPO.parent / "shared" / "colab" / "pip-freeze.gpu.txt"
BUILD = REPO / "build" / "colab"
GRADING_NOTEBOOK = REPO / "grader" / "grade_in_colab.ipynb"
# Colab ships TensorFlow's GPU build; the stand-in gets the CPU build of the same version.
CPU_BUILDS = {"tensorflow": "tensorflow-cpu"}
# What runs Colab's kernel and its %pip, whether or not a notebook imports it.
KERNEL = ("pip", "ipython", "ipykernel", "jupyter-client")
# What the public checks' tests need there besides the labs' imports: pytest, nbformat for the mistake catalogues
# they judge, and scikit-learn, a forbidden shortcut in Lab 5's catalogue (Colab ships all three).
CHECK_TEST_PACKAGES = ("pytest", "nbformat", "scikit-learn")
CHECK_TESTS = REPO / "tests" / "course_utils" / "checks"
# Modules the course provides itself (or Colab does, as a stand-in here): not packages to install.
PROVIDED = ("course_utils", "grader", "google.colab")
# Setup-cell install lines: %pip install [options] "requirement".
PIP_LINE = re.compile(r"^\s*%pip install\b[^\n\"']*[\"'](?P<requirement>[^\"']+)[\"']", re.MULTILINE)
# The stand-in google.colab: the upload widget returns the file named by FAKE_COLAB_UPLOAD, download copies into
# FAKE_COLAB_DOWNLOADS, Drive is "mounted" by creating the mount point, no secret is set.
STAND_IN = {
    "google/colab/__init__.py": "",  # "google" stays a namespace package (protobuf lives there too)
    "google/colab/files.py": '''import os
import shutil
from pathlib import Path


def upload():
    path = Path(os.environ["FAKE_COLAB_UPLOAD"])
    return {path.name: path.read_bytes()}


def download(filename):
    shutil.copy(filename, os.environ["FAKE_COLAB_DOWNLOADS"])
''',
    "google/colab/drive.py": '''import os


def mount(mountpoint):
    os.makedirs(mountpoint, exist_ok=True)
''',
    "google/colab/userdata.py": '''class SecretNotFoundError(Exception):
    pass


class NotebookAccessError(Exception):
    pass


def get(key):
    raise SecretNotFoundError(key)
''',
    # Colab's kernel imports google.colab before any cell runs; so does this one.
    "colab_kernel_launcher.py": '''import google.colab  # noqa: F401
from ipykernel import kernelapp

kernelapp.launch_new_instance()
''',
    # Lab 7's setup cell runs `!apt-get install ... abcmidi timidity`: here it installs nothing, and says so.
    "bin/apt-get": '#!/bin/sh\necho "apt-get (Colab stand-in): not run: apt-get $*" >&2\n',
}


def canonical(name: str) -> str:
    """A distribution's name as pip compares it (PEP 503): ``Jupyter_Client`` -> ``jupyter-client``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Freeze:
    """A ``pip freeze``: ``pins`` maps canonical names to versions; ``direct`` maps the packages installed from
    a URL or a file (``name @ url``; no version to pin) to that URL."""

    pins: dict[str, str]
    direct: dict[str, str]


def read_freeze(text: str) -> Freeze:
    """Parse the text of a ``pip freeze`` (comments and blank lines skipped)."""
    pins, direct = {}, {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if " @ " in line:
            name, url = line.split(" @ ", 1)
            direct[canonical(name)] = url.strip()
        elif "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    return Freeze(pins, direct)


def load_freeze(source: str | Path) -> Freeze:
    """Read a freeze from a path or an ``http(s)://`` URL (for example a raw file of ``googlecolab/backend-info``)."""
    if str(source).startswith(("http://", "https://")):
        with urllib.request.urlopen(str(source), timeout=60) as response:
            return read_freeze(response.read().decode())
    return read_freeze(Path(source).read_text())


def colab_pin(name: str, freeze: Freeze) -> str | None:
    """``name==<Colab's version>``, with TensorFlow's CPU build at the GPU build's version; None if Colab lacks it."""
    name = canonical(name)
    shipped = {build: gpu for gpu, build in CPU_BUILDS.items()}.get(name, name)
    version = freeze.pins.get(shipped)
    return f"{CPU_BUILDS.get(shipped, shipped)}=={version}" if version else None


def constraints(freeze: Freeze) -> str:
    """The whole freeze as a pip constraints file, TensorFlow's CPU build included. Packages installed from a
    URL are left out: Colab's CUDA wheels for Python 3.13, google-colab (not on PyPI; the stand-in replaces it),
    a spaCy model and Colab's kernel gateway, none of which the labs import or install."""
    pins = dict(freeze.pins)
    pins.update({CPU_BUILDS[name]: pins[name] for name in CPU_BUILDS if name in pins})
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def setup_requirement(source: str) -> str:
    """The requirement a setup cell's ``%pip install`` line installs, as written in the cell."""
    found = PIP_LINE.search(source)
    if found is None:
        raise ValueError("no `%pip install \"...\"` line in the setup cell")
    return found["requirement"]


def lab_requirement(lab: Lab) -> str:
    """The requirement of ``lab``'s setup cell (the first code cell that calls ``course_utils.setup``)."""
    import nbformat

    notebook = nbformat.read(lab.solution, as_version=4)
    return setup_requirement(next(c.source for c in notebook.cells if "course_utils.setup(" in c.source))


def point_at_wheel(source: str, wheel: Path) -> str:
    """``source`` with every ``course-utils[...] @ git+https://...@tag`` requirement installing ``wheel`` instead."""
    from grader.release import PIP_SOURCE

    return PIP_SOURCE.sub(lambda match: match["package"] + wheel.resolve().as_uri(), source)


def imported_modules(code: str) -> set[str]:
    """Top-level names of the modules ``code`` (a Python file or a notebook cell, magics included) imports
    absolutely, without the standard library and what the course or the stand-in provides."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    names = set()
    for node in ast.walk(ast.parse(TransformerManager().transform_cell(code))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names if not name.startswith(PROVIDED)} - set(sys.stdlib_module_names)


def course_imports(labs: Iterable[Lab], root: Path = REPO) -> set[str]:
    """What the labs' solution notebooks, ``course_utils`` and the grading notebook import (top-level modules)."""
    import nbformat

    notebooks = [lab.solution for lab in labs] + [root / GRADING_NOTEBOOK.relative_to(REPO)]
    sources = [cell.source for path in notebooks for cell in nbformat.read(path, as_version=4).cells
               if cell.cell_type == "code"]
    sources += [path.read_text() for path in sorted((root / "course_utils").rglob("*.py"))]
    return set().union(*(imported_modules(source) for source in sources))


def distributions(modules: Iterable[str]) -> set[str]:
    """The distributions (canonical names) that provide ``modules`` in this environment."""
    from importlib.metadata import packages_distributions

    provided = packages_distributions()
    missing = sorted(set(modules) - set(provided))
    if missing:
        raise SystemExit(f"no installed distribution provides {', '.join(missing)}: install the dev environment")
    return {canonical(name) for module in modules for name in provided[module]}


def changed_packages(report: dict, installed: dict[str, str]) -> list[str]:
    """From a ``pip install --dry-run --report`` report: each package in ``installed`` (canonical name ->
    version) that pip would replace, as ``name old -> new``."""
    changes = []
    for item in report.get("install", []):
        name, version = canonical(item["metadata"]["name"]), item["metadata"]["version"]
        if name in installed and installed[name] != version:
            changes.append(f"{name} {installed[name]} -> {version}")
    return changes


def compare(current: Freeze, new: Freeze, watched: Iterable[str]) -> list[str]:
    """What ``new`` changes for the packages in ``watched``: one line per package added, removed or changed."""
    lines = []
    for name in sorted({canonical(n) for n in watched}):
        old, now = current.pins.get(name), new.pins.get(name)
        if old is None and name in current.direct:
            old = current.direct[name]
        if now is None and name in new.direct:
            now = new.direct[name]
        if old != now:
            lines.append(f"{name}: {old or 'not installed'} -> {now or 'removed'}")
    return lines


def watched_packages(root: Path = REPO) -> set[str]:
    """The packages the labs import or install: the imports' distributions, ``course-utils``'s requirements
    with every extra but ``dev``, and the kernel's packages."""
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra, rs in project["optional-dependencies"].items()
                                               if extra != "dev" for r in rs]
    names = {canonical(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in requirements}
    return names | distributions(course_imports(all_labs(root), root)) | set(KERNEL)


# --- building and running the stand-in -------------------------------------------------------------------------


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], check=True, **kwargs)


def _pip(python: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return _run([python, "-m", "pip", *args, "--quiet", "--root-user-action=ignore"], **kwargs)


def build_wheel(target: Path) -> Path:
    """``course_utils``'s wheel, built from this checkout into ``target``."""
    shutil.rmtree(target, ignore_errors=True)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", target, REPO])
    return next(target.glob("course_utils-*.whl"))


def copy_python(target: Path) -> Path:
    """A copy of this Python's installation (interpreter and standard library, not its site-packages) at
    ``target``, with pip; returns its interpreter. Like Colab's system Python, it is not a virtual environment."""
    source, version = Path(sys.base_prefix), f"python{sys.version_info.major}.{sys.version_info.minor}"
    skip = {"site-packages", "test", "__pycache__", "idlelib"}
    (target / "bin").mkdir(parents=True)
    shutil.copy2(Path(sys._base_executable).resolve(), target / "bin" / version)
    for alias in ("python3", "python"):
        (target / "bin" / alias).symlink_to(version)
    shutil.copytree(source / "lib" / version, target / "lib" / version,
                    ignore=lambda folder, names: [n for n in names if n in skip or n.startswith("config-")])
    for library in (source / "lib").glob("libpython*"):
        shutil.copy2(library, target / "lib", follow_symlinks=False)
    (target / "lib" / version / "site-packages").mkdir()
    python = target / "bin" / version
    prefix = _run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True).stdout.strip()
    if Path(prefix).resolve() != target.resolve():
        raise SystemExit(f"the copy of {source} at {target} reports sys.prefix {prefix}: this Python cannot be "
                         "copied; build the local Python relocatable (python.org or pyenv builds are)")
    _run([python, "-m", "ensurepip", "--default-pip"], capture_output=True)
    return python


def installed(python: Path) -> dict[str, str]:
    """Every distribution installed for ``python``, canonical name -> version."""
    listed = _run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True).stdout
    return {canonical(p["name"]): p["version"] for p in json.loads(listed)}


def dry_run(python: Path, requirements: list[str], *options: str) -> dict:
    """pip's report of what installing ``requirements`` with ``python`` would install (nothing is installed);
    a resolution pip cannot find exits with pip's message."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        resolved = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--dry-run", "--report",
                                   str(report), *options, *requirements], capture_output=True, text=True)
        if resolved.returncode:
            raise SystemExit(f"pip cannot install {' '.join(requirements)} {' '.join(options)}:\n"
                             f"{resolved.stderr.strip()}")
        return json.loads(report.read_text())


def write_stand_in(folder: Path) -> Path:
    """The stand-in ``google.colab`` (and its kernel launcher and ``apt-get``) in ``folder``."""
    for name, text in STAND_IN.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    (folder / "bin" / "apt-get").chmod(0o755)
    return folder


def _kernel_spec(folder: Path, python: Path, stand_in: Path) -> str:
    spec = folder / "kernels" / "colab"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [str(python), str(stand_in / "colab_kernel_launcher.py"), "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Colab stand-in",
                                                  "language": "python"}))
    return "colab"


class ColabRuntime:
    """The stand-in's folder ``build``: ``python/`` (Colab's Python), ``wheel/``, ``stand_in/``, ``jupyter/``."""

    def __init__(self, build: Path, freeze: Freeze):
        self.build, self.freeze = build, freeze
        self.python = build / "python" / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        self.constraints = build / "constraints.txt"
        self.stand_in = build / "stand_in"

    def prepare(self, labs: list[Lab]) -> dict[str, str]:
        """Build the wheel and Colab's Python (reused while its package list is unchanged); resolve every setup
        cell's requirement against the freeze. Returns the packages installed, canonical name -> version."""
        self.wheel = build_wheel(self.build / "wheel")
        self.constraints.parent.mkdir(parents=True, exist_ok=True)
        self.constraints.write_text(constraints(self.freeze))
        shutil.rmtree(self.stand_in, ignore_errors=True)
        write_stand_in(self.stand_in)
        self.requirements = {lab.name: lab_requirement(lab) for lab in labs}
        if not self.python.exists():
            copy_python(self.build / "python")
        imports = distributions(course_imports(labs))
        pins = {name: colab_pin(name, self.freeze) for name in sorted(imports | set(KERNEL) | set(CHECK_TEST_PACKAGES))}
        print("imported, not in Colab (the setup cells must install them):",
              ", ".join(name for name, pin in pins.items() if pin is None) or "none")
        wanted = {pin for pin in pins.values() if pin}
        for requirement in sorted(set(self.requirements.values())):
            local = point_at_wheel(requirement, self.wheel)
            report = dry_run(self.python, [local], "--ignore-installed", "-c", str(self.constraints))
            needed = [item["metadata"] for item in report["install"]
                      if canonical(item["metadata"]["name"]) != "course-utils"]
            print(f"{requirement.split(' @')[0]} resolves against Colab's freeze:",
                  ", ".join(f"{m['name']} {m['version']}" for m in needed))
            # What Colab lacks is left for the setup cell to install (and the check to see).
            wanted.update(f"{m['name']}=={m['version']}" for m in needed if canonical(m["name"]) in self.freeze.pins)
        stamp = self.build / "python" / "requirements.txt"
        if not stamp.exists() or stamp.read_text() != "\n".join(sorted(wanted)):
            shutil.rmtree(self.build / "python")  # from scratch: nothing of an earlier package list stays
            copy_python(self.build / "python")
            _pip(self.python, "install", "-c", self.constraints, *sorted(wanted))
            stamp.write_text("\n".join(sorted(wanted)))
        _pip(self.python, "uninstall", "--yes", "course-utils")  # left by an interrupted run, if any
        shipped = installed(self.python)
        off = [f"{name} {version} (Colab: {self.freeze.pins[name]})" for name, version in shipped.items()
               if name in self.freeze.pins and version != self.freeze.pins[name]]
        if off:
            raise SystemExit(f"the stand-in differs from Colab's freeze: {', '.join(off)}")
        return shipped

    def check_setup_installs(self, shipped: dict[str, str]) -> list[str]:
        """What each distinct setup-cell requirement would change among Colab's packages, as Colab's pip runs it."""
        problems = []
        for requirement in sorted(set(self.requirements.values())):
            report = dry_run(self.python, [point_at_wheel(requirement, self.wheel)])
            problems += [f"{requirement.split(' @')[0]} would replace {change}"
                         for change in changed_packages(report, {**self.freeze.pins, **shipped})]
        return problems

    def execute(self, notebook, work: Path, env: dict[str, str], timeout: int = 1800) -> None:
        """Run ``notebook`` (an nbformat node, changed in place) in a kernel of Colab's Python, cwd ``work``."""
        from nbclient import NotebookClient

        jupyter = self.build / "jupyter"
        kernel = _kernel_spec(jupyter, self.python, self.stand_in)
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter), os.environ.get("JUPYTER_PATH")]))
        kernel_env = {**os.environ, "COURSE_MODE": "smoke", **env,
                      "PATH": f"{self.stand_in / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        kernel_env.pop("PYTHONPATH", None)
        work.mkdir(parents=True, exist_ok=True)
        client = NotebookClient(notebook, timeout=timeout, kernel_name=kernel,
                                resources={"metadata": {"path": str(work)}})
        client.execute(env=kernel_env, cwd=str(work))

    def run_lab(self, lab: Lab) -> None:
        """Run ``lab``'s solution notebook, setup cell included, its install line pointed at the wheel."""
        import nbformat

        notebook = nbformat.read(lab.solution, as_version=4)
        for cell in notebook.cells:
            cell.source = point_at_wheel(cell.source, self.wheel)
        self.execute(notebook, self.build / "work" / lab.name, {})
        printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
        if "colab: yes" not in printed:
            raise AssertionError("the setup cell did not take its Colab branch")

    def run_check_tests(self, labs: list[Lab]) -> subprocess.CompletedProcess:
        """The tests of ``labs``' public checks (right answers pass, each mistake fails with its message), fast
        ones, run by Colab's Python on Colab's TensorFlow, Keras and NumPy, whose error messages the checks read."""
        tests = [path for lab in labs if (path := CHECK_TESTS / f"test_{lab.short}.py").exists()]
        return subprocess.run([str(self.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                               *map(str, tests)], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO), "COURSE_MODE": "smoke"})

    def run_grading_notebook(self) -> list[dict]:
        """Grade Lab 1's example class with the grading notebook, its checkout a copy of this one; the rows of
        the downloaded ``grades.csv``."""
        import nbformat

        work = self.build / "grading"
        shutil.rmtree(work, ignore_errors=True)
        checkout, downloads = work / "course", work / "downloads"
        for part in ("grader", "course_utils", "labs", "solutions"):
            shutil.copytree(REPO / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md", "course.toml", "LICENSE"):
            if (REPO / name).exists():
                shutil.copy(REPO / name, checkout)
        downloads.mkdir()
        examples = REPO / "grader" / "examples" / "lab1_perceptron"
        upload = work / "lab1_submissions.zip"
        with zipfile.ZipFile(upload, "w") as archive:
            for path in sorted(examples.glob("*/*.ipynb")):
                archive.write(path, f"{path.parent.name}_{path.name}")
        notebook = nbformat.read(GRADING_NOTEBOOK, as_version=4)
        for cell in notebook.cells:
            cell.source = (cell.source.replace('CHECKOUT = "/content/course"', f'CHECKOUT = "{checkout}"')
                           .replace('GRADER_VENV = "/content/grader-venv"', f'GRADER_VENV = "{work / "venv"}"'))
        self.execute(notebook, work / "content", {"FAKE_COLAB_UPLOAD": str(upload),
                                                   "FAKE_COLAB_DOWNLOADS": str(downloads)})
        with zipfile.ZipFile(downloads / "lab1_perceptron_results.zip") as archive:
            return list(csv.DictReader(io.TextIOWrapper(archive.open("grades.csv"))))


def check(freeze_path: Path, build: Path, names: list[str]) -> int:
    """Build the stand-in and run every check; 0 when all pass. Prints what it tested and each step's time."""
    start = time.monotonic()
    labs = [lab for lab in all_labs() if not names or lab.name in names or lab.short in names]
    runtime = ColabRuntime(build, read_freeze(freeze_path.read_text()))
    shipped = runtime.prepare(labs)
    print(f"Colab's runtime ({freeze_path.name}) on Python {sysconfig.get_python_version()} "
          f"in {time.monotonic() - start:.0f} s: " + ", ".join(f"{n} {shipped[n]}" for n in sorted(
              distributions(course_imports(labs)) | set(KERNEL)) if n in shipped))
    failures = runtime.check_setup_installs(shipped)
    for lab in labs:
        began = time.monotonic()
        try:
            runtime.run_lab(lab)
            outcome = "ok"
        except Exception as error:  # a notebook's failure is reported, and the other labs still run
            outcome = f"FAILED: {str(error).strip()[-2000:]}"
            failures.append(f"{lab.name}: {outcome}")
        _pip(runtime.python, "uninstall", "--yes", "course-utils")
        after = installed(runtime.python)
        if after != shipped:
            failures.append(f"{lab.name}'s setup cell changed Colab's packages: "
                            + ", ".join(f"{n} {shipped.get(n, '(absent)')} -> {after.get(n, '(removed)')}"
                                        for n in sorted(set(after) | set(shipped)) if after.get(n) != shipped.get(n)))
        print(f"{lab.name}: {outcome} ({time.monotonic() - began:.0f} s)", flush=True)
    began = time.monotonic()
    tests = runtime.run_check_tests(labs)
    summary = tests.stdout.strip().splitlines()[-1] if tests.stdout.strip() else "no output"
    if tests.returncode:
        failures.append(f"public check tests: {summary}\n{tests.stdout[-3000:]}{tests.stderr[-2000:]}")
    print(f"public check tests: {summary} ({time.monotonic() - began:.0f} s)", flush=True)
    if not names:
        began = time.monotonic()
        try:
            grades = {row["student_id"]: row["status"] for row in runtime.run_grading_notebook()}
            outcome = f"graded {grades}"
            if grades.get("alice") != "graded" or grades.get("bob") != "graded":
                failures.append(f"grading notebook: {outcome}")
        except Exception as error:
            outcome = f"FAILED: {str(error).strip()[-2000:]}"
            failures.append(f"grading notebook: {outcome}")
        if installed(runtime.python) != shipped:
            failures.append("the grading notebook changed Colab's packages")
        print(f"grading notebook: {outcome} ({time.monotonic() - began:.0f} s)", flush=True)
    print(f"Colab runtime check: {'FAILED' if failures else 'passed'} in {time.monotonic() - start:.0f} s")
    for failure in failures:
        print(f"  {failure}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.colab_runtime", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("check", help="build Colab's runtime and run every lab and the grading notebook in it")
    run.add_argument("labs", nargs="*", help="only these labs (then without the grading notebook)")
    run.add_argument("--freeze", type=Path, default=FREEZE)
    run.add_argument("--build", type=Path, default=BUILD)
    new = commands.add_parser("compare", help="what a new Colab freeze changes for the labs")
    new.add_argument("new", help="path or URL of the new pip-freeze.gpu.txt")
    new.add_argument("--current", type=Path, default=FREEZE)
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.freeze, args.build, args.labs)
    current, latest = load_freeze(args.current), load_freeze(args.new)
    changes = compare(current, latest, watched_packages())
    print("\n".join(changes) or "nothing the labs import or install changed")
    print(f"({len(compare(current, latest, set(current.pins) | set(latest.pins)))} packages changed in all; test "
          "the new freeze with `make colab-check COLAB_FREEZE=<its path>`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The pieces of the Colab-runtime check (grader/colab_runtime.py); CI's `make colab-check` runs the whole."""

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from grader import colab_runtime
from grader.colab_runtime import (
    FREEZE,
    Freeze,
    canonical,
    changed_packages,
    colab_pin,
    compare,
    constraints,
    imported_modules,
    point_at_wheel,
    read_freeze,
    setup_requirement,
)
from grader.labs import REPO, all_labs

SAMPLE = """# Do not modify this file directly
absl-py==1.4.0
google-colab @ file:///colabtools/dist/google_colab-1.0.0.tar.gz
ipython==7.34.0
Jupyter_Client==7.4.9
tensorflow==2.20.0
"""
SAMPLE_FREEZE = read_freeze(SAMPLE)
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_freeze_pins_and_direct_references():
    assert SAMPLE_FREEZE.pins == {"absl-py": "1.4.0", "ipython": "7.34.0", "jupyter-client": "7.4.9",
                                  "tensorflow": "2.20.0"}
    assert SAMPLE_FREEZE.direct == {"google-colab": "file:///colabtools/dist/google_colab-1.0.0.tar.gz"}
    assert canonical("Jupyter_Client") == canonical("jupyter.client") == "jupyter-client"


def test_constraints_pin_the_whole_freeze_with_tensorflows_cpu_build():
    lines = constraints(SAMPLE_FREEZE).splitlines()
    assert lines == ["absl-py==1.4.0", "ipython==7.34.0", "jupyter-client==7.4.9", "tensorflow==2.20.0",
                     "tensorflow-cpu==2.20.0"]
    assert colab_pin("tensorflow", SAMPLE_FREEZE) == colab_pin("tensorflow_cpu", SAMPLE_FREEZE) \
        == "tensorflow-cpu==2.20.0"
    assert colab_pin("IPython", SAMPLE_FREEZE) == "ipython==7.34.0" and colab_pin("nbgrader", SAMPLE_FREEZE) is None


@pytest.mark.skipif(not FREEZE.is_file(), reason="Colab's freeze is not beside the checkout")
def test_course_utils_floors_are_met_by_colabs_versions():
    """What a setup cell installs (the package and its extras but dev) accepts every version Colab ships."""
    freeze = read_freeze(FREEZE.read_text())
    assert freeze.pins["ipython"] == "7.34.0" and "google-colab" in freeze.direct
    requirements = PROJECT["dependencies"] + [r for extra in ("tf", "faces", "rl")
                                              for r in PROJECT["optional-dependencies"][extra]]
    unmet = [f"{r} (Colab: {freeze.pins[canonical(Requirement(r).name)]})" for r in requirements
             if not Requirement(r).specifier.contains(freeze.pins[canonical(Requirement(r).name)], prereleases=True)]
    assert not unmet


@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.name)
def test_every_setup_cell_installs_course_utils_pointed_at_the_wheel(lab, tmp_path):
    setup = next(c.source for c in nbformat.read(lab.solution, as_version=4).cells if "course_utils.setup(" in c.source)
    requirement = setup_requirement(setup)
    assert requirement.startswith(("course-utils @", "course-utils[")) and "git+https://" in requirement
    wheel = tmp_path / "course_utils-0.1.0-py3-none-any.whl"
    local = point_at_wheel(setup, wheel)
    assert setup_requirement(local) == requirement.split(" @")[0] + " @ " + wheel.as_uri()
    assert local.replace(wheel.as_uri(), "").count("\n") == setup.count("\n") and "git+" not in local


def test_install_line_rewriting_keeps_extras_and_other_packages():
    wheel = REPO / "dist" / "course_utils-0.1.0-py3-none-any.whl"
    cell = ('%pip install -q "course-utils[rl] @ git+https://github.com/a/b@v1.2.0"\n'
            '%pip install -q "other @ git+https://github.com/a/other@v1"\n')
    assert point_at_wheel(cell, wheel).splitlines() == [
        f'%pip install -q "course-utils[rl] @ {wheel.as_uri()}"', '%pip install -q "other @ git+https://github.com/a/other@v1"']
    with pytest.raises(ValueError, match="no `%pip install"):
        setup_requirement("import course_utils\ncourse_utils.setup(seed=1)")


def test_imports_are_read_through_magics_without_stdlib_or_the_course():
    cell = ('import sys\nif "google.colab" in sys.modules:\n    %pip install -q "x"\n    !apt-get install y\n'
            "import numpy as np, tensorflow.keras\nfrom PIL import Image\nfrom . import local\n"
            "from google.colab import files\nimport course_utils\nfrom grader import colab\n")
    assert imported_modules(cell) == {"numpy", "tensorflow", "PIL"}


def test_course_imports_cover_every_lab_course_utils_and_the_grading_notebook():
    modules = colab_runtime.course_imports(all_labs())
    assert {"tensorflow", "numpy", "matplotlib", "gymnasium", "IPython"} <= modules
    assert not modules & {"course_utils", "grader", "google", "os"}


def test_changed_packages_names_what_pip_would_replace():
    report = {"install": [{"metadata": {"name": "IPython", "version": "9.1.0"}},
                          {"metadata": {"name": "course-utils", "version": "0.1.0"}},
                          {"metadata": {"name": "numpy", "version": "2.1.3"}}]}
    assert changed_packages(report, {"ipython": "7.34.0", "numpy": "2.1.3"}) == ["ipython 7.34.0 -> 9.1.0"]


def test_compare_lists_what_changed_for_the_watched_packages():
    new = Freeze({"ipython": "8.0.0", "tensorflow": "2.20.0", "gymnasium": "1.4.0", "absl-py": "2.0"},
                 {"google-colab": "file:///other.tar.gz"})
    assert compare(SAMPLE_FREEZE, new, ["IPython", "tensorflow", "jupyter_client", "gymnasium", "google-colab"]) == [
        "google-colab: file:///colabtools/dist/google_colab-1.0.0.tar.gz -> file:///other.tar.gz",
        "gymnasium: not installed -> 1.4.0", "ipython: 7.34.0 -> 8.0.0", "jupyter-client: 7.4.9 -> removed"]


def test_compare_command_reads_a_new_freeze(tmp_path, capsys):
    current, new = tmp_path / "current.txt", tmp_path / "new.txt"
    current.write_text(SAMPLE)
    new.write_text(SAMPLE.replace("ipython==7.34.0", "ipython==8.0.0").replace("absl-py==1.4.0", "absl-py==2.0"))
    assert colab_runtime.main(["compare", str(new), "--current", str(current)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("ipython: 7.34.0 -> 8.0.0\n") and "absl" not in printed.split("(")[0]
    assert "(2 packages changed in all" in printed


def test_stand_in_imports_google_colab_in_the_kernel_and_apt_get_installs_nothing(tmp_path):
    folder = colab_runtime.write_stand_in(tmp_path)
    launcher = (folder / "colab_kernel_launcher.py").read_text()
    assert launcher.startswith("import google.colab") and not (folder / "google" / "__init__.py").exists()
    ran = subprocess.run([str(folder / "bin" / "apt-get"), "install", "-y", "abcmidi"], capture_output=True, text=True)
    assert ran.returncode == 0 and "not run: apt-get install -y abcmidi" in ran.stderr
    code = ("from google.colab import userdata\ntry:\n    userdata.get('X')\n"
            "except userdata.SecretNotFoundError:\n    print('no secret')")
    assert subprocess.run(["python3", "-c", code], cwd=folder, capture_output=True, text=True).stdout == "no secret\n"


def test_installed_lists_canonical_names():
    packages = colab_runtime.installed(Path(sys.executable))
    assert packages["jupyter-client"] == version("jupyter_client") and packages["nbformat"] == version("nbformat")


def test_a_floor_colab_does_not_meet_fails_the_resolution(tmp_path):
    """pip's dry run with the freeze as constraints: IPython >= 8 against Colab's 7.34 is refused, >= 7.34 is not."""
    pins = tmp_path / "constraints.txt"
    pins.write_text(constraints(SAMPLE_FREEZE))
    options = ("--ignore-installed", "--no-deps", "-c", str(pins))
    with pytest.raises(SystemExit, match="pip cannot install ipython>=8"):
        colab_runtime.dry_run(Path(sys.executable), ["ipython>=8"], *options)
    report = colab_runtime.dry_run(Path(sys.executable), ["ipython>=7.34"], *options)
    assert [(i["metadata"]["name"], i["metadata"]["version"]) for i in report["install"]] == [("ipython", "7.34.0")]

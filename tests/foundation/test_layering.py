"""The ML library stays free of Django; the web process stays free of torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_rewardmodel_never_imports_django():
    offenders = []
    for path in (ROOT / "rewardmodel").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {
                    "django",
                    "rest_framework",
                    "annotation",
                    "workers",
                    "curation",
                    "webapp",
                    "frontend",
                    "celery",
                }:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"DJANGO_SETTINGS_MODULE": "webapp.settings", "PATH": "/usr/bin:/bin"},
    )
    return set(result.stdout.split())


def test_rewardmodel_imports_without_django():
    # what the workers import, in one interpreter (fullmodel is ast-checked above)
    modules = _modules_after(
        "import rewardmodel.encoders, rewardmodel.features, rewardmodel.item_training, "
        "rewardmodel.scoring, rewardmodel.selection, rewardmodel.artifacts, "
        "rewardmodel.item_outputs, rewardmodel.conversation"
    )
    assert "torch" in modules
    assert not any(name == "django" or name.startswith("django.") for name in modules)


def test_web_process_does_not_import_torch():
    modules = _modules_after(
        "import django; django.setup()\n"
        "from django.urls import resolve; import webapp.urls, webapp.wsgi"
    )
    assert "django" in modules
    assert "torch" not in modules and "transformers" not in modules

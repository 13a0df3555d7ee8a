"""Layering: import contracts (pyproject.toml, `lint-imports`) hold, and at run time the ML
library loads without Django while the web process loads without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept():
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout


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
    # what the workers import, in one interpreter (vlm is ast-checked above)
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

"""docker-compose.yml parses, every command it runs exists, and its environment configures the
same settings module the tests use (no Docker engine runs here, so this is what we can check)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
VENV_BIN = Path(sys.executable).parent


def _commands(service: dict) -> list[list[str]]:
    command = service.get("command")
    if command is None:
        return []
    argv = command if isinstance(command, list) else shlex.split(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def test_compose_has_the_production_services():
    services = COMPOSE["services"]
    assert {"postgres", "redis", "web", "worker-cpu", "worker-gpu"} <= set(services)
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    for name in ("web", "worker-cpu", "worker-gpu"):
        mounts = {volume.split(":")[1] for volume in services[name]["volumes"]}
        assert {"/data/media", "/data/artifacts"} <= mounts


@pytest.mark.parametrize("service", ["web", "worker-cpu", "worker-gpu"])
def test_every_command_exists(service):
    for argv in _commands(COMPOSE["services"][service]):
        program = argv[0]
        assert (VENV_BIN / program).exists() or shutil.which(program), program
        if program == "python" and argv[1] == "manage.py":
            assert argv[2] in get_commands(), argv
        if program == "gunicorn":
            # The settings the queue benchmark measures: bench/queue_load.py uses the same file.
            assert argv[1:4] == ["-c", "webapp/gunicorn_conf.py", "webapp.wsgi"]
            assert (ROOT / "webapp" / "gunicorn_conf.py").exists()
            assert (ROOT / "webapp" / "wsgi.py").exists()
        if program == "celery":
            assert argv[1:3] == ["-A", "webapp"] and argv[3] == "worker"
            queue = argv[argv.index("-Q") + 1]
            assert queue in {"cpu", "gpu"}


def test_dockerfile_copies_what_exists():
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def _compose_env(**given: str) -> dict[str, str]:
    """The web service's environment as Compose interpolates it, with `given` set in the shell."""

    def resolve(match: re.Match) -> str:
        name, op, word = match.group(1), match.group(2), match.group(3)
        if name in given:
            return given[name]
        assert op == ":-", f"{name} must be set: {word}"
        return word

    pattern = re.compile(r"\$\{(\w+)(:-|:\?)([^}]*)\}")
    return {k: pattern.sub(resolve, str(v)) for k, v in COMPOSE["x-arbiter-env"].items()}


def _without_test_env() -> dict[str, str]:
    # The browser tests' conftest allows sync ORM calls under Playwright's loop; no deployment does.
    test_only = ("DATABASE_", "CELERY_", "DJANGO_ALLOW_ASYNC_UNSAFE")
    return {k: v for k, v in os.environ.items() if not k.startswith(test_only)}


def test_compose_environment_passes_the_deployment_checks():
    # A real key (50+ varied characters), as `manage.py check --deploy` demands of production.
    env = _compose_env(SECRET_KEY=secrets.token_urlsafe(48), ALLOWED_HOSTS="arbiter.example.org")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**_without_test_env(), **env, "DJANGO_SETTINGS_MODULE": "webapp.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_embedded_default_fails_the_deployment_checks():
    # The loopback default is not a production configuration, and the check says so.
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**_without_test_env(), "DJANGO_SETTINGS_MODULE": "webapp.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012"):
        assert warning in result.stdout + result.stderr


def test_dockerfile_and_package_hold_every_installed_app():
    import tomllib

    from django.conf import settings

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packaged = {
        name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = {
        source
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }
    ours = {
        app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()
    }
    assert ours <= packaged and ours <= copied, (ours - packaged, ours - copied)


def test_compose_environment_gives_production_settings(tmp_path):
    env = _compose_env(SECRET_KEY="from-the-environment", ALLOWED_HOSTS="arbiter.example.org")
    probe = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
        "'host': s.DATABASES['default']['HOST'], 'broker': s.CELERY_BROKER_URL, "
        "'backend': s.CELERY_RESULT_BACKEND, 'cache': s.CACHES['default']['BACKEND'], "
        "'gpu': s.ARBITER_GPU_QUEUE, 'media': str(s.MEDIA_ROOT), 'secret': s.SECRET_KEY, "
        "'hosts': s.ALLOWED_HOSTS, 'secure': [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER]}))"
    )
    clean_env = _without_test_env()
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**clean_env, **env, "DJANGO_SETTINGS_MODULE": "webapp.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    settings = json.loads(result.stdout.strip().splitlines()[-1])
    assert settings["engine"] == "django.db.backends.postgresql" and settings["host"] == "postgres"
    assert settings["broker"] == "redis://redis:6379/0" == settings["backend"]
    assert settings["cache"].endswith("RedisCache")
    assert settings["gpu"] is True and settings["media"] == "/data/media"
    assert settings["secret"] == "from-the-environment"
    assert settings["hosts"] == ["arbiter.example.org"]
    assert settings["secure"] == [True, True, True, 31536000, ["HTTP_X_FORWARDED_PROTO", "https"]]

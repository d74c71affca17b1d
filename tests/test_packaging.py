"""The Dockerfile and docker-compose.yml keep their promises: non-root, a health check on
/healthz, migrations at start, the data directory a volume, PostgreSQL awaited until healthy,
and no package-index configuration baked into the image. (The image itself is built by hand:
README, "Installing: pip or Docker".)"""

from __future__ import annotations

import re
from typing import Any

import yaml

from config.database import normalize_database_url
from tests.process import ROOT


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_image_runs_unprivileged_with_a_health_check_and_its_data_in_a_volume() -> None:
    steps = _instructions()
    assert steps[0] == ("ARG", "BASE_IMAGE=python:3.12-slim")
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    values = dict(re.findall(r"(\w+)=(\S+)", " ".join(arg for op, arg in final if op == "ENV")))
    assert values["SWITCHBOARD_DATA_DIR"] == "/data"
    assert values["SWITCHBOARD_AUTO_MIGRATE"] == "true"  # `serve` migrates before listening
    assert values["SWITCHBOARD_HOST"] == "0.0.0.0"
    (user,) = [arg for op, arg in final if op == "USER"]
    assert user not in ("root", "0")
    assert ("VOLUME", '["/data"]') in final
    (check,) = [arg for op, arg in final if op == "HEALTHCHECK"]
    assert "/healthz" in check and "SWITCHBOARD_PORT" in check
    assert [arg for op, arg in final if op == "ENTRYPOINT"] == ['["switchboard"]']
    # An index's configuration only ever comes in as a build secret.
    text = (ROOT / "Dockerfile").read_text()
    assert "--mount=type=secret,id=pip.conf" in text
    assert not re.search(r"index-url|PIP_INDEX|PIP_EXTRA|COPY[^\n]*pip\.conf", text, re.I)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "tests", "*.db"} <= set(ignored)


def test_compose_starts_the_gateway_once_postgresql_is_healthy() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    postgres, gateway = compose["services"]["postgres"], compose["services"]["gateway"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert gateway["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert gateway["build"] == "."
    url = gateway["environment"]["DATABASE_URL"].replace("${POSTGRES_PASSWORD}", "s3cret")
    assert normalize_database_url(url) == (
        "postgresql+asyncpg://switchboard:s3cret@postgres:5432/switchboard"
    )
    assert "switchboard-data:/data" in gateway["volumes"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert set(compose["volumes"]) == {"postgres-data", "switchboard-data"}

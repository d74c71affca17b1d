"""ops/: the Grafana dashboard and the Prometheus alert rules parse, and every metric they name
is served at `/metrics` by a running gateway, under the name PromQL must use."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.api import Client, ClientFactory
from tests.process import ROOT
from tests.sims.openai import OpenAISim

ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "switchboard.json"
# The gateway's own names and the standard collectors'; Prometheus's `up` and functions aside.
METRIC_NAME = re.compile(r"\b(?:switchboard|process|python)_[A-Za-z0-9_]*[A-Za-z0-9]\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}
PLAIN = ("gauge", "untyped", "info", "stateset")


def metric_names(expr: str) -> set[str]:
    # Label values and legend templates are not names: drop quoted strings first.
    return set(METRIC_NAME.findall(re.sub(r'"[^"]*"', '""', expr)))


def served_as(name: str, families: dict[str, str]) -> str | None:
    """The family NAME reads in PromQL, or None when no series would match it: a gauge by
    its own name, a counter only with `_total`, a histogram only by its `_bucket`, `_count`
    or `_sum` series."""
    if families.get(name) in PLAIN:
        return name
    for kind, suffixes in SUFFIXES.items():
        for suffix in suffixes:
            base = name.removesuffix(suffix)
            if base != name and families.get(base) == kind:
                return base
    return None


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        target["expr"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_name_resolution_follows_promql() -> None:
    families = {"a_requests": "counter", "a_seconds": "histogram", "a_depth": "gauge"}
    assert served_as("a_requests_total", families) == "a_requests"
    assert served_as("a_seconds_bucket", families) == "a_seconds"
    assert served_as("a_seconds_count", families) == "a_seconds"
    assert served_as("a_depth", families) == "a_depth"
    # What Prometheus would find no series for:
    assert served_as("a_requests", families) is None
    assert served_as("a_seconds", families) is None
    assert served_as("a_depth_total", families) is None
    assert served_as("a_missing", families) is None
    assert metric_names('rate(a_x_total{status=~"switchboard_y"}[5m]) / process_z') == {"process_z"}
    assert metric_names("sum(switchboard_tasks_queued) > 1") == {"switchboard_tasks_queued"}


def test_the_files_parse_and_every_rule_is_complete() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["expr"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    # The four situations an operator must hear about.
    named = " ".join(rule["expr"] for rule in rules)
    for metric in (
        "switchboard_outbox_backlog",
        "switchboard_tasks_queued",
        "switchboard_outbox_dead",
        "switchboard_llm_breaker_state",
        "switchboard_scheduler_leader",
    ):
        assert metric in named, metric
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(expr.strip() for expr in dashboard_exprs())


@pytest.fixture
async def families(make_client: ClientFactory, openai_sim: OpenAISim) -> dict[str, str]:
    """Family name -> type at `/metrics` of a gateway with an LLM endpoint and the scheduler
    on, after a request."""
    client: Client = await make_client(
        OPENAI_API_KEY=openai_sim.api_key,
        OPENAI_BASE_URL=openai_sim.base_url,
        SWITCHBOARD_SCHEDULER=True,
    )
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/metrics")
    assert response.status == 200
    return {f.name: f.type for f in text_string_to_metric_families(await response.text())}


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
async def test_every_metric_named_exists_at_metrics(source: str, families: dict[str, str]) -> None:
    exprs = [r["expr"] for r in alert_rules()] if source == "alerts" else dashboard_exprs()
    names = set().union(*(metric_names(expr) for expr in exprs))
    assert len(names) >= 5
    missing = sorted(name for name in names if served_as(name, families) is None)
    assert not missing, f"{source} name metrics /metrics does not serve: {missing}"


def test_the_files_are_where_the_readme_says() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in (ALERTS, DASHBOARD):
        assert str(path.relative_to(ROOT)) in readme

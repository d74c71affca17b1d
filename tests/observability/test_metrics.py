"""`/metrics`: the process and Python collectors, per-route latency histograms, and gauges
that match the database and this node's scheduler leadership."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from api.observability.gauges import GatewayGauges
from storage.db import Database
from tests.api import Client, ClientFactory, SwitchableSender, start_gateway
from tests.factories import make_outbox_row, make_task_row, make_tenant
from tests.helpers import wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Client) -> tuple[dict[str, str], Samples]:
    """(family name -> type, samples) of one `/metrics` answer."""
    response = await client.get("/metrics")
    assert response.status == 200
    families = list(text_string_to_metric_families(await response.text()))
    types = {family.name: family.type for family in families}
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_standard_collectors_and_per_route_latency(make_client: ClientFactory) -> None:
    client: Client = await make_client()
    for _ in range(3):
        assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    types, samples = await scrape(client)
    for name, kind in (
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("python_info", "gauge"),
        ("python_gc_objects_collected", "counter"),
        ("switchboard_http_request_seconds", "histogram"),
        ("switchboard_http_requests", "counter"),
    ):
        assert types.get(name) == kind, name
    assert (value(samples, "process_resident_memory_bytes") or 0) > 0
    healthz = {"route": "/healthz", "method": "GET"}
    assert value(samples, "switchboard_http_request_seconds_count", **healthz) == 3
    assert value(samples, "switchboard_http_request_seconds_bucket", le="+Inf", **healthz) == 3
    assert (
        value(samples, "switchboard_http_request_seconds_count", **{**healthz, "route": "/readyz"})
        == 1
    )
    assert value(samples, "switchboard_http_requests_total", route="/healthz", status="200") == 3


async def test_queue_gauges_count_the_database(make_client: ClientFactory, db: Database) -> None:
    tenant = await make_tenant(db)
    ws, member = tenant.workspace_id, tenant.member_id
    async with db.session() as session:
        for status in ("queued", "queued", "queued", "running", "done", "failed"):
            await make_task_row(session, ws, member, status=status)
        rows = [
            await make_outbox_row(session, ws, member, status=status)
            for status in ("pending", "pending", "sending", "dead", "dead", "sent", "rerouted")
        ]
        rows[1].in_doubt = True  # a retry will first ask the provider
        rows[4].in_doubt = True  # gave up not knowing: a person must check
    # Workers off: the rows stay as they are; no scheduler on this node.
    client: Client = await make_client(build={"run_workers": False})
    _types, samples = await scrape(client)
    assert value(samples, "switchboard_tasks_queued") == 3
    assert value(samples, "switchboard_tasks_running") == 1
    assert value(samples, "switchboard_outbox_backlog") == 3
    assert value(samples, "switchboard_outbox_dead") == 2
    assert value(samples, "switchboard_outbox_in_doubt") == 2
    assert value(samples, "switchboard_scheduler_leader") == 0


async def test_a_dead_lettered_reply_shows_in_the_gauges(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    refusing = SwitchableSender(failing=True)
    client = await start_gateway(
        make_client, build={"senders": {"web": refusing}}, SWITCHBOARD_METRICS_CACHE_SECONDS=0
    )
    _types, before = await scrape(client)
    assert value(before, "switchboard_outbox_dead") == 0
    response = await client.post(
        "/api/v1/messages", json={"member": tenant.member_id, "text": "help"}, headers=tenant.auth
    )
    assert response.status == 202

    async def dead_letter() -> Samples | None:
        _types, samples = await scrape(client)
        return samples if value(samples, "switchboard_outbox_dead") == 1 else None

    samples = await wait_until(dead_letter)
    assert refusing.refused == 1
    assert value(samples, "switchboard_outbox_backlog") == 0
    assert value(samples, "switchboard_tasks_queued") == 0
    assert value(samples, "switchboard_outbox_deliveries_total", channel="web", outcome="dead") == 1


async def test_the_node_holding_the_scheduler_reports_leadership(
    make_client: ClientFactory, database_url: str
) -> None:
    first: Client = await make_client(SWITCHBOARD_SCHEDULER=True)
    clients = [first]
    if "postgresql" in database_url:  # SQLite serves one node; on PostgreSQL another waits
        clients.append(await make_client(SWITCHBOARD_SCHEDULER=True))

    async def leaders() -> list[float] | None:
        values = [value((await scrape(c))[1], "switchboard_scheduler_leader") for c in clients]
        return values if sum(v or 0 for v in values) == 1 else None

    assert sorted(await wait_until(leaders)) == [0.0] * (len(clients) - 1) + [1.0]
    off: Client = await make_client(SWITCHBOARD_SCHEDULER=False)
    assert value((await scrape(off))[1], "switchboard_scheduler_leader") == 0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_scrape_storm_costs_one_count_per_interval(db: Database) -> None:
    clock = Clock()
    gauges = GatewayGauges(db, lambda: True, ttl=5.0, clock=clock)
    await asyncio.gather(*(gauges.refresh() for _ in range(20)))
    assert gauges.queries == 1
    clock.now = 4.9
    await gauges.refresh()
    assert gauges.queries == 1
    clock.now = 5.1
    await gauges.refresh()
    assert gauges.queries == 2
    names = {metric.name: metric.samples[0].value for metric in gauges.collect()}
    expected: dict[str, Any] = {"switchboard_scheduler_leader": 1, "switchboard_tasks_queued": 0}
    assert {k: names[k] for k in expected} == expected

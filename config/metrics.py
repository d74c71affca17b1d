"""Prometheus instruments, one registry per gateway (no global state)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)


class Metrics:
    """The gateway's counters and histograms; `render()` gives the text exposition format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The process's CPU, memory and file descriptors, the interpreter's version and its
        # garbage collector: the library's standard collectors, on this registry (it puts
        # them on its global one, which the gateway does not expose).
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.http_requests = Counter(
            "switchboard_http_requests", "HTTP requests answered", ["route", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "switchboard_http_request_seconds",
            "Time to answer an HTTP request, by route template and method",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.webhook_rejections = Counter(
            "switchboard_webhook_rejections",
            "Webhooks refused for a missing or wrong signature or credentials, by channel "
            '("api": a wrong API key sent to /api/)',
            ["channel"],
            registry=r,
        )
        self.tasks_ingested = Counter(
            "switchboard_tasks_ingested", "Tasks committed to the journal", ["channel"], registry=r
        )
        self.tasks_deduplicated = Counter(
            "switchboard_tasks_deduplicated",
            "Inbound requests recognised as retries of a known task",
            ["channel"],
            registry=r,
        )
        self.tasks_processed = Counter(
            "switchboard_tasks_processed", "Tasks finished by a worker", ["outcome"], registry=r
        )
        self.task_seconds = Histogram(
            "switchboard_task_seconds",
            "Time from receipt to replies committed",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.outbox_sent = Counter(
            "switchboard_outbox_deliveries",
            "Delivery attempts by outcome (sent, retry, dead)",
            ["channel", "outcome"],
            registry=r,
        )
        self.workers_busy = Gauge(
            "switchboard_workers_busy", "Tasks being processed right now", registry=r
        )
        # LLM gateway, per endpoint ("primary", "fallback-1", ...).
        self.llm_calls = Counter(
            "switchboard_llm_calls", "Chat-completion calls sent", ["endpoint"], registry=r
        )
        self.llm_failures = Counter(
            "switchboard_llm_failures",
            "Chat-completion calls that failed, by reason "
            "(timeout, connection, server_error, rate_limited, client_error, malformed)",
            ["endpoint", "reason"],
            registry=r,
        )
        self.llm_seconds = Histogram(
            "switchboard_llm_seconds",
            "Chat-completion latency, answered or failed",
            ["endpoint"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
            registry=r,
        )
        self.llm_breaker_state = Gauge(
            "switchboard_llm_breaker_state",
            "Circuit breaker per endpoint: 0 closed, 1 half-open (one probe allowed), 2 open",
            ["endpoint"],
            registry=r,
        )
        self.llm_tokens = Counter(
            "switchboard_llm_tokens",
            "Tokens used by answered calls, by kind (prompt, completion)",
            ["endpoint", "kind"],
            registry=r,
        )
        self.llm_offline_fallbacks = Counter(
            "switchboard_llm_offline_fallbacks",
            "Requests the offline classifier answered because no LLM endpoint could",
            registry=r,
        )

        self.briefings_fired = Counter(
            "switchboard_briefings_fired",
            "Scheduled occurrences appended to the journal (new) or found there already (repeat)",
            ["outcome"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

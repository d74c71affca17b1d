"""Prometheus instruments, one registry per gateway (no global state); under a supervisor of
several processes, prometheus_client's multiprocess mode merges every process's values."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

# prometheus_client's multiprocess mode: set before the library is imported (the supervisor of
# SWITCHBOARD_PROCESSES sets it in each process's environment, see `cli.processes`), it keeps
# every instrument's values in files of this directory, one per process and kind of metric.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory of the processes' metric files when prometheus_client runs in its
    multiprocess mode in this process (it decides once, when it is imported), else None."""
    if values.ValueClass is values.MutexValue:
        return None
    return os.environ.get(MULTIPROC_DIR) or None


class Metrics:
    """The gateway's counters and histograms; `render()` gives the text exposition format.

    One process alone renders its own registry. One of several processes (`multiprocess_dir`
    set) renders every process's metric files merged by prometheus_client: counters and
    histograms summed over all the processes, dead ones included (so they never go
    backwards when a process is replaced), gauges by the `multiprocess_mode` each declares.
    Collectors registered on `registry` afterwards (the queue gauges, which count the shared
    database) are rendered once, by the process that answers.
    """

    def __init__(self) -> None:
        self.multiprocess_dir = multiprocess_dir()
        # The instruments' own registry. With several processes it is never rendered (the
        # files hold the same values, and every other process's), and it only keeps names
        # unique; the process and Python collectors then have no place: they describe one
        # process, and prometheus_client's multiprocess mode does not merge them.
        r = CollectorRegistry(auto_describe=True)
        if self.multiprocess_dir is None:
            self.registry = r
            # The process's CPU, memory and file descriptors, the interpreter's version and
            # its garbage collector: the library's standard collectors, on this registry (it
            # puts them on its global one, which the gateway does not expose).
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        else:
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, self.multiprocess_dir)
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
        # Their children by label values (route templates, statuses, methods: a bounded set):
        # prometheus_client's `labels` checks and converts the values at every call, which
        # costs more than the counting itself.
        self._http_counted: dict[tuple[str, int], Any] = {}
        self._http_timed: dict[tuple[str, str], Any] = {}
        self._tasks_counted: dict[tuple[str, bool], Any] = {}
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
        # The tasks in flight: the sum over the live processes ("livesum"; a dead
        # process's count leaves with it, its tasks are taken over once their lease lapses).
        self.workers_busy = Gauge(
            "switchboard_workers_busy",
            "Tasks being processed right now",
            registry=r,
            multiprocess_mode="livesum",
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
        # Each process has its own breaker per endpoint; `/metrics` shows the most open one
        # of the live processes ("livemax", as the alerts read it: max by endpoint). Its value
        # comes from the breaker (`set_function`), which only `sample()` writes to the files.
        self.llm_breaker_state = Gauge(
            "switchboard_llm_breaker_state",
            "Circuit breaker per endpoint: 0 closed, 1 half-open (one probe allowed), 2 open",
            ["endpoint"],
            registry=r,
            multiprocess_mode="livemax",
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

    def task_ingested(self, channel: str, *, created: bool) -> None:
        """Count a task CHANNEL committed to the journal (CREATED) or found there already; the
        children kept by their labels, as `http_answered` keeps its own."""
        counted = self._tasks_counted.get((channel, created))
        if counted is None:
            family = self.tasks_ingested if created else self.tasks_deduplicated
            counted = self._tasks_counted[channel, created] = family.labels(channel)
        counted.inc()

    def http_answered(self, route: str, status: int, method: str, seconds: float) -> None:
        """Count an HTTP request answered with STATUS on ROUTE (a template) in SECONDS."""
        counted = self._http_counted.get((route, status))
        if counted is None:
            counted = self._http_counted[route, status] = self.http_requests.labels(
                route, str(status)
            )
        timed = self._http_timed.get((route, method))
        if timed is None:
            timed = self._http_timed[route, method] = self.http_seconds.labels(route, method)
        counted.inc()
        timed.observe(seconds)

    def sample(self) -> None:
        """Write the gauges whose value a function gives (the LLM breakers) to this process's
        metric files, where `/metrics` reads them: prometheus_client's multiprocess
        mode never calls such a function. Nothing to do for a process alone, whose registry
        calls them at each scrape."""
        if self.multiprocess_dir is None:
            return
        for family in self.llm_breaker_state.collect():
            for sample in family.samples:
                self.llm_breaker_state.labels(**sample.labels).set(sample.value)

    def render(self) -> bytes:
        self.sample()  # the answering process's own state is exact, the others' recent
        return generate_latest(self.registry)

"""The LLM gateway: an ordered chain of OpenAI-compatible endpoints, each behind a breaker.

The first endpoint whose breaker lets a call through and that answers wins. Failures are
mapped here, in one place, from the SDK's exceptions to a reason:

    timeout        the call ran past its timeout (or the SDK's own read timeout)
    connection     nothing listens, or the connection broke
    server_error   a 5xx answer
    client_error   any other 4xx but 429 (bad key, unknown model, rejected request)
    rate_limited   429; a short Retry-After is waited out once, a long one holds the endpoint
    malformed      a 200 that is not a usable chat completion

Every reason fails over to the next endpoint; when none is left, `AllEndpointsFailed` tells the
caller to answer some other way (the offline classifier).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast
from urllib.parse import urlsplit

import openai
import pydantic
from openai import AsyncOpenAI
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessageParam,
    ChatCompletionToolUnionParam,
)

from config import Settings
from config.metrics import Metrics
from core.llm.breaker import CircuitBreaker
from core.llm.pricing import estimate_cost
from delivery.errors import parse_retry_after
from models.classification import Usage

log = logging.getLogger(__name__)

T = TypeVar("T")
Parse = Callable[[ChatCompletion], T]

# Defaults, chosen to fit well inside a task's 60-second claim lease: two endpoints timing out
# one after the other still leave the offline classifier time to answer.
CALL_TIMEOUT = 15.0
REQUEST_BUDGET = 30.0
FAILURE_THRESHOLD = 3
COOL_DOWN = 30.0
# A 429's Retry-After is waited out only if this much of the budget is left for the retry.
MIN_CALL_TIME = 2.0


class LlmError(Exception):
    """Base of the gateway's errors."""


class LlmConfigError(LlmError, ValueError):
    """An endpoint is configured wrongly; the message names the setting."""


class MalformedAnswer(LlmError):
    """The endpoint answered 200, but not with a usable chat completion."""


class AllEndpointsFailed(LlmError):
    """No endpoint answered: each failed, was skipped by its open breaker, or the budget ran out.

    `reasons` holds one "name: reason" line per endpoint.
    """

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(self.reasons) or "no LLM endpoint is configured")


@dataclass(frozen=True)
class EndpointConfig:
    """One OpenAI-compatible endpoint. The key is kept out of `repr` so it never reaches a log."""

    name: str
    base_url: str
    model: str
    api_key: str = field(repr=False)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or self.base_url


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What the winning endpoint said (as parsed by the caller) and what it cost."""

    value: T
    usage: Usage


def endpoints_from_settings(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> list[EndpointConfig]:
    """OPENAI_* first, then each LLM_FALLBACKS entry, in order; empty without OPENAI_API_KEY.

    A fallback is "URL" or "URL|MODEL|KEY_ENV_NAME": its model defaults to OPENAI_MODEL and its
    key is read from the variable it names, else OPENAI_API_KEY.

    Raises:
        LlmConfigError: a fallback entry has more than three parts.
    """
    if settings.openai_api_key is None:
        return []
    env = os.environ if environ is None else environ
    default_key = settings.openai_api_key.get_secret_value()
    endpoints = [
        EndpointConfig(
            name="primary",
            base_url=str(settings.openai_base_url),
            model=settings.openai_model,
            api_key=default_key,
        )
    ]
    for number, entry in enumerate(settings.llm_fallbacks, start=1):
        parts = [part.strip() for part in entry.split("|")]
        if len(parts) > 3:
            raise LlmConfigError(
                f"LLM_FALLBACKS: entry {number} must be URL or URL|MODEL|KEY_ENV_NAME"
            )
        url, model, key_env = (*parts, "", "")[:3]
        key = default_key
        if key_env:
            if env.get(key_env):
                key = env[key_env]
            else:
                log.warning(
                    "LLM_FALLBACKS entry %d names %s, which is not set; using OPENAI_API_KEY",
                    number,
                    key_env,
                )
        endpoints.append(
            EndpointConfig(
                name=f"fallback-{number}",
                base_url=url,
                model=model or settings.openai_model,
                api_key=key,
            )
        )
    return endpoints


def retry_after_seconds(
    headers: Mapping[str, str], now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> float | None:
    """Seconds a 429 asks us to wait: `retry-after-ms`, `retry-after` in seconds or an HTTP date."""
    value = headers.get("retry-after-ms")
    if value is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(value) / 1000.0)
    return parse_retry_after(headers.get("retry-after"), now=now())


def failure_reason(exc: BaseException) -> str | None:
    """The metric reason for an exception from a call, or None if it is not the endpoint's fault."""
    if isinstance(
        exc,
        openai.APIResponseValidationError
        | MalformedAnswer
        | json.JSONDecodeError
        | pydantic.ValidationError,
    ):
        return "malformed"
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited"
    if isinstance(exc, openai.APIStatusError):
        return "server_error" if exc.status_code >= 500 else "client_error"
    return None


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Endpoint:
    config: EndpointConfig
    client: AsyncOpenAI
    breaker: CircuitBreaker


class LlmGateway:
    """Sends a chat completion to the first endpoint that can answer; see the module docstring.

    `call_timeout` bounds each call; `request_budget` bounds one `complete()` across every
    endpoint and Retry-After wait. `clock` (monotonic seconds) and `sleep` are injectable so
    tests drive the breakers and Retry-After waits without waiting.
    """

    def __init__(
        self,
        endpoints: Iterable[EndpointConfig],
        *,
        metrics: Metrics,
        call_timeout: float = CALL_TIMEOUT,
        request_budget: float = REQUEST_BUDGET,
        failure_threshold: int = FAILURE_THRESHOLD,
        cool_down: float = COOL_DOWN,
        min_call_time: float = MIN_CALL_TIME,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._metrics = metrics
        self._call_timeout = call_timeout
        self._budget = request_budget
        self._min_call_time = min_call_time
        self._clock = clock
        self._sleep = sleep
        self._endpoints: list[_Endpoint] = []
        for config in endpoints:
            if any(e.config.name == config.name for e in self._endpoints):
                raise LlmConfigError(f"two LLM endpoints are named {config.name!r}")
            breaker = CircuitBreaker(
                failure_threshold=failure_threshold, cool_down=cool_down, clock=clock
            )
            client = AsyncOpenAI(
                base_url=config.base_url,
                api_key=config.api_key,
                max_retries=0,  # retries and failover are this gateway's job
                timeout=call_timeout,
            )
            self._endpoints.append(_Endpoint(config, client, breaker))
            # Exposed from the start, so a dashboard sees every endpoint before its first call.
            metrics.llm_calls.labels(config.name)
            metrics.llm_breaker_state.labels(config.name).set_function(_state_of(breaker))
            log.info("LLM endpoint %s: %s, model %s", config.name, config.host, config.model)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        metrics: Metrics,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> LlmGateway:
        """The gateway for OPENAI_* and LLM_FALLBACKS (see `endpoints_from_settings`)."""
        return cls(endpoints_from_settings(settings, environ), metrics=metrics, **options)

    @property
    def endpoint_names(self) -> list[str]:
        return [e.config.name for e in self._endpoints]

    def breaker(self, name: str) -> CircuitBreaker:
        """The breaker of the endpoint NAME; raises KeyError for an unknown name."""
        for endpoint in self._endpoints:
            if endpoint.config.name == name:
                return endpoint.breaker
        raise KeyError(name)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]],
        parse: Parse[T],
    ) -> Answer[T]:
        """Ask the chain for a chat completion with TOOLS (`tool_choice="auto"`).

        PARSE turns the completion into the caller's value and raises `MalformedAnswer` when
        the completion is unusable, which fails over like any other endpoint failure.

        Raises:
            AllEndpointsFailed: no endpoint answered within the request budget.
        """
        deadline = self._clock() + self._budget
        reasons: list[str] = []
        for endpoint in self._endpoints:
            if not endpoint.breaker.try_acquire():
                reasons.append(f"{endpoint.config.name}: circuit {endpoint.breaker.state}")
                continue
            try:
                return await self._ask(endpoint, messages, tools, parse, deadline)
            except _Failed as failure:
                reasons.append(f"{endpoint.config.name}: {failure.reason}")
        raise AllEndpointsFailed(reasons)

    async def _ask(
        self,
        endpoint: _Endpoint,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        parse: Parse[T],
        deadline: float,
    ) -> Answer[T]:
        name = endpoint.config.name
        retried = False
        try:
            while True:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    endpoint.breaker.release()
                    raise _Failed("request budget spent")
                timeout = min(self._call_timeout, remaining)
                self._metrics.llm_calls.labels(name).inc()
                started = time.perf_counter()
                try:
                    completion = await self._create(endpoint, messages, tools, timeout)
                    value = parse(completion)
                except Exception as exc:
                    self._metrics.llm_seconds.labels(name).observe(time.perf_counter() - started)
                    reason = failure_reason(exc)
                    if reason is None:
                        raise  # a bug of ours, not the endpoint's: the task's error boundary
                    self._metrics.llm_failures.labels(name, reason).inc()
                    wait = (
                        retry_after_seconds(exc.response.headers)
                        if isinstance(exc, openai.RateLimitError)
                        else None
                    )
                    if (
                        wait is not None
                        and not retried
                        and wait + self._min_call_time <= deadline - self._clock()
                    ):
                        log.info("LLM endpoint %s asks to wait %.1fs; waiting once", name, wait)
                        retried = True
                        await self._sleep(wait)
                        continue
                    if wait is not None:
                        endpoint.breaker.hold(self._clock() + wait)
                    else:
                        endpoint.breaker.record_failure()
                    log.warning(
                        "LLM endpoint %s failed (%s: %s)%s; failing over",
                        name,
                        reason,
                        _describe(exc),
                        f", cooling for {wait:.0f}s" if wait is not None else "",
                    )
                    raise _Failed(reason) from exc
                self._metrics.llm_seconds.labels(name).observe(time.perf_counter() - started)
                endpoint.breaker.record_success()
                return Answer(value, self._usage(endpoint, completion))
        except _Failed:
            raise
        except BaseException:
            # Cancelled, or a bug of ours: no verdict on the endpoint, so a probe slot frees.
            endpoint.breaker.release()
            raise

    async def _create(
        self,
        endpoint: _Endpoint,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        seconds: float,
    ) -> ChatCompletion:
        # The SDK's timeout is per socket operation; asyncio's bounds the whole call.
        async with asyncio.timeout(seconds):
            completion: ChatCompletion = await endpoint.client.chat.completions.create(
                model=endpoint.config.model,
                # Plain dicts in the API's own shape; the SDK's TypedDicts describe the same.
                messages=cast("list[ChatCompletionMessageParam]", messages),
                tools=cast("list[ChatCompletionToolUnionParam]", tools),
                tool_choice="auto",
                timeout=seconds,
            )
            return completion

    def _usage(self, endpoint: _Endpoint, completion: ChatCompletion) -> Usage:
        model = completion.model or endpoint.config.model
        prompt = completion.usage.prompt_tokens if completion.usage else 0
        answer = completion.usage.completion_tokens if completion.usage else 0
        name = endpoint.config.name
        self._metrics.llm_tokens.labels(name, "prompt").inc(prompt)
        self._metrics.llm_tokens.labels(name, "completion").inc(answer)
        return Usage(
            endpoint=name,
            model=model,
            prompt_tokens=prompt,
            completion_tokens=answer,
            cost_usd=estimate_cost(model, prompt, answer),
        )

    async def aclose(self) -> None:
        """Close every endpoint's HTTP client."""
        await asyncio.gather(*(e.client.close() for e in self._endpoints))

    async def __aenter__(self) -> LlmGateway:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


def _state_of(breaker: CircuitBreaker) -> Callable[[], float]:
    """Reads the breaker's state when /metrics is scraped, so a cool-down's end shows at once."""
    return lambda: breaker.state_code


def _describe(exc: BaseException) -> str:
    # Status and class only: provider error bodies can echo request content or key fragments.
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__

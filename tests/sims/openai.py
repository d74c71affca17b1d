"""OpenAI chat-completions simulator (``<url>/v1``) for ``openai.AsyncOpenAI(base_url=...)``."""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator

__all__ = ["OpenAISim", "Reply"]

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted assistant answer."""

    content: str | None = None
    tool_calls: tuple[tuple[str, Json], ...] = ()
    finish_reason: str | None = None  # default: "tool_calls" when there are calls, else "stop"


Responder = Callable[[Json], Reply | None]


class OpenAISim(Simulator):
    """``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /v1/models/{model}``
    (404 ``model_not_found`` for a model not in ``models``), scripted by the test.

    Replies come from the queue filled by ``reply_text`` / ``reply_tool_calls`` (first in,
    first out); when it is empty, from ``responder(request_json)`` if set and it returns a
    ``Reply``; otherwise ``default_text``. Needs ``Authorization: Bearer <api_key>``.
    Streaming (``stream: true``) is refused with a 400 so that nobody relies on it silently.
    """

    name: ClassVar[str] = "openai"

    def __init__(
        self,
        *,
        api_key: str = "sk-sim-openai-0000000000000000",
        models: Iterable[str] = ("gpt-4o-mini", "gpt-4o"),
        default_text: str = "OK",
    ) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.default_text = default_text
        self.responder: Responder | None = None
        self._replies: deque[Reply] = deque()
        self._seq = itertools.count(1)
        super().__init__()

    @property
    def base_url(self) -> str:
        """The SDK ``base_url`` (form ``https://api.openai.com/v1``)."""
        return f"{self.url}/v1"

    # ------------------------------------------------------------------ scripting

    def reply_text(self, text: str, *, finish_reason: str = "stop") -> None:
        """Queue a plain assistant message."""
        self._replies.append(Reply(content=text, finish_reason=finish_reason))

    def reply_tool_calls(
        self, calls: Iterable[tuple[str, Json]], *, content: str | None = None
    ) -> None:
        """Queue an assistant message calling ``(tool name, arguments)`` pairs, in order."""
        self._replies.append(Reply(content=content, tool_calls=tuple(calls)))

    @property
    def pending_replies(self) -> int:
        return len(self._replies)

    # ------------------------------------------------------------------ inspection

    def chat_requests(self) -> list[Json]:
        """Request bodies of every chat completion (messages, tools, tool_choice, ...)."""
        return [r.json for r in self.calls("/v1/chat/completions") if isinstance(r.json, dict)]

    def last_chat_request(self) -> Json:
        """The newest chat completion request body.

        Raises:
            AssertionError: no chat completion was requested.
        """
        requests = self.chat_requests()
        if not requests:
            raise AssertionError("openai simulator received no chat completion request")
        return requests[-1]

    # ------------------------------------------------------------------ routes

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self._chat)
        router.add_get("/v1/models", self._models)
        router.add_get("/v1/models/{model}", self._model)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        if status == 429:
            body = _error(
                "Rate limit reached for requests. Please try again later.",
                "requests",
                "rate_limit_exceeded",
            )
        elif status == 403:
            body = _error(
                error or "You are not allowed to perform this request.",
                "invalid_request_error",
                "permission_denied",
            )
        elif status == 401:
            body = _error(
                error or "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        elif status >= 500:
            body = _error(
                error or "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            )
        else:
            body = _error(error or "Bad request", "invalid_request_error", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(body, status=status, headers=headers)

    def _denied(self, request: web.Request) -> web.StreamResponse | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error_response(401)
        return None

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        data = [
            {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}
            for model in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _model(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        model = request.match_info["model"]
        if model not in self.models:
            return web.json_response(
                _error(
                    f"The model `{model}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                ),
                status=404,
            )
        return web.json_response(
            {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        body = self.record_of(request).json
        if not isinstance(body, dict):
            return web.json_response(
                _error(
                    "We could not parse the JSON body of your request.",
                    "invalid_request_error",
                    None,
                ),
                status=400,
            )
        if not body.get("model"):
            return web.json_response(
                _error("you must provide a model parameter", "invalid_request_error", None),
                status=400,
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return web.json_response(
                _error("[] is too short - 'messages'", "invalid_request_error", None, "messages"),
                status=400,
            )
        if body.get("stream"):
            return web.json_response(
                _error(
                    "stream=true is not supported by the simulator", "invalid_request_error", None
                ),
                status=400,
            )
        reply = self._next_reply(body)
        return web.json_response(self._completion(body, reply))

    def _next_reply(self, body: Json) -> Reply:
        if self._replies:
            return self._replies.popleft()
        if self.responder is not None and (reply := self.responder(body)) is not None:
            return reply
        return Reply(content=self.default_text)

    def _completion(self, body: Json, reply: Reply) -> Json:
        n = next(self._seq)
        message: Json = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_sim{n:04d}{i:02d}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(reply.tool_calls)
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        prompt_tokens = _estimate_tokens(json.dumps(body.get("messages", [])))
        prompt_tokens += (
            _estimate_tokens(json.dumps(body.get("tools", []))) if body.get("tools") else 0
        )
        completion_tokens = _estimate_tokens(reply.content or "") + sum(
            _estimate_tokens(name + json.dumps(args)) for name, args in reply.tool_calls
        )
        return {
            "id": f"chatcmpl-sim{n:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_simulator",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }


def _estimate_tokens(text: str) -> int:
    """About four characters per token, at least one: stable and good enough for budgets."""
    return max(1, (len(text) + 3) // 4)


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> Json:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}

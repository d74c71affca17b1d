"""The LLM classifier: chat completions with the principal's tools, validated on the way back."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionMessage
from pydantic import ValidationError

from config.metrics import Metrics
from core.classify.backend import Classifier
from core.llm.gateway import AllEndpointsFailed, LlmGateway, MalformedAnswer
from core.llm.memory import SessionMemory
from core.llm.prompt import system_prompt, user_message
from core.team.identity import Principal
from core.tools.catalogue import unavailable_reason
from core.tools.registry import ToolRegistry
from models.classification import Classification, ToolCall

log = logging.getLogger(__name__)

# Offered to everyone; a principal with nothing else has no use for the model (the live
# operator's "go live on billing" and "who is live" are the offline classifier's too).
_ALWAYS_OFFERED = frozenset({"help", "list_live_operators", "set_live"})


def answer_message(completion: ChatCompletion) -> ChatCompletionMessage:
    """The assistant message of COMPLETION.

    Raises:
        MalformedAnswer: no choice, or a message with neither text nor tool calls.
    """
    if not completion.choices:
        raise MalformedAnswer("the completion has no choices")
    message = completion.choices[0].message
    if not (message.content or "").strip() and not message.tool_calls and not message.refusal:
        raise MalformedAnswer("the answer has neither text nor tool calls")
    return message


def validation_problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'arguments'}: {error['msg']}"
        for error in exc.errors()
    )


def _drop_nulls(value: Any) -> Any:
    # Strict schemas make the model send every optional argument, as null when unused.
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


class LlmClassifier:
    """The Classifier protocol on top of the LLM gateway, with the offline classifier as the
    last resort: when every endpoint fails, the request still gets an answer.

    Only the tools the principal may use are offered. Calls that name an unknown tool, a tool
    this principal may not use, or arguments the tool's model rejects are not passed on: they
    become a reply saying what was wrong.
    """

    def __init__(
        self,
        gateway: LlmGateway,
        tools: ToolRegistry,
        *,
        offline: Classifier,
        metrics: Metrics,
        memory: SessionMemory | None = None,
    ) -> None:
        self._gateway = gateway
        self._tools = tools
        self._offline = offline
        self._metrics = metrics
        self.memory = memory

    @property
    def gateway(self) -> LlmGateway:
        """The endpoint chain; the AI agent's answers to customers go through it too."""
        return self._gateway

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        tools = self._tools.openai_tools(principal)
        if {t["function"]["name"] for t in tools} <= _ALWAYS_OFFERED:
            # No operator tool for this principal (a customer, support, the Plus plan): the
            # offline path answers and the pipeline explains what they can use instead.
            return await self._offline.classify(text, principal, now)
        messages = await self._messages(text, principal, now)
        try:
            answer = await self._gateway.complete(messages, tools=tools, parse=answer_message)
        except AllEndpointsFailed as exc:
            log.warning("no LLM endpoint answered (%s); the offline classifier answers", exc)
            self._metrics.llm_offline_fallbacks.inc()
            return await self._offline.classify(text, principal, now)
        calls, problems = self._checked_calls(answer.value, principal)
        parts = [answer.value.content or answer.value.refusal or "", *problems]
        reply = "\n".join(p.strip() for p in parts if p and p.strip()) or None
        return Classification(calls=tuple(calls), reply=reply, backend="llm", usage=answer.usage)

    async def _messages(
        self, text: str, principal: Principal, now: datetime
    ) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system_prompt(principal, now)}
        ]
        if self.memory is not None:
            messages += [
                {"role": entry.role, "content": entry.content}
                for entry in await self.memory.recall(principal, now)
            ]
        messages.append(
            {"role": "user", "content": user_message(text, from_customer=principal.is_customer)}
        )
        return messages

    def _checked_calls(
        self, message: ChatCompletionMessage, principal: Principal
    ) -> tuple[list[ToolCall], list[str]]:
        calls: list[ToolCall] = []
        problems: list[str] = []
        for raw in message.tool_calls or ():
            if raw.type != "function":
                problems.append(f"I didn't run a {raw.type} call: only tools can be run.")
                continue
            checked = self.check_call(raw.function.name, raw.function.arguments, principal)
            if isinstance(checked, ToolCall):
                calls.append(checked)
            else:
                problems.append(checked)
        return calls, problems

    def check_call(self, name: str, arguments: str, principal: Principal) -> ToolCall | str:
        """The call to NAME with ARGUMENTS (JSON text) validated for PRINCIPAL, or the sentence
        saying why it must not run."""
        spec = self._tools.get(name)
        if spec is None:
            return f"I didn't run {name}: there is no such tool."
        if not spec.allows(principal):
            return f"I didn't run {name}: {unavailable_reason(principal.plan, principal.role)}"
        try:
            raw = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            return f"I didn't run {name}: its arguments were not valid JSON."
        if not isinstance(raw, dict):
            return f"I didn't run {name}: its arguments were not an object."
        try:
            parsed = spec.args.model_validate(_drop_nulls(raw))
        except ValidationError as exc:
            return f"I didn't run {name}: {validation_problems(exc)}."
        return ToolCall(tool=name, args=parsed.model_dump(mode="json", exclude_none=True))

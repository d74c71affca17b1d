"""The LLM path wired into the gateway and the command line, as configured by OPENAI_* settings."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.llm.pricing import estimate_cost
from storage.db import Database
from storage.models import TaskRow
from tests.api import Client, ClientFactory, finished_task
from tests.factories import make_tenant
from tests.process import ROOT
from tests.sims.openai import OpenAISim

BACKUP_KEY_ENV = "SWITCHBOARD_TEST_BACKUP_KEY"


def _tokens(text: str) -> int:
    # The simulator's own count: about four characters per token.
    return max(1, (len(text) + 3) // 4)


async def _send(client: Client, auth: dict[str, str], member_id: str, text: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/messages", json={"member": member_id, "text": text}, headers=auth
    )
    assert response.status == 202, await response.text()
    return await finished_task(client, (await response.json())["task_id"], **auth)


async def _metrics(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }


def _sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_tokens_and_cost_are_recorded_on_the_task(
    make_client: ClientFactory, db: Database, openai_sim: OpenAISim
) -> None:
    tenant = await make_tenant(db, name="Ana")
    client = await make_client(
        OPENAI_API_KEY=openai_sim.api_key, OPENAI_BASE_URL=openai_sim.base_url
    )
    answer = "Your CSAT this week is 4.7 out of 5."
    openai_sim.reply_text(answer)

    task = await _send(client, tenant.auth, tenant.member_id, "what's our csat this week?")

    assert [reply["text"] for reply in task["replies"]] == [answer]
    request = openai_sim.last_chat_request()
    prompt = _tokens(json.dumps(request["messages"])) + _tokens(json.dumps(request["tools"]))
    completion = _tokens(answer)
    async with db.session() as session:
        row = await session.get(TaskRow, task["id"])
    assert row is not None
    assert row.llm_backend == "llm:primary"
    assert (row.llm_prompt_tokens, row.llm_completion_tokens) == (prompt, completion)
    # gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million completion tokens.
    expected = (prompt * 0.15 + completion * 0.60) / 1_000_000
    assert row.llm_cost_usd == pytest.approx(expected, abs=1e-6)
    assert row.llm_cost_usd == estimate_cost("gpt-4o-mini", prompt, completion)


async def test_a_failing_primary_fails_over_and_metrics_show_each_endpoint(
    make_client: ClientFactory,
    db: Database,
    openai_sim: OpenAISim,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = await make_tenant(db)
    async with OpenAISim(api_key="sk-sim-backup-2222222222222222", models=["gpt-4o"]) as backup:
        monkeypatch.setenv(BACKUP_KEY_ENV, backup.api_key)
        client = await make_client(
            OPENAI_API_KEY=openai_sim.api_key,
            OPENAI_BASE_URL=openai_sim.base_url,
            LLM_FALLBACKS=f"{backup.base_url}|gpt-4o|{BACKUP_KEY_ENV}",
        )
        before = await _metrics(client)
        openai_sim.fail(500)
        backup.reply_text("Answered by the backup.")

        task = await _send(client, tenant.auth, tenant.member_id, "how are we doing?")
        samples = await _metrics(client)
        assert backup.last_chat_request()["model"] == "gpt-4o"
    assert not backup.handler_errors

    assert [reply["text"] for reply in task["replies"]] == ["Answered by the backup."]
    async with db.session() as session:
        row = await session.get(TaskRow, task["id"])
    assert row is not None and row.llm_backend == "llm:fallback-1"
    # Both endpoints are on /metrics from the start, breakers closed.
    for name in ("primary", "fallback-1"):
        assert ("switchboard_llm_calls_total", frozenset({("endpoint", name)})) in before
        assert _sample(before, "switchboard_llm_breaker_state", endpoint=name) == 0
    assert _sample(samples, "switchboard_llm_calls_total", endpoint="primary") == 1
    assert _sample(samples, "switchboard_llm_calls_total", endpoint="fallback-1") == 1
    assert (
        _sample(
            samples, "switchboard_llm_failures_total", endpoint="primary", reason="server_error"
        )
        == 1
    )
    assert _sample(samples, "switchboard_llm_seconds_count", endpoint="fallback-1") == 1
    assert (
        _sample(samples, "switchboard_llm_tokens_total", endpoint="fallback-1", kind="prompt") > 0
    )
    # One failure is below the threshold: the primary stays closed.
    assert _sample(samples, "switchboard_llm_breaker_state", endpoint="primary") == 0


async def test_when_every_endpoint_is_down_the_request_is_still_answered(
    make_client: ClientFactory, db: Database, openai_sim: OpenAISim
) -> None:
    tenant = await make_tenant(db, name="Ana")
    client = await make_client(
        OPENAI_API_KEY=openai_sim.api_key, OPENAI_BASE_URL=openai_sim.base_url
    )
    openai_sim.fail(503, times=None)

    task = await _send(client, tenant.auth, tenant.member_id, "help")

    assert task["status"] == "done"
    [reply] = task["replies"]
    assert reply["text"].startswith("Hi Ana, here is what I can do for you")
    assert reply["delivery"] == "sent"
    async with db.session() as session:
        row = await session.get(TaskRow, task["id"])
    assert row is not None
    assert (row.llm_backend, row.llm_prompt_tokens, row.llm_cost_usd) == ("offline", None, None)
    samples = await _metrics(client)
    assert _sample(samples, "switchboard_llm_offline_fallbacks_total") == 1
    assert (
        _sample(
            samples, "switchboard_llm_failures_total", endpoint="primary", reason="server_error"
        )
        == 1
    )


async def test_without_a_key_the_offline_classifier_answers_and_no_model_is_asked(
    make_client: ClientFactory, db: Database, openai_sim: OpenAISim
) -> None:
    tenant = await make_tenant(db)
    client = await make_client(OPENAI_BASE_URL=openai_sim.base_url)

    task = await _send(client, tenant.auth, tenant.member_id, "help")

    assert task["status"] == "done"
    assert openai_sim.chat_requests() == []
    async with db.session() as session:
        row = await session.get(TaskRow, task["id"])
    assert row is not None and row.llm_backend == "offline"
    samples = await _metrics(client)
    assert not any(name.startswith("switchboard_llm_calls") for name, _ in samples)


async def _classify_cli(*args: str, env: dict[str, str], cwd: Path, stdin: str = "") -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "classify",
        *args,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_main_classify_uses_the_model_when_a_key_is_set(
    openai_sim: OpenAISim, tmp_path: Path
) -> None:
    env = {"OPENAI_API_KEY": openai_sim.api_key, "OPENAI_BASE_URL": openai_sim.base_url}
    openai_sim.reply_tool_calls([("close_assist", {"assist": "A-1042", "reason": None})])
    openai_sim.reply_text("Hello! What can I do for you?")

    out = await _classify_cli("--json", "-", env=env, cwd=tmp_path, stdin="close A-1042\n\nhi\n")

    assert [json.loads(line) for line in out.splitlines()] == [
        {"calls": [{"tool": "close_assist", "args": {"assist": "A-1042"}}], "backend": "llm"},
        {"calls": [], "backend": "llm", "reply": "Hello! What can I do for you?"},
    ]
    # The command line asks as an owner: every tool is offered.
    assert len(openai_sim.chat_requests()[0]["tools"]) > 40


async def test_main_classify_falls_back_offline_when_the_model_is_down(
    openai_sim: OpenAISim, tmp_path: Path
) -> None:
    env = {"OPENAI_API_KEY": openai_sim.api_key, "OPENAI_BASE_URL": openai_sim.base_url}
    openai_sim.fail(500, times=None)

    out = await _classify_cli("--json", "close A-1042", env=env, cwd=tmp_path)

    result = json.loads(out)
    assert result["backend"] == "offline"
    assert [(c["tool"], c["args"]["assist"]) for c in result["calls"]] == [
        ("close_assist", "A-1042")
    ]

"""ElevenLabs (the configured voice exists) and every LLM endpoint (OPENAI_* then each
LLM_FALLBACKS entry: its model, retrieved with its key)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

import httpx
import openai
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError
from openai import AsyncOpenAI

from channels.doctor.report import Check, Finding, fail, host_of, off, ok, refused, warn
from config import Settings
from core.llm.gateway import EndpointConfig, LlmConfigError, endpoints_from_settings


async def check_elevenlabs(settings: Settings, seconds: float) -> list[Finding]:
    if settings.elevenlabs_api_key is None:
        return [off("elevenlabs", "ELEVENLABS_API_KEY is not set (calls speak with Twilio <Say>)")]
    api_url = str(settings.elevenlabs_api_url).rstrip("/")
    voice_id = settings.elevenlabs_voice_id
    async with httpx.AsyncClient(timeout=seconds) as http:
        client = AsyncElevenLabs(
            api_key=settings.elevenlabs_api_key.get_secret_value(),
            base_url=api_url,
            httpx_client=http,
        )
        try:
            if voice_id is None:
                await client.voices.get_all()
            else:
                voice = await client.voices.get(voice_id)
        except ApiError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            detail = body.get("detail")
            status = (detail.get("status") if isinstance(detail, dict) else None) or "no detail"
            if status == "voice_not_found" or (voice_id and exc.status_code == 404):
                return [fail("elevenlabs", f"ELEVENLABS_VOICE_ID: no voice {voice_id} here")]
            code = exc.status_code or 502
            blamed = refused(code, "ELEVENLABS_API_KEY", "ELEVENLABS_API_URL", status)
            return [fail("elevenlabs", blamed)]
        except httpx.HTTPError as exc:
            return [
                fail("elevenlabs", f"ELEVENLABS_API_URL: cannot reach {host_of(api_url)}: {exc!r}")
            ]
    if voice_id is None:
        return [
            warn(
                "elevenlabs",
                "key accepted, but ELEVENLABS_VOICE_ID is not set: calls speak with Twilio <Say>",
            )
        ]
    return [ok("elevenlabs", f"voice {voice.name!r} ({voice_id}) found")]


def _blame(
    settings: Settings, endpoint: EndpointConfig, environ: Mapping[str, str]
) -> tuple[str, str, str]:
    """The settings behind ENDPOINT's URL, model and key, to name in a failure."""
    if endpoint.name == "primary":
        return "OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_API_KEY"
    number = int(endpoint.name.rsplit("-", 1)[1])
    parts = [part.strip() for part in settings.llm_fallbacks[number - 1].split("|")]
    entry = f"LLM_FALLBACKS entry {number}"
    model = entry if len(parts) > 1 and parts[1] else "OPENAI_MODEL"
    key_env = parts[2] if len(parts) > 2 else ""
    key = key_env if key_env and environ.get(key_env) else "OPENAI_API_KEY"
    return entry, model, key


async def check_endpoint(
    settings: Settings, endpoint: EndpointConfig, environ: Mapping[str, str], seconds: float
) -> list[Finding]:
    name = f"llm {endpoint.name}"
    url_setting, model_setting, key_setting = _blame(settings, endpoint, environ)
    where = f"{endpoint.host}, model {endpoint.model}"
    async with AsyncOpenAI(
        base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0, timeout=seconds
    ) as client:
        try:
            await client.models.retrieve(endpoint.model)
        except openai.NotFoundError:
            # Some OpenAI-compatible servers only list their models.
            try:
                listed = [model.id async for model in client.models.list()]
            except openai.APIStatusError:
                listed = []
            if endpoint.model not in listed:
                return [fail(name, f"{model_setting}: {where}: the model is not found there")]
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            return [fail(name, f"{key_setting}: rejected by {where} ({_code(exc)})")]
        except openai.APIStatusError as exc:
            return [fail(name, refused(exc.status_code, key_setting, url_setting, _code(exc)))]
        except openai.APIConnectionError as exc:
            return [fail(name, f"{url_setting}: cannot reach {endpoint.host}: {exc}")]
    return [ok(name, f"{where}: key accepted, model available")]


def _code(exc: openai.APIStatusError) -> str:
    return f"HTTP {exc.status_code}" + (f": {exc.code}" if exc.code else "")


def llm_checks(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> tuple[list[Check], list[Finding]]:
    env = os.environ if environ is None else environ
    try:
        endpoints = endpoints_from_settings(settings, env)
    except LlmConfigError as exc:
        return [], [fail("llm", str(exc))]
    if not endpoints:
        return [], [off("llm", "OPENAI_API_KEY is not set (the offline classifier answers)")]
    checks = []
    for endpoint in endpoints:
        url_setting = _blame(settings, endpoint, env)[0]
        checks.append(
            Check(
                f"llm {endpoint.name}",
                url_setting,
                functools.partial(check_endpoint, settings, endpoint, env),
            )
        )
    return checks, []


def fallback_keys(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """The keys LLM_FALLBACKS entries read from other variables (secrets too)."""
    env = os.environ if environ is None else environ
    names = [
        entry.split("|")[2].strip() for entry in settings.llm_fallbacks if entry.count("|") == 2
    ]
    return [env[name] for name in names if env.get(name)]

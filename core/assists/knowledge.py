"""What the AI agent may answer from: the workspace's Q&A pairs and text sources, ranked by
TF-IDF cosine similarity to the customer's question."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import QaPair, TrainingSource

STOPWORDS = frozenset(
    (
        "a an the and or but if of to in on at by for with from about as into over after before "
        "is are was were be been being am do does did doing have has had having can could will "
        "would should shall may might must i me my mine we our ours you your yours he him his "
        "she her it its they them their this that these those what which who whom whose when "
        "where why how there here hi hello hey please thanks thank just also so too very any "
        "some not no yes get got up out than then there's it's i'm i've don't can't won't "
        "let know tell want would like need ok okay"
    ).split()
)


def terms(text: str) -> list[str]:
    """TEXT's content words, lower-cased and lightly stemmed (refunds → refund)."""
    out = []
    for word in re.findall(r"[^\W_]+(?:['\u2019-][^\W_]+)*", text.lower()):
        if word in STOPWORDS or len(word) < 2:
            continue
        for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
                word = word[: -len(suffix)] + keep
                break
        out.append(word)
    return out


@dataclass(frozen=True)
class Passage:
    """Something the agent may answer from: a Q&A pair or a piece of a text source."""

    source: str  # "qa:12", "source:3"
    question: str | None
    answer: str


@dataclass(frozen=True)
class Match:
    passage: Passage
    score: float  # 0..1


def _chunks(content: str, size: int = 400) -> list[str]:
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", content):
        current = ""
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph.strip()):
            if current and len(current) + len(sentence) > size:
                pieces.append(current)
                current = ""
            current = f"{current} {sentence}".strip()
        if current:
            pieces.append(current)
    return pieces


async def passages(session: AsyncSession, workspace_id: str) -> list[Passage]:
    """The workspace's active Q&A pairs and text sources (fetched pages included), read now:
    a pair added a moment ago is already there."""
    found = [
        Passage(f"qa:{pair.id}", pair.question, pair.answer)
        for pair in await session.scalars(
            select(QaPair)
            .where(QaPair.workspace_id == workspace_id, QaPair.active.is_(True))
            .order_by(QaPair.id)
        )
    ]
    sources = await session.scalars(
        select(TrainingSource)
        .where(
            TrainingSource.workspace_id == workspace_id,
            TrainingSource.active.is_(True),
            TrainingSource.content.is_not(None),
        )
        .order_by(TrainingSource.id)
    )
    for source in sources:
        for piece in _chunks(source.content or "")[:200]:
            found.append(Passage(f"source:{source.id}", None, piece))
    return found


def _vector(words: Sequence[str], idf: Mapping[str, float], weight: float = 1.0) -> Counter[str]:
    counts: Counter[str] = Counter()
    for word in words:
        # Weights are floats; typeshed types a Counter's counts as int.
        counts[word] += idf.get(word, 0.0) * weight  # type: ignore[assignment]
    return counts


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    dot = sum(value * b.get(key, 0.0) for key, value in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def rank(question: str, found: Sequence[Passage], *, limit: int = 5) -> list[Match]:
    """FOUND ranked by TF-IDF cosine similarity to QUESTION. A Q&A pair scores on its question
    (its answer counts for less); a text source's piece scores at 85 %: a passage answers less
    surely than a pair written for the question."""
    asked = terms(question)
    if not asked or not found:
        return []
    docs = [(terms(p.question) if p.question else [], terms(p.answer)) for p in found]
    frequency: Counter[str] = Counter()
    for head, body in docs:
        frequency.update(set(head) | set(body))
    total = len(docs)
    idf = {word: math.log((total + 1) / (count + 1)) + 1 for word, count in frequency.items()}
    for word in asked:
        idf.setdefault(word, math.log(total + 1) + 1)
    query = _vector(asked, idf)
    matches = []
    for passage, (head, body) in zip(found, docs, strict=True):
        if passage.question is not None:
            both = _vector(head, idf) + _vector(body, idf, 0.3)
            score = max(_cosine(query, _vector(head, idf)), 0.8 * _cosine(query, both))
        else:
            score = 0.85 * _cosine(query, _vector(body, idf))
        if score > 0:
            matches.append(Match(passage, round(min(score, 1.0), 4)))
    matches.sort(key=lambda m: -m.score)
    return matches[:limit]

"""JSON columns are written and read by orjson: the same values as the standard library's
`json` gave, and rows it wrote read back as they were."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert, select, text

from storage.db import Database
from tests.storage.conftest import with_tables

_meta = MetaData()
_docs = Table("json_docs", _meta, Column("id", Integer, primary_key=True), Column("doc", JSON))


@pytest.fixture
async def docs(database_url: str) -> AsyncIterator[Database]:
    async with with_tables(database_url, _meta) as database:
        yield database


async def test_values_round_trip_as_the_standard_library_gave_them(docs: Database) -> None:
    values = [
        {"text": 'Grüße, 你好 \u2028 "quoted" \\ <script>', "n": [1, 2.5, True, None]},
        {"nested": {"a": {"b": [{"c": "d"}]}}, "empty": {}},
        {"1": "keys that were numbers"},
        # Beyond 64 bits: written by json.dumps, and read back exact (orjson reads them as
        # floats, which would hold neither of these exactly).
        {"big": 2**70 + 1, "negative": -(2**63) - 1, "digits": 10**30 + 7},
        {"large floats stay floats": [1e19, -1.5e300, 9.3e18]},
        ["a", 1],
    ]
    async with docs.engine.begin() as conn:
        await conn.execute(insert(_docs), [{"id": n, "doc": v} for n, v in enumerate(values)])
        await conn.execute(insert(_docs).values(id=99, doc={1: "int key"}))
    async with docs.engine.connect() as conn:
        read = dict((await conn.execute(select(_docs.c.id, _docs.c.doc))).all())
    assert [read[n] for n in range(len(values))] == [json.loads(json.dumps(v)) for v in values]
    assert all(type(v) is int for v in read[3].values())
    assert read[99] == {"1": "int key"}  # as json.dumps writes an int key


async def test_rows_the_standard_library_wrote_read_back_the_same(docs: Database) -> None:
    written = {"text": "Grüße", "emoji": "\U0001f600", "ratio": 0.1, "list": [1, "2"]}
    async with docs.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO json_docs (id, doc) VALUES (1, :doc)"),
            {"doc": json.dumps(written)},  # ASCII escapes, spaces after separators
        )
    async with docs.engine.connect() as conn:
        assert (await conn.execute(select(_docs.c.doc))).scalar() == written

"""The API's SQL (`api.queries`) on the seeded database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest

from api import queries
from tests.integration.api.conftest import ASSET, NOW, history

pytestmark = pytest.mark.integration


async def _history(settings, **selection):
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        return await queries.metric_history(conn, **selection)


def test_a_metric_history_read_a_chunk_at_a_time_is_whole_in_time_order_and_bounded(
    seeded, monkeypatch
):
    monkeypatch.setattr(queries, "_HISTORY_CHUNK_ROWS", 7)  # dozens of chunks, one partial
    since = NOW - timedelta(days=3)
    rows = asyncio.run(_history(seeded, since=since, asset_id=None, metric_names=None, limit=10**6))
    stored = sorted(history(), key=lambda r: r[2])  # stable: each tick's two rows in stored order
    assert rows.rows() == stored
    few = asyncio.run(
        _history(seeded, since=since, asset_id=ASSET, metric_names=["cpu_usage"], limit=100)
    )
    assert few.rows() == [r for r in stored if r[1] == "cpu_usage"][:100]

"""The PostgreSQL connection pool the worker's sinks share."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool


async def open_pool(pool: AsyncConnectionPool) -> None:
    """Open a pool made with open=False, on first use inside the running event loop."""
    if pool.closed:
        await pool.open(wait=True, timeout=10)

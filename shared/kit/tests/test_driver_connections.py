"""The hot path's plain asyncpg connections: generic plans, and no reset query on release."""

from fupin_kit.db import DriverConnections


async def test_hot_connections_plan_generically_and_keep_their_session(database_url):
    connections = DriverConnections(
        database_url.replace("postgresql+asyncpg://", "postgresql://", 1), size=1
    )
    try:
        async with connections.acquire() as connection:
            assert await connection.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
            assert await connection.fetchval("SHOW application_name") == "fupin-hot-path"
            backend = await connection.fetchval("SELECT pg_backend_pid()")
            # Session state survives the release: asyncpg's default reset (RESET ALL, ...) is
            # not sent, a round trip per request these connections never needed.
            await connection.execute("SET work_mem = '7MB'")
        async with connections.acquire() as connection:
            assert await connection.fetchval("SELECT pg_backend_pid()") == backend
            assert await connection.fetchval("SHOW work_mem") == "7MB"
            await connection.execute("RESET work_mem")
            # An open transaction is still rolled back on release.
            await connection.execute("BEGIN")
            await connection.execute("CREATE TEMP TABLE left_open (x int)")
        async with connections.acquire() as connection:
            assert await connection.fetchval("SELECT to_regclass('left_open')") is None
    finally:
        await connections.close()

"""Run a service's relay and consumers as a separate process (no HTTP)."""

from __future__ import annotations

import asyncio
import signal

from fastapi import FastAPI

from fupin_kit.app import ConsumerFactory, start_runtime
from fupin_kit.audit import AuditKeys, use_audit_keys
from fupin_kit.db import create_engine, create_sessionmaker
from fupin_kit.logging import configure_logging, get_logger
from fupin_kit.settings import ServiceSettings

log = get_logger("fupin.worker")


def run_worker(settings: ServiceSettings, consumers: ConsumerFactory | None) -> None:
    async def main() -> None:
        configure_logging(settings.log_level, settings.log_json)
        use_audit_keys(AuditKeys.parse(settings.audit_keys))
        holder = FastAPI()  # carries state the consumer factories expect
        holder.state.settings = settings
        holder.state.engine = create_engine(
            settings.database_url, pool_size=settings.database_pool_size
        )
        holder.state.sessionmaker = create_sessionmaker(holder.state.engine)
        background = await start_runtime(holder, settings, consumers)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, background.stop.set)
        log.info("worker.started", service=settings.service_name)
        await background.stop.wait()
        await background.close()
        await holder.state.engine.dispose()

    asyncio.run(main())

"""The service app factory: lifespan (engine, relay, consumers), health, readiness, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaClient
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from fupin_kit.audit import AuditKeys, use_audit_keys
from fupin_kit.auth import TokenVerifier
from fupin_kit.db import DriverConnections, create_engine, create_sessionmaker
from fupin_kit.errors import install_handlers
from fupin_kit.forms import install_strict_form_text
from fupin_kit.inbox import EventConsumer
from fupin_kit.lean import ServiceApp
from fupin_kit.logging import configure_logging, get_logger
from fupin_kit.middleware import BodyGuardMiddleware, RequestContextMiddleware
from fupin_kit.problems import PROBLEM_MEDIA_TYPE
from fupin_kit.relay import OutboxRelay
from fupin_kit.settings import ServiceSettings

log = get_logger("fupin.app")

ConsumerFactory = Callable[[FastAPI], Sequence[EventConsumer]]
Hook = Callable[[FastAPI], Awaitable[None]]


class KafkaProbe:
    """Readiness check for Kafka: a metadata round trip, cached briefly."""

    def __init__(self, bootstrap: str, ttl: float = 5.0) -> None:
        self.bootstrap = bootstrap
        self.ttl = ttl
        self._checked_at = 0.0
        self._ok = False
        self._lock = asyncio.Lock()  # many probes at once share one round trip

    async def ok(self) -> bool:
        if time.monotonic() - self._checked_at < self.ttl:
            return self._ok
        async with self._lock:
            if time.monotonic() - self._checked_at < self.ttl:
                return self._ok
            return await self._probe()

    async def _probe(self) -> bool:
        client = AIOKafkaClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(client.bootstrap(), 4)
            self._ok = True
        except Exception:
            self._ok = False
        finally:
            with contextlib.suppress(Exception):
                await client.close()
        self._checked_at = time.monotonic()
        return self._ok


def consumer_sessionmaker(app: FastAPI) -> Any:
    """The sessions event consumers use: their own pool when the runtime made one (requests
    then cannot take every connection from them), else the app's."""
    return getattr(app.state, "consumer_sessionmaker", None) or app.state.sessionmaker


class Background:
    """Relay and consumers running as tasks, in the API process or a worker process."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.engines: list[Any] = []  # disposed when the tasks have stopped

    def start(self, coroutine: Any, name: str) -> None:
        self.tasks.append(asyncio.create_task(coroutine, name=name))

    async def close(self) -> None:
        self.stop.set()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=15)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(BaseException):
                    await task
        for engine in self.engines:
            await engine.dispose()


async def start_runtime(
    app: FastAPI, settings: ServiceSettings, consumers: ConsumerFactory | None
) -> Background:
    background = Background()
    if settings.run_relay:
        relay = OutboxRelay(
            settings.asyncpg_dsn,
            settings.kafka_bootstrap,
            service=settings.service_name,
            anchor_interval=settings.audit_anchor_interval_seconds,
        )
        app.state.relay = relay
        background.start(relay.run(background.stop), f"{settings.service_name}-relay")
    if settings.run_consumers and consumers is not None:
        # The consumers' own pool, on the database the app's engine serves.
        url = app.state.engine.url.render_as_string(hide_password=False)
        engine = create_engine(url, pool_size=settings.consumer_pool_size)
        background.engines.append(engine)
        app.state.consumer_sessionmaker = create_sessionmaker(engine)
        app.state.consumers = list(consumers(app))
        for consumer in app.state.consumers:
            background.start(consumer.run(background.stop), consumer.name)
    return background


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    version: str = "1.0.0",
    routers: Sequence[APIRouter] = (),
    consumers: ConsumerFactory | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    openapi_tags: list[dict[str, Any]] | None = None,
) -> ServiceApp:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_json)
        owns_engine = getattr(app.state, "engine", None) is None
        engine = (
            app.state.engine
            if not owns_engine
            else create_engine(settings.database_url, pool_size=settings.database_pool_size)
        )
        app.state.engine = engine
        app.state.sessionmaker = getattr(app.state, "sessionmaker", None) or create_sessionmaker(
            engine
        )
        owns_drivers = getattr(app.state, "driver_connections", None) is None
        if owns_drivers:
            app.state.driver_connections = DriverConnections(
                settings.asyncpg_dsn, settings.database_pool_size
            )
        app.state.kafka_probe = KafkaProbe(settings.kafka_bootstrap)
        for hook in on_startup:
            await hook(app)
        background = await start_runtime(app, settings, consumers)
        # Everything built at startup (modules, routes, schemas) lives as long as the process:
        # out of the collector's reach, full collections stop walking it again and again under
        # load (a third of the CPU of the registry's batch checks).
        gc.collect()
        gc.freeze()
        defaults = gc.get_threshold()
        if settings.gc_young_threshold:
            gc.set_threshold(settings.gc_young_threshold, *defaults[1:])
        log.info("service.started", service=settings.service_name, port=settings.port)
        try:
            yield
        finally:
            gc.unfreeze()  # an app stopped inside a longer process (tests) hands them back
            gc.set_threshold(*defaults)
            await background.close()
            for hook in on_shutdown:
                await hook(app)
            if owns_drivers:
                await app.state.driver_connections.close()
                app.state.driver_connections = None
            if owns_engine:
                await engine.dispose()

    app = ServiceApp(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        openapi_tags=openapi_tags,
        # Metrics are the kit's own (Prometheus, /metrics); FastAPI's OpenTelemetry hooks would
        # only look up unconfigured providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        responses={
            422: {
                "description": "Validation error (problem+json with field pointers)",
                "content": {PROBLEM_MEDIA_TYPE: {}},
            }
        },
    )
    app.state.settings = settings
    use_audit_keys(AuditKeys.parse(settings.audit_keys))
    try:
        app.state.token_verifier = TokenVerifier(settings)
    except (OSError, ValueError) as exc:
        log.warning("auth.no_public_key", error=str(exc))
        app.state.token_verifier = _RefuseAll()
    install_handlers(app)
    install_strict_form_text()
    app.add_middleware(
        BodyGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    app.include_router(_operations_router())
    for router in routers:
        app.include_router(router)
    return app


class _RefuseAll:
    def verify(self, token: str) -> Any:
        from fupin_kit.problems import Unauthorized

        raise Unauthorized("this service has no token verification key configured")


def _operations_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: database and Kafka reachable",
        responses={
            503: {
                "description": "Problem: the database or Kafka is not reachable (`checks` says"
                " which)",
                "content": {PROBLEM_MEDIA_TYPE: {}},
            }
        },
    )
    async def readyz(request: Request) -> JSONResponse:
        checks = {"database": False, "kafka": False}
        with contextlib.suppress(Exception):
            async with request.app.state.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), 3)
                checks["database"] = True
        checks["kafka"] = await request.app.state.kafka_probe.ok()
        ready = all(checks.values())
        if ready:
            return JSONResponse({"status": "ready", "checks": checks})
        return JSONResponse(
            {
                "type": "https://fupin.example/problems/not-ready",
                "title": "Service not ready",
                "status": 503,
                "detail": "not reachable: " + ", ".join(k for k, up in checks.items() if not up),
                "checks": checks,
            },
            status_code=503,
            media_type=PROBLEM_MEDIA_TYPE,
        )

    # HEAD too, as load balancers and orchestrators often probe with it (not in the schema:
    # one operation per path and method there).
    router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
    router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router

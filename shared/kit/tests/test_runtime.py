"""The runtime gives event consumers a connection pool of their own, on the app's database."""

from fastapi import FastAPI
from sqlalchemy import text

from fupin_kit.app import consumer_sessionmaker, start_runtime
from fupin_kit.db import create_sessionmaker


class Idle:
    """A consumer stand-in: a name and a run(stop) that waits for the stop."""

    name = "idle"

    def __init__(self, sessionmaker):
        self.sessionmaker = sessionmaker

    async def run(self, stop):
        await stop.wait()


async def test_consumers_get_their_own_pool_on_the_apps_database(settings, engine):
    app = FastAPI()
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    assert consumer_sessionmaker(app) is app.state.sessionmaker  # no runtime: the app's own
    runtime_settings = settings.model_copy(
        update={"run_relay": False, "run_consumers": True, "consumer_pool_size": 2}
    )
    background = await start_runtime(
        app, runtime_settings, lambda a: [Idle(consumer_sessionmaker(a))]
    )
    try:
        [consumer] = app.state.consumers
        assert consumer.sessionmaker is not app.state.sessionmaker
        own_engine = consumer.sessionmaker.kw["bind"]
        assert own_engine is not engine and own_engine.url == engine.url
        assert own_engine.pool.size() == 2
        async with consumer.sessionmaker() as session:
            assert await session.scalar(text("SELECT current_database()")) == engine.url.database
    finally:
        await background.close()

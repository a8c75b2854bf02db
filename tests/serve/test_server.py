"""serve/server.py: the event loop kserve's ModelServer.start serves in follows kserve's event_loop setting."""
import asyncio

import pytest

from inferrt.serve.server import use_event_loop


@pytest.fixture(autouse=True)
def _restore_policy():
    yield
    asyncio.set_event_loop_policy(None)
    asyncio.set_event_loop(asyncio.new_event_loop())


def _loop_of_asyncio_run():
    async def current():
        return type(asyncio.get_running_loop())

    return asyncio.run(current())


def test_auto_and_uvloop_serve_on_uvloop():
    uvloop = pytest.importorskip("uvloop")
    for kind in ("auto", "uvloop"):
        assert use_event_loop(kind) == "uvloop"
        asyncio.get_event_loop()      # ModelServer.start asks for the current loop before asyncio.run
        assert _loop_of_asyncio_run() is uvloop.Loop


def test_asyncio_keeps_the_default_loop():
    assert use_event_loop("asyncio") == "asyncio"
    assert _loop_of_asyncio_run().__module__.startswith("asyncio")

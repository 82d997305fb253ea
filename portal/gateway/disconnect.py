"""A client that goes away cancels what the gateway does for it (the upstream call above all)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from litestar.types import Receive

T = TypeVar("T")


class ClientGone(Exception):
    """The client closed the connection before its answer was complete."""


async def until_disconnect(receive: Receive) -> None:
    """Returns when the client disconnects (its request body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_gone(receive: Receive, work: Awaitable[T]) -> T:
    """The work's result; if the client disconnects first, the work is cancelled and ClientGone raised.

    The work runs in the caller's task (no task of its own, no asyncio.wait per request): a watcher
    task waits for the disconnect and cancels the caller, which turns that cancellation into
    ClientGone. A cancellation from anywhere else passes through unchanged."""
    caller = asyncio.current_task()
    assert caller is not None
    watching = True
    gone = False

    def on_gone(watcher: asyncio.Task[None]) -> None:
        nonlocal gone
        if watching and not watcher.cancelled():
            gone = True
            caller.cancel()

    watcher = asyncio.ensure_future(until_disconnect(receive))
    watcher.add_done_callback(on_gone)
    try:
        result = await work
    except asyncio.CancelledError:
        if gone:
            caller.uncancel()
            raise ClientGone from None
        raise
    finally:
        watching = False
        watcher.cancel()
    if gone:  # the work finished anyway (it absorbed the cancellation): its result stands
        caller.uncancel()
    return result

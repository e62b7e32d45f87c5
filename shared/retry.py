"""The one retry policy of the pipeline: capped exponential backoff, for as long as it lasts.

Used for everything that is *the other side's* failure and will pass (Elasticsearch overloaded
or down, the dead-letter topic unreachable): the stage keeps the batch, waits and tries again,
so its offsets are never committed past an undelivered message. What is *the message's*
failure (a document Elasticsearch refuses as invalid, an output too large for its topic) is not
retried here: it becomes a dead letter.

Delays follow the formula of elasticsearch-py's bulk helper, ``initial × 2**attempt``, capped
at ``max_seconds`` (1, 2, 4, 8, 16, 30, 30, … seconds by default) and never give up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger("hadath.retry")

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff.

    Attributes:
        initial_seconds: the first delay (seconds).
        max_seconds: the cap on any delay (seconds).
    """

    initial_seconds: float = 1.0
    max_seconds: float = 30.0

    def delay_seconds(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based), in seconds."""
        return min(self.initial_seconds * (2 ** min(attempt, 32)), self.max_seconds)


DEFAULT_BACKOFF = Backoff()


async def retry_forever(
    operation: Callable[[], Awaitable[T]],
    *,
    is_transient: Callable[[BaseException], bool],
    what: str,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await ``operation()`` until it succeeds, waiting ``backoff`` between transient failures.

    Args:
        operation: called afresh for every attempt.
        is_transient: whether a raised exception is worth retrying; any other exception
            propagates at once (the caller turns it into a dead letter).
        what: names the operation in the warning logged before each wait.
        sleep: the wait (a test passes a fake that does not sleep).

    Returns the operation's result. Raises whatever non-transient exception it raised, or
    ``asyncio.CancelledError`` when the task is cancelled while waiting (a stopping worker).
    """
    attempt = 0
    while True:
        try:
            return await operation()
        except Exception as exc:  # noqa: BLE001 - classified below
            if not is_transient(exc):
                raise
            delay = backoff.delay_seconds(attempt)
            log.warning("%s failed (%s: %s); retry %d in %.0f s", what, type(exc).__name__,
                        str(exc)[:300], attempt + 1, delay)
            attempt += 1
            await sleep(delay)

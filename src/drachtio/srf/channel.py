"""The one seam between the framework and an engine.

The framework never touches sockets: it hands ``ControlMessage`` objects to an
``EngineChannel`` and receives them through ``on_message``. Two implementations exist:

* remote: ``drachtio.wire.client.WireClient`` (TCP/TLS, framing, authenticate, reconnect);
* embedded: an in-process engine link passing the same objects without serialising.

A channel tells its owner when it becomes usable (``on_ready``; again after every
reconnect, so routes can be re-sent) and when it is lost (``on_lost``; pending operations
on it fail).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from drachtio.wire.codec import ControlMessage

__all__ = ["EngineChannel"]


@runtime_checkable
class EngineChannel(Protocol):
    #: engine -> app: every message that is not the channel's own business
    on_message: Callable[[ControlMessage], None] | None
    #: authenticated (again): ``(hostports, server_version, local_hostports)``
    on_ready: Callable[[str, str, str], None] | None
    #: the connection is gone (the channel may reconnect later and call ``on_ready`` again)
    on_lost: Callable[[BaseException | None], None] | None

    @property
    def ready(self) -> bool: ...

    def send(self, msg: ControlMessage) -> None:
        """app -> engine. Raises ``ConnectionError`` when the channel is not connected."""
        ...

    def close(self) -> None: ...

"""Exceptions raised by the framework."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drachtio.srf.status import reason_phrase
from drachtio.wire.client import AuthenticationError

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.response import IncomingResponse

__all__ = ["AuthenticationError", "DrachtioError", "EngineError", "NotConnectedError", "SipError"]


class SipError(Exception):
    """A SIP request ended with a non-success final response (or an equivalent local failure).

    ``status`` and ``reason`` describe the response; ``res`` is the received final response
    when there is one. Raising ``SipError(486)`` from a handler makes the default final
    handler answer 486.
    """

    def __init__(self, status: int, reason: str | None = None, res: IncomingResponse | None = None) -> None:
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(f"SipError status must be an int SIP status code, got {status!r}")
        if reason is not None and not isinstance(reason, str):
            raise TypeError(f"SipError reason must be a str or None, got {reason!r}")
        self.status = status
        self.reason = reason if reason is not None else reason_phrase(status)
        self.res = res
        super().__init__(f"Sip non-success response: {status} {self.reason}".rstrip())

    def __reduce__(self) -> Any:  # keep pickling simple (no res)
        return (SipError, (self.status, self.reason))


class DrachtioError(Exception):
    """Base for failures reported by the engine or the connection."""


class EngineError(DrachtioError):
    """The engine answered a command with ``NO``/``NOK``.

    ``code`` is ``ENODIALOG`` when the engine no longer knows the dialog (a benign race with a
    BYE), else ``EDRACHTIO``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.code = "ENODIALOG" if "unable to find dialog" in reason.lower() else "EDRACHTIO"
        super().__init__(reason)


class NotConnectedError(DrachtioError):
    """No engine connection is available to carry the message."""

    code = "ENOTCONNECTED"



"""RFC 4235 style dialog-state events (``dialog_state_emitter=`` on create_uas / create_uac).

Give an ``Emitter`` (any object with ``emit`` and ``listener_count``) that has
``state_change`` listeners; each listener gets the same mutable ``DialogStateInfo`` as the
dialog moves trying -> proceeding/early -> confirmed | rejected | cancelled -> terminated.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["DialogDirection", "DialogState", "DialogStateInfo", "StateEmitter", "wants_state"]


class DialogState(StrEnum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class DialogDirection(StrEnum):
    INITIATOR = "initiator"
    RECIPIENT = "recipient"

    def __str__(self) -> str:
        return self.value


class StateEmitter(Protocol):
    def emit(self, event: str, *args: Any) -> bool: ...

    def listener_count(self, event: str) -> int: ...


@dataclass
class DialogStateInfo:
    state: DialogState
    direction: DialogDirection
    aor: str
    call_id: str
    local_tag: str
    remote_tag: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:22])


def wants_state(emitter: object) -> bool:
    """Only track state when the emitter exists and someone listens (as the reference)."""
    if emitter is None:
        return False
    if not (hasattr(emitter, "emit") and hasattr(emitter, "listener_count")):
        raise TypeError("dialog_state_emitter must have emit() and listener_count() "
                        "(e.g. a drachtio.srf.Emitter)")
    return bool(emitter.listener_count("state_change"))

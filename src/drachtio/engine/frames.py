"""Engine -> app control messages, token for token as the reference server lays them out.

srf reads these by position (wire-protocol.md sections 2-3), so each shape is built in
exactly one function here.

Frames that carry a SIP message also take the message object (``parsed``): an in-process app
(embedded mode) reads it from ``ControlMessage.parsed`` instead of parsing the text again; the
TCP control link serialises only the text. The engine passes only objects it no longer
changes (received messages after their Via was stamped, messages it built and froze), and the
app must treat them as read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drachtio.engine.ids import new_id, wire_time
from drachtio.wire.codec import ControlMessage

if TYPE_CHECKING:
    from drachtio.sip import Message

__all__ = [
    "cdr",
    "nok",
    "ok",
    "ok_proxy_done",
    "ok_proxy_response",
    "ok_request_sent",
    "ok_response_sent",
    "sip_in_dialog",
    "sip_new_request",
]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def sip_new_request(
    data: bytes,
    proto: str,
    src_host: str,
    src_port: int,
    txn_id: str,
    local_host: str,
    local_port: int,
    parsed: Message | None = None,
) -> ControlMessage:
    """``<uuid>|sip|network|<bytes>|<proto>|<host>|<port>|<time>|<txnId>||<lhost>|<lport>|``"""
    return ControlMessage(
        [new_id(), "sip", "network", str(len(data)), proto, src_host, str(src_port),
         wire_time(), txn_id, "", local_host, str(local_port), ""],
        _text(data), parsed,
    )


def sip_in_dialog(
    data: bytes,
    source: str,
    proto: str,
    host: str,
    port: int | str,
    txn_id: str,
    dialog_id: str,
    parsed: Message | None = None,
) -> ControlMessage:
    """``<uuid>|sip|<source>|<bytes>|<proto>|<host>|<port>|<time>|<txnId>|<dialogId>|``"""
    return ControlMessage(
        [new_id(), "sip", source, str(len(data)), proto, host, str(port), wire_time(),
         txn_id, dialog_id, ""],
        _text(data), parsed,
    )


def ok(msg_id: str, *data: str) -> ControlMessage:
    """``<uuid>|response|<msgId>|OK[|data...]``"""
    return ControlMessage([new_id(), "response", msg_id, "OK", *data])


def nok(msg_id: str, reason: str, word: str = "NOK") -> ControlMessage:
    """``<uuid>|response|<msgId>|NOK|<reason>`` (the command parser says ``NO``)."""
    return ControlMessage([new_id(), "response", msg_id, word, reason.replace("|", "/")])


def ok_request_sent(
    msg_id: str, data: bytes, proto: str, local_host: str, local_port: int, txn_id: str,
    parsed: Message | None = None,
) -> ControlMessage:
    """``OK|application|<bytes>|<proto>|<lhost>|<lport>|<time>|<txnId>|Msg sent:|``"""
    return ControlMessage(
        [new_id(), "response", msg_id, "OK", "application", str(len(data)), proto, local_host,
         str(local_port), wire_time(), txn_id, "Msg sent:", ""],
        _text(data), parsed,
    )


def ok_response_sent(
    msg_id: str,
    data: bytes,
    proto: str,
    remote_host: str,
    remote_port: int,
    txn_id: str,
    dialog_id: str,
    parsed: Message | None = None,
) -> ControlMessage:
    """``OK|application|<bytes>|<proto>|<rhost>|<rport>|<time>|<txnId>|<dialogId>||Msg sent:|``"""
    return ControlMessage(
        [new_id(), "response", msg_id, "OK", "application", str(len(data)), proto, remote_host,
         str(remote_port), wire_time(), txn_id, dialog_id, "", "Msg sent:", ""],
        _text(data), parsed,
    )


def ok_proxy_response(
    msg_id: str, data: bytes, proto: str, host: str, port: int, parsed: Message | None = None
) -> ControlMessage:
    """``OK|network|<bytes>|<proto>|<host>|<port>|<time>|||continue`` (token 12 = continue)."""
    return ControlMessage(
        [new_id(), "response", msg_id, "OK", "network", str(len(data)), proto, host, str(port),
         wire_time(), "", "", "continue"],
        _text(data), parsed,
    )


def ok_proxy_done(msg_id: str) -> ControlMessage:
    return ControlMessage([new_id(), "response", msg_id, "OK", "done"])


def cdr(kind: str, source: str, data: bytes, extra: str | None = None,
        parsed: Message | None = None) -> ControlMessage:
    """``<uuid>|cdr:<kind>|<source>|<time>[|<role or reason>]``"""
    tokens = [new_id(), f"cdr:{kind}", source, wire_time()]
    if extra is not None:
        tokens.append(extra)
    return ControlMessage(tokens, _text(data), parsed)

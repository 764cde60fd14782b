"""What the engine remembers about transactions and dialogs.

The RFC 3261 machines (``drachtio.sip.transaction``) and dialog state
(``drachtio.sip.dialog.Dialog``) are sans-IO; these records bind them to the world: where to
send, which app owns them, their control-protocol ids, and the one heap timer that wakes
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drachtio.engine.apps import AppSession
    from drachtio.engine.engine import Engine
    from drachtio.engine.timers import TimerEntry
    from drachtio.engine.transport import LocalTransport, TcpConnection
    from drachtio.sip import Request, Response
    from drachtio.sip.dialog import Dialog
    from drachtio.sip.transaction import Ack2xxWaiter, TransactionKey

__all__ = ["ClientTxn", "Dest", "DialogRec", "ServerTxn"]


class Dest:
    """A next hop: local transport plus remote IP and port (and a TCP connection, if any)."""

    __slots__ = ("alternates", "conn", "host", "local", "port")

    def __init__(
        self, local: LocalTransport, host: str, port: int, conn: TcpConnection | None = None
    ) -> None:
        self.local = local
        self.host = host
        self.port = port
        self.conn = conn
        #: further hops for the same name (RFC 3263 SRV/A records), tried in order when
        #: this one fails (transport error, timeout, 503)
        self.alternates: tuple[Dest, ...] = ()

    @property
    def proto(self) -> str:
        return self.local.proto

    @property
    def reliable(self) -> bool:
        return self.local.proto != "udp"

    def __repr__(self) -> str:
        return f"<Dest {self.local.proto}/{self.host}:{self.port}>"


class ServerTxn:
    """A server transaction (a request we received) and its app-facing identity.

    The record is its own timer callback (``txn(now)`` wakes its machine): no bound method
    or partial per transaction for the collector to track. ``live`` turns false when it ends.
    """

    __slots__ = (
        "app_timer",
        "created",
        "dest",
        "dialog",
        "engine",
        "final",
        "id",
        "key",
        "live",
        "machine",
        "owner",
        "proxy",
        "rel",
        "request",
        "size",
        "timer",
        "to_tag",
    )

    def __init__(self, key: TransactionKey, machine: Any, request: Request, dest: Dest,
                 engine: Engine | None = None) -> None:
        self.engine = engine
        self.live = engine is not None
        self.key = key
        self.machine = machine
        self.request = request
        self.dest = dest
        self.id = ""
        self.owner: AppSession | None = None
        self.timer: TimerEntry | None = None
        self.app_timer: TimerEntry | None = None
        self.to_tag: str | None = None
        self.dialog: DialogRec | None = None
        self.final = 0  # status of the final response sent, 0 = none yet
        self.created = 0.0
        self.rel: Any = None  # reliable-provisional state (UAS 100rel)
        self.proxy: Any = None  # ProxyContext when the app proxied this request
        self.size = 0

    def __call__(self, now: float) -> None:
        if self.engine is not None:
            self.engine._wake_server(self, now)


class ClientTxn:
    """A client transaction (a request we sent) with callbacks for its outcome.

    Like ``ServerTxn`` it is its own timer callback. ``relay``: responses go to the app that
    sent the request (the engine's UAC path); otherwise to ``on_response`` if set. Timeouts
    and transport errors without a callback become a local 408/503 response.
    """

    __slots__ = (
        "alternates",
        "cancel",
        "cancelled",
        "dest",
        "dialog",
        "dialog_id",
        "early",
        "engine",
        "final",
        "id",
        "key",
        "live",
        "machine",
        "on_error",
        "on_response",
        "on_timeout",
        "owner",
        "provisional",
        "relay",
        "request",
        "timer",
        "timer_c",
        "user",
    )

    def __init__(self, key: TransactionKey, machine: Any, request: Request, dest: Dest,
                 engine: Engine | None = None) -> None:
        self.engine = engine
        self.live = engine is not None
        self.relay = False
        self.timer_c: TimerEntry | None = None  # app INVITEs: CANCEL without final answer
        self.key = key
        self.machine = machine
        self.request = request
        self.dest = dest
        self.id = ""
        self.owner: AppSession | None = None
        self.timer: TimerEntry | None = None
        self.on_response: Callable[[ClientTxn, Response, bool], None] | None = None
        self.on_timeout: Callable[[ClientTxn, str], None] | None = None
        self.on_error: Callable[[ClientTxn], None] | None = None
        self.dialog: DialogRec | None = None
        self.dialog_id = ""
        self.cancel: Request | None = None  # CANCEL waiting for the first provisional
        self.cancelled = False
        self.final = 0
        #: app INVITEs: tagged provisional responses by To tag until the final one, so a
        #: request from the callee in that early dialog can make the dialog (RFC 3261 12.1.2)
        self.early: dict[str, Response] | None = None
        self.user: Any = None  # owner-specific context (proxy branch ...)
        self.provisional = False  # a provisional response other than 100 arrived
        #: app requests to a DNS name: the next hops to fail over to (RFC 3263 4.3)
        self.alternates: list[Dest] = []

    def __call__(self, now: float) -> None:
        if self.engine is not None:
            self.engine._wake_client(self, now)

    def transport_error(self) -> None:
        """A send failed (TCP connect refused, connection lost...)."""
        if self.live and self.engine is not None:
            self.engine._client_transport_error(self)


class DialogRec:
    """A dialog plus what the engine needs around it."""

    __slots__ = (
        "ack",
        "ack_dest",
        "ack_waiter",
        "ack_waiter_dest",
        "ack_waiter_timer",
        "bye_after_ack",
        "dest",
        "dialog",
        "id",
        "invite_st",
        "invite_txn_id",
        "local_sdp",
        "owner",
        "pending_invite",
        "pending_update",
        "rel_pending",
        "resolved",
        "resolving",
        "st_delta",
        "st_refresher",
        "st_timer",
        "terminated",
        "uac_invite",
    )

    def __init__(self, dialog: Dialog, owner: AppSession | None, dest: Dest | None) -> None:
        self.dialog = dialog
        self.id = dialog.id
        self.owner = owner
        self.dest = dest  # fixed next hop (NAT / connection reuse), else None: resolve target
        self.ack_waiter: Ack2xxWaiter | None = None
        self.ack_waiter_timer: TimerEntry | None = None
        self.ack_waiter_dest: Dest | None = None
        self.invite_txn_id = ""  # app txn id of the INVITE whose 2xx awaits ACK
        self.invite_st: ServerTxn | None = None  # that INVITE's transaction
        self.uac_invite: ClientTxn | None = None  # UAC: the INVITE that created the dialog
        self.ack: Request | None = None  # our last ACK (re-sent on 2xx retransmissions)
        self.ack_dest: Dest | None = None
        self.bye_after_ack: str | None = None  # Reason text: BYE right after the app's ACK
        self.pending_invite: ClientTxn | None = None  # our re-INVITE in progress
        self.pending_update: ServerTxn | None = None  # their UPDATE, until the app answers
        self.rel_pending: dict[int, Any] = {}
        #: (hop URI, Dest) when the next hop is a DNS name that was resolved (RFC 3263)
        self.resolved: tuple[str, Dest] | None = None
        #: requests waiting for that resolution, in the order the app sent them
        self.resolving: list[tuple[Callable[[Dest], None], Callable[[str], None]]] | None = None
        self.terminated = False
        self.local_sdp: bytes = b""  # our last SDP (session refreshes re-offer it)
        self.st_timer: TimerEntry | None = None  # session timer (RFC 4028)
        self.st_delta = 0.0
        self.st_refresher = False

    @property
    def tags(self) -> tuple[str, str, str]:
        d = self.dialog
        return (d.call_id, d.local_tag, d.remote_tag)

"""Stateful proxy core (placeholder until the full implementation lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drachtio.engine import frames

if TYPE_CHECKING:
    from drachtio.engine.apps import AppSession
    from drachtio.engine.engine import Engine
    from drachtio.engine.records import ServerTxn
    from drachtio.engine.transport import Source
    from drachtio.sip import Request, Response


class ProxyCore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def command(self, session: AppSession, msg_id: str, tokens: list[str], sip: str | None) -> None:
        session.send(frames.nok(msg_id, "proxy not implemented yet"))

    def is_our_route(self, req: Request) -> bool:
        return False

    def in_dialog(self, req: Request, src: Source) -> None:
        return

    def cancel_unknown(self, req: Request, cst: ServerTxn) -> bool:
        return False

    def cancel(self, inv: ServerTxn, req: Request) -> None:
        return

    def stray_2xx(self, resp: Response, src: Source) -> bool:
        return False

    def app_closed(self, session: AppSession) -> None:
        return

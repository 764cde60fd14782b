"""``create_uas``: answer a received INVITE (200) or SUBSCRIBE (202) and return the Dialog.

The dialog is returned when the 200 is sent (RFC 3261: the UAS dialog exists then), not
when the ACK arrives. A CANCEL before that raises ``SipError(487)``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from drachtio.srf.dialog import Dialog, header_tag, uri_user_host
from drachtio.srf.errors import EngineError, SipError
from drachtio.srf.message import HeadersArg, normalize_headers
from drachtio.srf.request import Request
from drachtio.srf.response import Response, SentMessage
from drachtio.srf.state import (
    DialogDirection,
    DialogState,
    DialogStateInfo,
    StateEmitter,
    wants_state,
)

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.srf import Srf

__all__ = ["LocalSdp", "create_uas", "resolve_sdp"]

LocalSdp: TypeAlias = str | Callable[[], str | Awaitable[str]] | None


async def resolve_sdp(value: LocalSdp, what: str = "local_sdp") -> str | None:
    """A string, or a function returning a string or an awaitable of one."""
    if value is None or isinstance(value, str):
        return value
    if callable(value):
        out = value()
        if inspect.isawaitable(out):
            out = await out
        if out is not None and not isinstance(out, str):
            raise TypeError(f"{what} function must return a str, got {type(out).__name__}")
        return out
    raise TypeError(f"{what} must be a str or a function returning one, got {value!r}")


async def create_uas(
    srf: Srf,
    req: Request,
    res: Response,
    *,
    local_sdp: LocalSdp = None,
    body: LocalSdp = None,
    headers: HeadersArg = None,
    dialog_state_emitter: StateEmitter | None = None,
) -> Dialog:
    if not isinstance(req, Request) or req.source != "network":
        raise TypeError("create_uas needs the incoming request given to the handler")
    if not isinstance(res, Response) or res.req is not req:
        raise TypeError("create_uas needs the response object that belongs to req")
    if req.method not in ("INVITE", "SUBSCRIBE"):
        raise ValueError(f"create_uas answers INVITE or SUBSCRIBE, not {req.method}")
    hdrs = normalize_headers(headers)
    agent = req.agent
    assert agent is not None
    state: DialogStateInfo | None = None
    if req.method == "INVITE" and wants_state(dialog_state_emitter):
        assert dialog_state_emitter is not None
        state = DialogStateInfo(
            state=DialogState.TRYING,
            direction=DialogDirection.INITIATOR,
            aor=uri_user_host(req.get("From") or ""),
            call_id=req.call_id or "",
            local_tag=header_tag(req.get("From")),
        )
        dialog_state_emitter.emit("state_change", state)

    def set_state(s: DialogState) -> None:
        if state is not None and dialog_state_emitter is not None:
            state.state = s
            dialog_state_emitter.emit("state_change", state)

    if not req.has("Contact"):
        # the reference reports this and then answers 200 anyway; we stop here. Unless
        # the handler catches it, the default error handling answers 400.
        set_state(DialogState.REJECTED)
        raise SipError(400, "Missing Contact header")
    if req.canceled:
        set_state(DialogState.CANCELLED)
        raise SipError(487, "Request Terminated")

    loop = asyncio.get_running_loop()
    canceled: asyncio.Future[None] = loop.create_future()

    def on_cancel(_msg: Any) -> None:
        if not canceled.done():
            canceled.set_result(None)

    req.on("cancel", on_cancel)
    try:
        sdp = await resolve_sdp(local_sdp if local_sdp is not None else body)
        if req.canceled:
            raise SipError(487, "Request Terminated")
        if sdp and not any(n.lower() in ("content-type", "c") for n, _ in hdrs):
            hdrs.append(("Content-Type", "application/sdp"))
        made: list[Dialog] = []

        def on_sent(sent: SentMessage) -> None:
            # synchronously with the echo: the ACK (or a quick in-dialog request) that may
            # follow in the same read must find the dialog; it is queued until we return
            if req.canceled:
                return
            dlg = Dialog(srf, "uas", req=req, res=res, sent=sent, dialog_id=sent.dialog_id,
                         agent=agent)
            dlg.queue_requests = True
            srf.add_dialog(dlg)
            made.append(dlg)

        sending = res._send(200 if req.method == "INVITE" else 202, headers=hdrs, body=sdp,
                            on_sent=on_sent)
        waiters: set[asyncio.Future[Any]] = {sending, canceled}
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if canceled in done and not (sending in done and not sending.exception()):
            sending.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise SipError(487, "Request Terminated")
        try:
            sending.result()
        except EngineError:
            if req.canceled:
                raise SipError(487, "Request Terminated") from None
            raise
        if not made:
            raise SipError(487, "Request Terminated")
    except SipError as exc:
        set_state(DialogState.CANCELLED if exc.status == 487 else DialogState.REJECTED)
        raise
    except BaseException:
        set_state(DialogState.REJECTED)
        raise
    finally:
        req.off("cancel", on_cancel)
        if not canceled.done():
            canceled.cancel()

    dialog = made[0]
    if state is not None:
        state.local_tag = dialog.sip.local_tag
        state.remote_tag = dialog.sip.remote_tag
        set_state(DialogState.CONFIRMED)
        dialog._set_state_emitter(dialog_state_emitter, state)
    # requests that arrived meanwhile are handled once the application holds the dialog
    dialog.queue_requests = False
    return dialog

"""Attended transfer through a B2BUA: REFER with ``Replaces`` (drachtio-srf's test/refer.js).

Two apps, each on its own embedded engine in this process:

* ``refer-b2b`` (``create_b2b``) bridges every incoming call to ``target`` with
  ``srf.create_b2bua`` and hangs up the other leg when one side hangs up.
* ``refer-uas`` (``create_uas``) answers every call (echoing the offer). Calls come in pairs:
  when the second call of a pair is up, it sends a REFER on that call asking the B2BUA to
  connect its caller to the first call's caller::

      Refer-To: <sip:foo@bar?Replaces=<call 1 Call-ID>%3Bfrom-tag%3D<tag>%3Bto-tag%3D<tag>>

When the B2BUA gets the REFER (on call 2's B leg) it answers 202, finds the replaced dialog
(call 1's B leg) with ``srf.find_dialog_by_call_id_and_from_tag``, re-INVITEs each caller with
the other caller's SDP so the two talk to each other, reports the outcome in a NOTIFY
(``message/sipfrag``) and hangs up both B legs. The two callers then form one call; when
either hangs up, the other is hung up too::

    python examples/refer_transfer.py --refer-delay 0.5         # B2BUA on 127.0.0.1:5060
    sipp -sf tests/scenarios/uac-recv-reinvite.xml -m 1 -p 0 127.0.0.1:5060 &
    sipp -sf tests/scenarios/refer-uac-reinvite-then-bye.xml -m 1 -p 0 127.0.0.1:5060

(the first caller is transferred and waits for a BYE; the second is transferred and hangs
up, which hangs up the first). ``tests/e2e/refer/`` runs exactly this.

The same code runs against a remote drachtio server: replace ``srf.start(...)`` with
``srf.connect(host=..., port=9022, secret=...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from drachtio import SipError, Srf
from drachtio.embedded import engine_of
from drachtio.sip.errors import SipParseError
from drachtio.sip.headers import NameAddr
from drachtio.srf import Dialog, Request, Response
from drachtio.srf.emitter import spawn

log = logging.getLogger("refer_transfer")


# -- Replaces (RFC 3891) in a Refer-To URI (RFC 3515) --------------------------------------


@dataclass(frozen=True)
class Replaces:
    call_id: str
    from_tag: str
    to_tag: str | None = None


def refer_to_replacing(dlg: Dialog, target: str = "sip:foo@bar") -> str:
    """A Refer-To header asking to replace ``dlg``, a UAS dialog: its From tag is the far
    end's tag, its To tag ours. The Replaces value is URL-encoded inside the URI."""
    value = f"{dlg.sip.call_id};from-tag={dlg.sip.remote_tag};to-tag={dlg.sip.local_tag}"
    return f"<{target}?Replaces={quote(value, safe='')}>"


def parse_replaces(refer_to: str) -> Replaces | None:
    """The Replaces carried in a Refer-To header's URI; None when absent or malformed.

    Also accepts the form drachtio-srf's own test app sends, where the whole
    ``Replaces=...`` (not only its value) is URL-encoded."""
    try:
        headers = NameAddr.parse(refer_to).uri.headers
    except (SipParseError, ValueError, TypeError):
        headers = {}
        _, sep, rest = refer_to.partition("?")
        name, eq, text = unquote(rest.rstrip(" >")).partition("=")
        if sep and eq:
            headers[name] = text
    found = next((v for k, v in headers.items() if k.lower() == "replaces"), None)
    if not found:
        return None
    call_id, *params = found.split(";")
    tags = dict(p.strip().split("=", 1) for p in params if "=" in p)
    if not call_id.strip() or not tags.get("from-tag"):
        return None
    return Replaces(call_id.strip(), tags["from-tag"], tags.get("to-tag"))


# -- refer-b2b -----------------------------------------------------------------------------


def bridge(x: Dialog, y: Dialog) -> Callable[[], None]:
    """Make ``x`` and ``y`` one call: when one side hangs up, hang up the other. Returns
    the function that undoes this."""
    x.other, y.other = y, x

    def x_gone(*_: object) -> None:
        spawn(y.destroy())

    def y_gone(*_: object) -> None:
        spawn(x.destroy())

    x.on("destroy", x_gone)
    y.on("destroy", y_gone)

    def unbridge() -> None:
        x.off("destroy", x_gone)
        y.off("destroy", y_gone)
        if x.other is y:
            x.other = None
        if y.other is x:
            y.other = None

    return unbridge


@dataclass
class Transfer:
    """What the B2BUA did for one REFER (kept in ``srf.locals["transfers"]``)."""

    refer_call_id: str            # the B leg the REFER came in on
    replaces: Replaces
    replaced: Dialog | None = None  # the dialog found by Call-ID and From tag
    callers: tuple[Dialog, Dialog] | None = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


def create_b2b(target: str | None = None) -> Srf:
    srf = Srf(tags=["refer-b2b"])
    srf.locals["target"] = target
    srf.locals["transfers"] = []
    unbridges: dict[str, Callable[[], None]] = {}  # B leg id -> undo its bridge

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        try:
            uas, uac = await srf.create_b2bua(req, res, srf.locals["target"])
        except SipError as err:
            log.info("call %s not bridged: %s %s", req.call_id, err.status, err.reason)
            return
        log.info("bridged %s <-> %s", uas.sip.call_id, uac.sip.call_id)
        unbridges[uac.id] = bridge(uas, uac)
        uac.on("destroy", lambda *_: unbridges.pop(uac.id, None))
        uac.on("refer", lambda r, s: on_refer(uac, r, s))

    def on_refer(b2: Dialog, req: Request, res: Response) -> None:
        """A REFER on a B leg: connect our caller on this call to the caller of the call
        named in Replaces."""
        rep = parse_replaces(req.get("Refer-To") or "")
        if rep is None:
            res.send(400, "Refer-To without Replaces")
            return
        b1 = srf.find_dialog_by_call_id_and_from_tag(rep.call_id, rep.from_tag)
        a1, a2 = (b1.other if b1 else None), b2.other
        if b1 is None or b1 is b2 or a1 is None or a2 is None or (
                rep.to_tag is not None and rep.to_tag != b1.sip.remote_tag):
            res.send(404, "Replaced dialog not found")
            return
        res.send(202)
        # From now on the B legs are ours to hang up: their BYEs must not end the callers.
        for b in (b1, b2):
            unbridges.pop(b.id, lambda: None)()
        t = Transfer(b2.sip.call_id, rep, replaced=b1, callers=(a1, a2))
        srf.locals["transfers"].append(t)
        spawn(transfer(t, a1, b1, a2, b2))

    async def transfer(t: Transfer, a1: Dialog, b1: Dialog, a2: Dialog, b2: Dialog) -> None:
        frag = "SIP/2.0 200 OK"
        try:
            await a1.modify(a2.remote.sdp)
            await a2.modify(a1.remote.sdp)
            bridge(a1, a2)
            if not (a1.connected and a2.connected):
                raise RuntimeError("a caller hung up during the transfer")
            log.info("transferred: %s <-> %s", a1.sip.call_id, a2.sip.call_id)
        except Exception as exc:  # a caller refused or vanished: end everything
            t.error = repr(exc)
            frag = f"SIP/2.0 {getattr(exc, 'status', 500)} Transfer failed"
            log.warning("transfer of %s failed: %s", t.refer_call_id, exc)
        try:
            if b2.connected:
                await b2.request("NOTIFY", body=frag + "\r\n", headers={
                    "Event": "refer", "Content-Type": "message/sipfrag;version=2.0",
                    "Subscription-State": "terminated;reason=noresource"})
        except Exception as exc:
            log.info("NOTIFY on %s failed: %s", b2.sip.call_id, exc)
        ends = [b1.destroy(), b2.destroy()]
        if t.error is not None:
            ends += [a1.destroy(), a2.destroy()]
        await asyncio.gather(*ends, return_exceptions=True)
        t.done.set()

    return srf


# -- refer-uas -----------------------------------------------------------------------------


def create_uas(refer_delay: float = 2.0,
               refer_to: Callable[[Dialog], str] = refer_to_replacing) -> Srf:
    """Answers every call; the second call of each pair REFERs to replace the first
    (``refer_to(first_call)`` is the Refer-To header)."""
    srf = Srf(tags=["refer-uas"])
    srf.locals.update(answered=[], refer_to=[], refer_status=[], notifies=[], ended=[],
                      waiting=None)

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        dlg = await srf.create_uas(req, res, local_sdp=req.body)
        srf.locals["answered"].append(dlg)
        dlg.on("destroy", lambda _r, reason: srf.locals["ended"].append(
            (dlg.sip.call_id, reason)))

        def on_notify(nreq: Request, nres: Response) -> None:
            srf.locals["notifies"].append((dlg.sip.call_id, nreq.body))
            nres.send(200)

        dlg.on("notify", on_notify)
        first: Dialog | None = srf.locals["waiting"]
        if first is None or not first.connected:
            srf.locals["waiting"] = dlg
            return
        srf.locals["waiting"] = None
        spawn(refer(dlg, refer_to(first)))

    async def refer(dlg: Dialog, header: str) -> None:
        await asyncio.sleep(refer_delay)
        srf.locals["refer_to"].append(header)
        try:
            res = await dlg.request("REFER", headers={"Refer-To": header})
        except Exception as exc:
            log.warning("REFER on %s failed: %s", dlg.sip.call_id, exc)
            srf.locals["refer_status"].append(None)
            return
        log.info("REFER on %s: %s %s", dlg.sip.call_id, res.status, res.reason)
        srf.locals["refer_status"].append(res.status)

    return srf


# -- running both --------------------------------------------------------------------------


async def start_apps(b2b_contact: str = "sip:127.0.0.1:5060;transport=udp",
                     uas_contact: str = "sip:127.0.0.1:0;transport=udp",
                     refer_delay: float = 2.0,
                     refer_to: Callable[[Dialog], str] = refer_to_replacing,
                     **engine_opts: Any) -> tuple[Srf, Srf]:
    """Start refer-uas, then refer-b2b pointing at it; returns ``(b2b, uas)``."""
    uas = create_uas(refer_delay, refer_to)
    await uas.start(contacts=[uas_contact], **engine_opts)
    engine = engine_of(uas)
    assert engine is not None
    b2b = create_b2b(f"sip:uas@127.0.0.1:{engine.sip_port('udp')}")
    try:
        await b2b.start(contacts=[b2b_contact], **engine_opts)
    except BaseException:
        await uas.disconnect()
        raise
    return b2b, uas


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contact", default="sip:127.0.0.1:5060;transport=udp",
                    help="where the B2BUA listens (callers dial this)")
    ap.add_argument("--uas-contact", default="sip:127.0.0.1:0;transport=udp")
    ap.add_argument("--refer-delay", type=float, default=2.0,
                    help="seconds between the second call's answer and its REFER")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    b2b, uas = await start_apps(args.contact, args.uas_contact, args.refer_delay)
    print(f"refer-b2b on {args.contact}; Ctrl-C to stop")
    try:
        await asyncio.Event().wait()
    finally:
        await b2b.disconnect()
        await uas.disconnect()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass

"""A B2BUA: bridge every incoming call to one destination (``srf.create_b2bua``).

Copies the caller's ``Subject`` and ``X-*`` style headers to the callee, relays re-INVITEs
between the legs, and hangs up the other leg when either side hangs up::

    python examples/b2bua_simple.py --port 9022 --secret cymru --to sip:bob@10.0.0.2
    python examples/b2bua_simple.py --listen 9031 --secret cymru --to sip:bob@10.0.0.2

The second form waits for outbound connections (the engine dials the application once
per call, see ``srf.listen``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from drachtio import SipError, Srf
from drachtio.srf import Dialog, Request, Response
from drachtio.srf.emitter import spawn

log = logging.getLogger("b2bua")


def relay_reinvites(src: Dialog, dst: Dialog) -> None:
    """A re-INVITE on one leg becomes a re-INVITE on the other; its answer goes back."""

    async def on_modify(req: Request, res: Response) -> None:
        try:
            sdp = await dst.modify(req.body or None)
        except SipError as err:
            res.send(err.status, err.reason)
            return
        res.send(200, body=sdp if isinstance(sdp, str) else None,
                 headers={"Content-Type": "application/sdp"} if sdp else None)

    src.on("modify", on_modify)


def create_app(to: str) -> Srf:
    srf = Srf()
    srf.locals["calls"] = []  # (A call-id, B call-id, who hung up) of finished calls

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        try:
            uas, uac = await srf.create_b2bua(
                req, res, to,
                proxy_request_headers=["Subject", "X-Account"],
                headers={"X-Bridged-By": "drachtio-python"},
            )
        except SipError as err:
            log.info("call to %s failed: %s %s", to, err.status, err.reason)
            return
        log.info("bridged %s <-> %s", uas.sip.call_id, uac.sip.call_id)
        relay_reinvites(uas, uac)
        relay_reinvites(uac, uas)

        def hung_up(who: str, other: Dialog) -> None:
            srf.locals["calls"].append((uas.sip.call_id, uac.sip.call_id, who))
            spawn(other.destroy())

        uas.on("destroy", lambda *_: hung_up("caller", uac))
        uac.on("destroy", lambda *_: hung_up("callee", uas))

    return srf


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022, help="engine admin port (connect mode)")
    ap.add_argument("--listen", type=int, help="accept outbound connections on this port")
    ap.add_argument("--secret", default="cymru")
    ap.add_argument("--to", required=True, help="where to send the calls (SIP URI)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    srf = create_app(args.to)
    if args.listen:
        await srf.listen(host=args.host, port=args.listen, secret=args.secret)
    else:
        await srf.connect(host=args.host, port=args.port, secret=args.secret)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())

"""A B2BUA that rewrites the SDP on each leg (where a media relay would plug in), adds a
header to every response towards the caller, and handles late-offer (3pcc) callers.

``local_sdp_b`` turns the caller's SDP into the one offered to the callee (in a late-offer
call: the caller's answer, from its ACK, into the callee's ACK); ``local_sdp_a`` turns the
callee's SDP into the one the caller gets. Both may be coroutines (ask a media server)::

    python examples/b2bua_media_anchor.py --port 9022 --to sip:bob@10.0.0.2 --relay 10.0.0.9
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re

from drachtio import SipError, Srf
from drachtio.srf import IncomingResponse, Request, Response
from drachtio.srf.emitter import spawn

log = logging.getLogger("b2bua-media")


def anchor(sdp: str, address: str) -> str:
    """Point the connection address(es) of ``sdp`` at ``address``."""
    return re.sub(r"(?m)^c=IN IP4 \S+", f"c=IN IP4 {address}", sdp)


def create_app(to: str, relay: str) -> Srf:
    srf = Srf()

    async def towards_callee(sdp: str) -> str:
        await asyncio.sleep(0)  # e.g. allocate a relay port here
        return anchor(sdp, relay)

    async def towards_caller(sdp: str, res: IncomingResponse) -> str:
        await asyncio.sleep(0)
        return anchor(sdp, relay)

    def caller_headers(res: IncomingResponse, copied: dict[str, str]) -> dict[str, str]:
        return {"X-Callee-Status": str(res.status)}

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        try:
            uas, uac = await srf.create_b2bua(
                req, res, to,
                local_sdp_b=towards_callee, local_sdp_a=towards_caller,
                response_headers=caller_headers,
                proxy_response_headers=["all", "-Server", "-User-Agent"],
            )
        except SipError as err:
            log.info("not connected: %s", err)
            return
        uas.on("destroy", lambda *_: spawn(uac.destroy()))
        uac.on("destroy", lambda *_: spawn(uas.destroy()))

    return srf


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    ap.add_argument("--to", required=True)
    ap.add_argument("--relay", default="127.0.0.1", help="media relay address for the SDP")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    srf = create_app(args.to, args.relay)
    await srf.connect(host=args.host, port=args.port, secret=args.secret)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())

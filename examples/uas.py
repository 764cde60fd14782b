"""Srf.create_uas: answer incoming calls and wait for the caller to hang up.

User guide, "Srf#createUAS"::

    python examples/uas.py --port 9022 --secret cymru
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from drachtio import Srf
from drachtio.srf import Request, Response

log = logging.getLogger("uas")

SDP = (
    "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 9002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)


def create_app(local_sdp: str = SDP) -> Srf:
    srf = Srf()
    srf.locals["calls"] = []  # (call-id, hangup reason) of finished calls

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        try:
            dialog = await srf.create_uas(req, res, local_sdp=local_sdp, headers={
                "X-My-Header": "custom headers too!",
            })
        except Exception as err:
            log.info("Error creating UAS dialog: %s", err)
            return
        log.info("successfully created UAS dialog")

        def on_destroy(bye: Request, reason: str) -> None:
            log.info("remote party hung up (%s)", reason)
            srf.locals["calls"].append((dialog.sip.call_id, reason))

        dialog.on("destroy", on_destroy)

    return srf


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    args = ap.parse_args(argv)
    srf = create_app()
    await srf.connect(host=args.host, port=args.port, secret=args.secret)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())

"""Sending SIP requests: an OPTIONS ping, and an INVITE the application ACKs itself.

User guide, "Sending SIP requests" and "Handling responses". The server fills in Call-ID,
CSeq, Via, tags and Contact; ``localhost`` in From/Contact becomes its SIP address::

    python examples/sending_requests.py --port 9022 --secret cymru sip:bob@10.0.0.5
    python examples/sending_requests.py --invite ... sip:bob@10.0.0.5
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable

from drachtio import Srf
from drachtio.srf import IncomingResponse

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)


async def send_options(srf: Srf, uri: str) -> int:
    req = await srf.request(uri, method="OPTIONS", headers={"User-Agent": "my great app/1.0"})
    req.on("response", lambda res, ack: print(f"got a {res.status} to my OPTIONS request"))
    res = await req.response()
    return res.status


async def send_invite(srf: Srf, uri: str) -> int:
    req = await srf.request(uri, method="INVITE", body=SDP, headers={
        "From": "<sip:5083084809@localhost>",  # the server substitutes its address
        "To": f"<{uri}>",
    })

    def on_response(res: IncomingResponse, ack: Callable[[], object]) -> None:
        if res.status == 200:
            ack()  # success! for a 2xx the application sends the ACK

    req.on("response", on_response)
    res = await req.response()
    if res.status == 200:
        # hang up again right away: BYE inside the dialog the 200 created
        bye = await srf.request(method="BYE", dialog_id=res.dialog_id)
        await bye.response()
    return res.status


async def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("uri")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    ap.add_argument("--invite", action="store_true")
    args = ap.parse_args(argv)
    srf = Srf()
    await srf.connect(host=args.host, port=args.port, secret=args.secret)
    try:
        status = await (send_invite if args.invite else send_options)(srf, args.uri)
        print(f"final status {status}")
        return status
    finally:
        await srf.disconnect()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    raise SystemExit(0 if asyncio.run(main()) < 300 else 1)

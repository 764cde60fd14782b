"""Srf.create_uac: place a call, report progress, hang up after a while.

User guide, "Srf#createUAC"::

    python examples/uac.py --port 9022 --secret cymru --hold 5 sip:bob@10.0.0.5
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from drachtio import SipError, Srf

SDP = (
    "v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 9004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)


async def call(srf: Srf, uri: str, hold: float = 1.0) -> str:
    """Call ``uri``; returns how the call ended."""
    try:
        dialog = await srf.create_uac(
            uri,
            local_sdp=SDP,
            calling_number="+15083084809",   # => From: sip:+15083084809@<server address>
            called_number="+16173333456",
            headers={"Subject": "outbound call"},
            on_request=lambda req: print(f"sent {req.method} with Call-ID {req.call_id}"),
            on_provisional=lambda res: print(f"got provisional {res.status}"),
        )
    except SipError as err:
        print(f"INVITE failed with final status {err.status}")
        return f"failed:{err.status}"
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_destroy(bye: object, reason: str) -> None:
        if not ended.done():
            ended.set_result("remote")

    dialog.on("destroy", on_destroy)
    try:
        return await asyncio.wait_for(asyncio.shield(ended), hold)
    except TimeoutError:
        await dialog.destroy()
        return "local"


async def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("uri")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    ap.add_argument("--hold", type=float, default=1.0, help="seconds before hanging up")
    args = ap.parse_args(argv)
    srf = Srf()
    await srf.connect(host=args.host, port=args.port, secret=args.secret)
    try:
        outcome = await call(srf, args.uri, args.hold)
        print(f"call ended: {outcome}")
        return outcome
    finally:
        await srf.disconnect()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())

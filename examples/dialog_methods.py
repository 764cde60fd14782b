"""Dialog methods: modify (hold / unhold / new SDP), request inside the dialog, destroy.

User guide, "More on SIP Dialogs", "Dialog properties" and "Dialog methods". Places a call,
puts it on hold, takes it off hold, sends an INFO, then hangs up::

    python examples/dialog_methods.py --port 9022 --secret cymru sip:bob@10.0.0.5
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from drachtio import Srf

SDP = (
    "v=0\r\no=- 4 4 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 9006 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)


async def exercise(srf: Srf, uri: str) -> list[str]:
    steps: list[str] = []
    dlg = await srf.create_uac(uri, local_sdp=SDP)
    steps.append(f"connected: call-id={dlg.sip.call_id} local-tag={dlg.sip.local_tag} "
                 f"remote-tag={dlg.sip.remote_tag}")
    await dlg.modify("hold")  # the SDP is generated for you
    steps.append(f"hold: on_hold={dlg.on_hold}")
    await dlg.modify("unhold")
    steps.append(f"unhold: on_hold={dlg.on_hold}")
    res = await dlg.request("INFO", headers={"Content-Type": "application/dtmf-relay"},
                            body="Signal=5\r\nDuration=160\r\n")
    steps.append(f"info: {res.status}")
    bye = await dlg.destroy()
    steps.append(f"destroyed: {bye.method if bye else None} connected={dlg.connected}")
    return steps


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("uri")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    args = ap.parse_args(argv)
    srf = Srf()
    await srf.connect(host=args.host, port=args.port, secret=args.secret)
    try:
        for step in await exercise(srf, args.uri):
            print(step)
    finally:
        await srf.disconnect()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())

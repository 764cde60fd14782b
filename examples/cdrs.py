"""Call detail records: print the attempt / start / stop records of every call.

User guide, "Call Detail Records (CDRs)". The server sends CDRs only to apps that ask for
them (``srf.on("cdr:...")`` does), and only if it is configured to produce them::

    python examples/cdrs.py --port 9022 --secret cymru
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from drachtio import Srf
from drachtio.srf import SipMessage


def create_app(records: list[tuple[str, ...]] | None = None) -> Srf:
    srf = Srf()
    out = records if records is not None else []
    srf.locals["cdrs"] = out

    @srf.on("cdr:attempt")
    def attempt(source: str, time: str, msg: SipMessage) -> None:
        # source: 'network' or 'application'; msg: the INVITE
        print(f"{msg.get('Call-Id')}: got attempt record from {source} at {time}")
        out.append(("attempt", msg.get("Call-Id") or "", source))

    @srf.on("cdr:start")
    def start(source: str, time: str, role: str, msg: SipMessage) -> None:
        # role: 'uac', 'uas', 'proxy-uac' or 'proxy-uas'; msg: the 200 OK
        print(f"{msg.get('Call-Id')}: got start record from {source} at {time} role {role}")
        out.append(("start", msg.get("Call-Id") or "", role))

    @srf.on("cdr:stop")
    def stop(source: str, time: str, reason: str, msg: SipMessage) -> None:
        # reason: 'call-rejected', 'call-canceled', 'normal-release', 'session-expired', ...
        print(f"{msg.get('Call-Id')}: got end record from {source} at {time} reason {reason}")
        out.append(("stop", msg.get("Call-Id") or "", reason))

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

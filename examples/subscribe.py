"""A SUBSCRIBE dialog, both ways.

User guide, "Srf#createUAC" (method SUBSCRIBE) and "Dialog events" (a NOTIFY with
Subscription-State: terminated ends a SUBSCRIBE dialog). As a notifier (default) it
accepts SUBSCRIBEs, sends one NOTIFY, then ends the subscription; with ``--subscribe URI``
it subscribes and waits for the terminating NOTIFY::

    python examples/subscribe.py --port 9022 --secret cymru
    python examples/subscribe.py --port 9022 --secret cymru --subscribe sip:alice@10.0.0.5
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from drachtio import SipError, Srf
from drachtio.srf import Request, Response

log = logging.getLogger("subscribe")

PIDF = ('<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
        'entity="sip:resource@example.com"><tuple id="t1"><status><basic>open</basic>'
        '</status></tuple></presence>')


def create_notifier() -> Srf:
    srf = Srf()
    srf.locals["ended"] = []

    @srf.subscribe
    async def on_subscribe(req: Request, res: Response) -> None:
        dlg = await srf.create_uas(req, res, headers={"Expires": req.get("Expires") or "900"})
        event = req.get("Event") or "presence"
        await dlg.request("NOTIFY", headers={
            "Subscription-State": "active;expires=900", "Event": event,
            "Content-Type": "application/pidf+xml"}, body=PIDF)
        # NOTIFY with Subscription-State: terminated ends the last subscription: the
        # dialog is over (dlg.destroy() would do the same in one call)
        dlg.on("destroy", lambda _req, why: srf.locals["ended"].append(why))
        await dlg.request("NOTIFY", headers={
            "Subscription-State": "terminated;reason=noresource", "Event": event})

    return srf


async def subscribe(srf: Srf, uri: str, timeout: float = 10.0) -> str:
    try:
        dlg = await srf.create_uac(uri, method="SUBSCRIBE", headers={
            "Event": "presence", "Expires": "60", "Accept": "application/pidf+xml"})
    except SipError as err:
        return f"failed:{err.status}"
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    def on_notify(req: Request, res: Response) -> None:
        log.info("NOTIFY %s", req.get("Subscription-State"))
        res.send(200)

    def on_destroy(req: Request, why: str) -> None:
        if not ended.done():
            ended.set_result(why)

    dlg.on("notify", on_notify)
    dlg.on("destroy", on_destroy)
    return await asyncio.wait_for(ended, timeout)


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    ap.add_argument("--subscribe", metavar="URI")
    args = ap.parse_args(argv)
    if args.subscribe:
        srf = Srf()
        await srf.connect(host=args.host, port=args.port, secret=args.secret)
        print(await subscribe(srf, args.subscribe))
        await srf.disconnect()
        return
    srf = create_notifier()
    await srf.connect(host=args.host, port=args.port, secret=args.secret)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())

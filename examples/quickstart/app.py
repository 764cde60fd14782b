"""Quick start: a B2BUA in front of a small UAS, in one file.

``srf`` is the B2BUA. Every INVITE it receives is bridged with ``srf.create_b2bua``: it calls
``target`` (the B leg, ``srf.locals["target"]``, default ``sip:uas@127.0.0.1:5062``), relays
the ringing, answers the caller with the B side's SDP (or relays B's failure), and when either
side hangs up, hangs up the other.

``uas`` is the small UAS standing behind it: it rings briefly, then answers with an SDP
answer built from the offer, and answers OPTIONS.

Run them (each on its own engine, in this one process) with ``python examples/quickstart/app.py``,
or the B2BUA alone with ``drachtio run examples/quickstart/app.py --contact sip:127.0.0.1:5060``.
``make demo`` places real calls through both and draws each call as a ladder.

The same code runs against a remote drachtio server: replace ``srf.start(...)`` with
``srf.connect(host=..., port=9022, secret=...)``.
"""

from __future__ import annotations

import asyncio
import logging
import os

from drachtio import SipError, Srf
from drachtio.sip.sdp import parse_sdp

log = logging.getLogger("quickstart")

# -- the B2BUA ----------------------------------------------------------------------------

srf = Srf()
srf.locals["target"] = os.environ.get("QUICKSTART_TARGET", "sip:uas@127.0.0.1:5062")


@srf.invite
async def bridge(req, res):
    """A leg = the caller (we are its UAS); B leg = our call to the target (we are its UAC).
    Provisional responses and a failure of B are relayed to A by ``create_b2bua``."""
    try:
        a_leg, b_leg = await srf.create_b2bua(
            req, res, srf.locals["target"],
            headers={"X-Forwarded-For-Call": req.call_id},
        )
    except SipError as err:  # B refused (A got the same status) or A cancelled
        log.info("call not bridged: %s %s", err.status, err.reason)
        return
    # whoever hangs up first, the other leg follows
    a_leg.on("destroy", lambda *_: asyncio.ensure_future(b_leg.destroy()))
    b_leg.on("destroy", lambda *_: asyncio.ensure_future(a_leg.destroy()))


@srf.options
def keepalive(req, res):
    res.send(200)


# -- the small UAS behind it -----------------------------------------------------------------

uas = Srf()
RING_SECONDS = float(os.environ.get("QUICKSTART_RING", "0.1"))


def answer_for(offer: str) -> str:
    """An SDP answer: same media lines as the offer, our address, first codec only."""
    desc = parse_sdp(offer)
    if not desc.media:
        raise ValueError("no media in the offer")
    lines = ["v=0", "o=uas 1 1 IN IP4 127.0.0.1", "s=quickstart", "c=IN IP4 127.0.0.1", "t=0 0"]
    for i, m in enumerate(desc.media):
        codec = m.formats[0] if m.formats else "0"
        lines += [f"m={m.type} {30000 + 2 * i} {m.proto} {codec}", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


@uas.invite
async def answer(req, res):
    try:
        sdp = answer_for(req.body)
    except ValueError:  # no offer, or one we cannot read
        res.send(488)
        return
    res.send(180)
    await asyncio.sleep(RING_SECONDS)
    await uas.create_uas(req, res, local_sdp=sdp)


@uas.options
def uas_keepalive(req, res):
    res.send(200)


# -- running both -------------------------------------------------------------------------------


async def main() -> None:
    await uas.start(contacts=["sip:127.0.0.1:5062;transport=udp"])
    await srf.start(contacts=["sip:127.0.0.1:5060;transport=udp,tcp"])
    print("B2BUA on 127.0.0.1:5060 -> UAS on 127.0.0.1:5062; Ctrl-C to stop")
    try:
        await asyncio.Event().wait()
    finally:
        await srf.disconnect()
        await uas.disconnect()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass

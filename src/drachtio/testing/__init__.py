"""Test SIP applications without a network: an in-process engine, phones, controllable time.

```python
from drachtio.testing import SipTestbed

async def test_answers(sip):                      # the pytest fixture (drachtio.testing.plugin)
    alice = await sip.phone("alice")
    call = await alice.invite(sip.uri("bob"), sdp=OFFER)
    assert call.status == 200
    await call.hangup()
```

* ``SipTestbed``: the app's ``Srf`` on an embedded engine, joined to a ``FakeNetwork``, with a
  ``VirtualClock`` and a ``SipTrace`` (rendered by ``render_ladder``).
* ``UserAgent``: a scriptable phone (caller and callee roles) built on the package's own
  transaction and dialog state machines; ``Call``, ``IncomingCall``, ``ServerRequest``.
* ``started_srf(mode)``: an ``Srf`` on an in-process engine, ``"remote"`` (control protocol
  over TCP) or ``"embedded"``, for tests that run in both modes.
* ``drachtio.testing.plugin``: the pytest fixtures (``sip``, ``sip_app``, ``srf_mode``,
  ``connected_srf``, ``srf_engine``).
"""

from drachtio.testing.clock import VirtualClock
from drachtio.testing.harness import SipTestbed, SrfEnv, started_srf
from drachtio.testing.ladder import render_ladder
from drachtio.testing.network import Endpoint, FakeNetwork, Packet
from drachtio.testing.trace import SipTrace, TraceEntry
from drachtio.testing.ua import Call, IncomingCall, ServerRequest, UserAgent

__all__ = [
    "Call",
    "Endpoint",
    "FakeNetwork",
    "IncomingCall",
    "Packet",
    "ServerRequest",
    "SipTestbed",
    "SipTrace",
    "SrfEnv",
    "TraceEntry",
    "UserAgent",
    "VirtualClock",
    "render_ladder",
    "started_srf",
]

"""Layer 5: the signaling resource framework (``Srf``), a Python drachtio-srf.

```python
from drachtio import Srf, SipError

srf = Srf()

@srf.invite
async def on_invite(req, res):
    dlg = await srf.create_uas(req, res, local_sdp=my_sdp)
    dlg.on("destroy", lambda bye, reason: print("caller hung up"))

await srf.connect(host="127.0.0.1", port=9022, secret="cymru")
```
"""

from drachtio.srf.agent import Agent
from drachtio.srf.b2bua import B2BUA
from drachtio.srf.channel import EngineChannel
from drachtio.srf.dialog import Dialog, DialogError, DialogParty, DialogSip, ModifyOffer
from drachtio.srf.emitter import Emitter
from drachtio.srf.errors import (
    AuthenticationError,
    DrachtioError,
    EngineError,
    NotConnectedError,
    SipError,
)
from drachtio.srf.listen import ListenServer, end_session
from drachtio.srf.message import SipMessage
from drachtio.srf.proxy import ProxyResult
from drachtio.srf.request import Request
from drachtio.srf.response import IncomingResponse, Response, SentMessage
from drachtio.srf.srf import METHODS, Srf
from drachtio.srf.state import DialogDirection, DialogState, DialogStateInfo
from drachtio.srf.uac import PendingAck
from drachtio.wire.client import ReconnectPolicy, ServerInfo

__all__ = [
    "B2BUA",
    "METHODS",
    "Agent",
    "AuthenticationError",
    "Dialog",
    "DialogDirection",
    "DialogError",
    "DialogParty",
    "DialogSip",
    "DialogState",
    "DialogStateInfo",
    "DrachtioError",
    "Emitter",
    "EngineChannel",
    "EngineError",
    "IncomingResponse",
    "ListenServer",
    "ModifyOffer",
    "NotConnectedError",
    "PendingAck",
    "ProxyResult",
    "ReconnectPolicy",
    "Request",
    "Response",
    "SentMessage",
    "ServerInfo",
    "SipError",
    "SipMessage",
    "Srf",
    "end_session",
]

"""Layer 3: the SIP engine (the "drachtio server" role).

``Engine(EngineConfig(...))`` listens on SIP transports, runs transactions and dialogs, and
serves apps over the drachtio control protocol (TCP port 9022) or in-process
(``engine.attach(link)``). ``python -m drachtio.server`` runs it standalone.
"""

from drachtio.engine.apps import AppLink, AppSession
from drachtio.engine.config import EngineConfig
from drachtio.engine.engine import Engine

__all__ = ["AppLink", "AppSession", "Engine", "EngineConfig"]

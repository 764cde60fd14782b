"""drachtio for Python: SIP application framework (`Srf`) and SIP engine.

The sans-IO core (`drachtio.sip`) imports the standard library only; the framework is
imported lazily so that `import drachtio.sip` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["SipError", "Srf", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf import SipError, Srf


def __getattr__(name: str) -> Any:
    if name in ("Srf", "SipError"):
        import drachtio.srf as srf

        return getattr(srf, name)
    raise AttributeError(f"module 'drachtio' has no attribute {name!r}")

"""Layer 4: the drachtio control protocol (app <-> engine)."""

from drachtio.wire.codec import ControlMessage, FrameDecoder, FramingError, encode, new_id

__all__ = ["ControlMessage", "FrameDecoder", "FramingError", "encode", "new_id"]

"""Collection: one collector execution per node -> one stream -> a Snapshot (raw evidence)."""

from .snapshot import CommandOutput, Snapshot, SnapshotError
from .stream import StreamError, decode_stream, new_nonce, collector_script

__all__ = [
    "CommandOutput", "Snapshot", "SnapshotError", "StreamError",
    "decode_stream", "new_nonce", "collector_script",
]

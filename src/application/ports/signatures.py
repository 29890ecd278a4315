from typing import Protocol


class Signatures(Protocol):
    """Signing with this user's identity key, and checking others' signatures.

    Every signature is made over ``context + data``: a context names what is signed (a group
    change, a group message) so that a signature made for one can never pass for another.
    Contexts are part of the wire protocol (docs/protocol.md).
    """

    def sign(self, context: bytes, data: bytes) -> bytes:
        """This user's signature of ``data`` in ``context``."""
        ...

    def verify(self, key: bytes, context: bytes, data: bytes, signature: bytes) -> bool:
        """Whether the identity key ``key`` signed ``data`` in ``context``; ``False`` for
        anything malformed (sizes, a key nobody can hold), never an exception."""
        ...

"""SHA-256, the platform's one content hash: a delivered file's identity in the drop ledger (a drop id carries
its first hex digits) and in the simulator's manifest, and the stable draws of the reference geography.
(Keyed pseudonyms are HMAC-SHA256, in ``gmoda_assets.lib.pseudonymise``.)"""

import hashlib
from collections.abc import Iterable


class Sha256:
    """The SHA-256 and length of content fed to it in chunks, as it is read."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def sha256_of(chunks: Iterable[bytes]) -> Sha256:
    """The hash of the content ``chunks`` yield, in order (``[content]`` for content held whole)."""
    digest = Sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest

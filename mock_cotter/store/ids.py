"""Ids and secrets that a seed makes reproducible."""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid

_ALPHABET = string.ascii_letters + string.digits


class Ids:
    """Draws ids and secrets from a hash of (seed, API key, counter).

    Each namespace has its own counter, so its ids do not depend on what
    other API keys did, and the counter is the only state a persistent
    store has to keep to carry on the same sequence after a restart.
    """

    def __init__(self, seed: int, api_key: str, counter: int = 0):
        self.seed = seed
        self._prefix = f"{seed}:{api_key}:".encode()
        self.counter = counter

    @staticmethod
    def resolve_seed(seed: int | None) -> int:
        """The seed to use: the configured one, or a random one."""
        return secrets.randbits(63) if seed is None else seed

    def _draw(self) -> bytes:
        self.counter += 1
        return hashlib.sha256(self._prefix + str(self.counter).encode()).digest()

    def uuid(self) -> str:
        return str(uuid.UUID(bytes=self._draw()[:16], version=4))

    def secret(self, length: int = 40) -> str:
        chars: list[str] = []
        while len(chars) < length:
            # 248 = 4 * 62: keeps every character equally likely.
            chars.extend(_ALPHABET[b % 62] for b in self._draw() if b < 248)
        return "".join(chars[:length])

    def integer(self, bits: int = 32) -> int:
        return int.from_bytes(self._draw(), "big") >> (256 - bits)

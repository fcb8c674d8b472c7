"""Verified bearer tokens, cached until they expire."""

from __future__ import annotations

import time
from collections import OrderedDict

import jwt

from fupin_kit.auth import Caller, TokenVerifier


class VerifiedTokens:
    """Verified bearer tokens kept until they expire, so a bank's repeated calls with the same
    token skip the signature check. Keyed by the whole token: nothing is trusted that was not
    verified once; a token is never served past its ``exp``."""

    def __init__(self, verifier: TokenVerifier, size: int) -> None:
        self.verifier = verifier
        self.size = size
        self._entries: OrderedDict[str, tuple[Caller, float]] = OrderedDict()

    def caller(self, token: str) -> Caller:
        entry = self._entries.get(token)
        if entry is not None and entry[1] > time.time():
            return entry[0]
        caller = self.verifier.verify(token)
        if self.size:
            # ``exp`` is a required claim: the token was just verified with it.
            expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
            self._entries[token] = (caller, expires)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return caller

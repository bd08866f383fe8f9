"""Key life (SPEC §4 ``key.add`` / ``key.revoke``): registration, rotation and compromise.

The oracle's model of the hub changes only when the hub acknowledges: a key counts as
registered from its 201 (or a 409 ``kid_collision``, which for our own freshly made key can
only mean an earlier attempt of ours went through), and as revoked from the 200.

- Rotation: the new key is registered first and only then signs; the old key stays
  registered and unrevoked, so the codes already in circulation stay valid until they expire
  (its ``naf`` bounds how long it could sign; it signs nothing new).
- Compromise: a new key is registered, the leaked key revoked, and the issuer re-issues the
  codes its residents hold. From the revocation's 200 every code under the leaked key, old or
  forged, is ``KEY_REVOKED``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from provinces_sim.errors import HubRefused, HubUnreachable
from provinces_sim.hub import HubApi
from provinces_sim.issuer import CodeKey, Issuer, KeyState
from provinces_sim.oracle import HubModel, KeyFact

_T = TypeVar("_T")
_ATTEMPTS = 4
_PAUSE = 0.5


async def _patiently(call: Callable[[], Awaitable[_T]]) -> _T:
    """Retry a management call the hub did not answer or was too busy for."""
    for attempt in range(_ATTEMPTS):
        try:
            return await call()
        except HubUnreachable:
            if attempt == _ATTEMPTS - 1:
                raise
        except HubRefused as exc:
            if exc.status != 503 or attempt == _ATTEMPTS - 1:
                raise
        await asyncio.sleep(_PAUSE)
    raise AssertionError("unreachable")  # the loop returns or raises


class KeyKeeper:
    """Registers and revokes keys for the issuers, and keeps the hub model in step."""

    def __init__(self, hub: HubApi, model: HubModel, clock: Callable[[], float]) -> None:
        self._hub = hub
        self._model = model
        self._clock = clock
        self.added = 0
        self.already_registered = 0
        self.revoked = 0

    async def register(self, issuer: Issuer, code_key: CodeKey) -> None:
        key = code_key.key

        async def add() -> None:
            message = issuer.message(
                "key.add",
                int(self._clock()),
                alg=key.alg,
                spki=key.spki,
                nbf=code_key.nbf,
                naf=code_key.naf,
            )
            try:
                await self._hub.manage(issuer.iss, "key.add", message)
                self.added += 1
            except HubRefused as exc:
                if exc.error != "kid_collision":
                    raise
                self.already_registered += 1

        await _patiently(add)
        self._model.keys[key.kid] = KeyFact(issuer.iss, key.alg, code_key.nbf, code_key.naf)

    async def revoke(self, issuer: Issuer, code_key: CodeKey) -> None:
        kid = code_key.key.kid

        async def revoke() -> None:
            message = issuer.message("key.revoke", int(self._clock()), kid=kid)
            await self._hub.manage(issuer.iss, "key.revoke", message)

        await _patiently(revoke)
        self.revoked += 1
        code_key.state = KeyState.REVOKED
        self._model.keys[kid] = replace(self._model.keys[kid], revoked=True)

    async def ensure(self, issuer: Issuer) -> None:
        """Bring the hub in line with the keystore: every key registered, revoked ones
        revoked; the newest planned key becomes the active one."""
        for code_key in issuer.code_keys:
            await self.register(issuer, code_key)
            if code_key.state is KeyState.REVOKED:
                await self.revoke(issuer, code_key)
            elif code_key.state is KeyState.PLANNED:
                self._activate(issuer, code_key)

    async def rotate(self, issuer: Issuer) -> CodeKey:
        """Register a new key, then sign with it; the old one is retired, not revoked."""
        new = issuer.new_key(int(self._clock()))
        await self.register(issuer, new)
        self._activate(issuer, new)
        return new

    async def compromise(self, issuer: Issuer) -> CodeKey:
        """The active key leaked: register a new one, switch, revoke the leaked one."""
        leaked = issuer.active_key
        await self.rotate(issuer)
        await self.revoke(issuer, leaked)
        return leaked

    @staticmethod
    def _activate(issuer: Issuer, code_key: CodeKey) -> None:
        for other in issuer.code_keys:
            if other.state is KeyState.ACTIVE:
                other.state = KeyState.RETIRED
        code_key.state = KeyState.ACTIVE

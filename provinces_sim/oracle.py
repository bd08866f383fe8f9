"""The oracle: the verdict the hub must give for a code, from what the simulator knows.

``HubModel`` is the simulator's model of the hub: the enrolled issuers, every key the hub
acknowledged (and which of them it acknowledged revoking), and each issuer's status channel
(what statuses the hub holds). ``expect`` walks SPEC §3.1's steps in order over a code's truth
and returns the whole verdict of SPEC §3.2, field by field; ``differences`` compares it with
the hub's. Time steps use the simulator's clock: the scenario keeps every code well clear of
its ``exp`` and of ``iat − 300`` so that the hub's clock, read a moment later, agrees.

``expect_offline`` is what a terminal verifying offline must answer (SPEC §6): the same steps
over the keys the hub held when the terminal fetched its trust list (``HubModel.offline_view``,
taken then), with no status at all, so the colour is the code's own and ``status_sv`` null,
and the answer must say ``"offline": true, "status_checked": false``. Nothing here comes from
the gateway's code or from the list's bytes: only from what the hub acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from provinces_sim.codes import IssuedCode
from provinces_sim.wire import CLOCK_SKEW, MAX_CODE_LIFETIME, b64url

COLOURS = ("green", "yellow", "red")
FIELDS = (
    "valid",
    "reason",
    "iss",
    "kid",
    "cid",
    "colour",
    "code_colour",
    "status_sv",
    "exp",
    "nm",
)
Verdict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class KeyFact:
    iss: str
    alg: str
    nbf: int
    naf: int
    revoked: bool = False


class StatusView(Protocol):
    """Statuses the hub holds for one issuer's subjects: (colour, sv) or None.

    A ``StatusChannel`` is one (the scenario); ``FixedStatuses`` another (the corpus).
    """

    def status_of(self, sub: bytes) -> tuple[int, int] | None: ...


@dataclass
class FixedStatuses:
    """A status view from a mapping (the corpus: the statuses ``prime`` pushes)."""

    statuses: Mapping[bytes, tuple[int, int]]

    def status_of(self, sub: bytes) -> tuple[int, int] | None:
        return self.statuses.get(sub)


@dataclass
class HubModel:
    enrolled: frozenset[str]
    keys: dict[bytes, KeyFact] = field(default_factory=dict)
    statuses: dict[str, StatusView] = field(default_factory=dict)

    def status_of(self, iss: str, sub: bytes) -> tuple[int, int] | None:
        view = self.statuses.get(iss)
        return view.status_of(sub) if view is not None else None

    def offline_view(self) -> HubModel:
        """The keys as the hub holds them now, and no statuses: what a trust list fetched now
        lets a terminal know (key facts are frozen, so a copy of the mapping is a snapshot)."""
        return HubModel(self.enrolled, dict(self.keys))


def _invalid(reason: str, **filled: Any) -> Verdict:
    verdict: Verdict = dict.fromkeys(FIELDS)
    verdict.update(valid=False, reason=reason, **filled)
    return verdict


def expect(code: IssuedCode, hub: HubModel, now: int) -> Verdict:
    truth, claims = code.truth, code.truth.claims
    if claims is None:
        return _invalid("MALFORMED")
    head = {"iss": claims.iss, "kid": b64url(truth.kid)}
    if claims.iss not in hub.enrolled:
        return _invalid("UNKNOWN_ISSUER", **head)
    key = hub.keys.get(truth.kid)
    if key is None:
        return _invalid("UNKNOWN_KID", **head)
    if key.iss != claims.iss:
        return _invalid("ISSUER_KEY_MISMATCH", **head)
    if truth.alg != key.alg:
        return _invalid("ALG_MISMATCH", **head)
    if key.revoked:
        return _invalid("KEY_REVOKED", **head)
    if not key.nbf <= claims.iat <= key.naf or claims.exp - claims.iat > MAX_CODE_LIFETIME:
        return _invalid("KEY_NOT_VALID", **head)
    # Good only when the key the header names made it over these bytes: a tampered signature,
    # an SM2 one with r or s out of range, or one on another curve has no such signer.
    if truth.signer != truth.kid:
        return _invalid("BAD_SIGNATURE", **head)
    body = {
        **head,
        "cid": b64url(claims.cid),
        "exp": claims.exp,
        "nm": claims.nm,
        "code_colour": COLOURS[claims.col],
    }
    if claims.iat > now + CLOCK_SKEW:
        return _invalid("NOT_YET_VALID", **body)
    if now >= claims.exp:
        return _invalid("EXPIRED", **body)
    status = hub.status_of(claims.iss, claims.sub)
    colour = status[0] if status is not None and status[1] >= claims.sv else claims.col
    return {
        "valid": True,
        "reason": None,
        **body,
        "colour": COLOURS[colour],
        "status_sv": status[1] if status is not None else None,
    }


def expect_offline(code: IssuedCode, view: HubModel, now: int) -> Verdict:
    """SPEC §3.1 without statuses, over ``view`` (the model when the terminal's list was
    fetched, from ``offline_view``), marked as an offline answer."""
    verdict = expect(code, view, now)
    verdict.update(offline=True, status_checked=False)
    return verdict


def differences(expected: Verdict, got: Any) -> list[str]:
    """Field by field: ``["colour: expected 'red', got 'green'", …]``; empty when they agree.
    Every field of the expectation is compared: SPEC §3.2's ten, and an offline answer's own."""
    if not isinstance(got, dict):
        return [f"the answer is not a verdict object: {got!r:.80}"]
    return [
        f"{name}: expected {want!r}, got {got.get(name)!r}"
        for name, want in expected.items()
        if got.get(name, "<missing>") != want
    ]


def outcome(verdict: Verdict) -> str:
    """The verdict's outcome as the hub's metrics label it: a colour, or the reason."""
    if verdict.get("valid"):
        return str(verdict.get("colour"))
    return str(verdict.get("reason"))

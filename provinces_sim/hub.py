"""The hub as an HTTP peer (SPEC §4–§6), with aiohttp's client. Nothing else here speaks HTTP.

Every failure becomes one of two errors: :class:`HubUnreachable` (no answer) or
:class:`HubRefused` (an answer with SPEC §7's ``{"error", "detail"}``). Verify calls are
retried on 429 and 503 after ``Retry-After`` (they change nothing); management messages are
not retried here, because whether a lost answer means "applied" is the caller's to find out
(the mark for status, ``kid_collision`` for key.add, idempotence for key.revoke).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import aiohttp
import msgpack

from provinces_sim.errors import HubRefused, HubUnreachable
from provinces_sim.keystore import Client
from provinces_sim.wire import pack, text_form

Verdict = dict[str, Any]  # SPEC §3.2, as the hub wrote it

MSGPACK = "application/msgpack"
_PATHS = {"key.add": "keys", "key.revoke": "keys/revoke", "status": "status"}
_BUSY_ATTEMPTS = 6
_MAX_BACKOFF = 2.0


class HubApi:
    def __init__(self, url: str, *, timeout: float = 15.0, concurrency: int = 32) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HubApi:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._concurrency * 2),
            timeout=self._timeout,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        action: str,
        who: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        retry_busy: bool = False,
    ) -> tuple[int, str, bytes]:
        """(status, content type, body) of a 2xx/304 answer; raises on anything else."""
        assert self._session is not None, "use HubApi as an async context manager"
        for attempt in range(_BUSY_ATTEMPTS):
            async with self._limit:
                try:
                    async with self._session.request(
                        method, self.url + path, data=body, headers=headers
                    ) as response:
                        raw = await response.read()
                        status, ctype = response.status, response.content_type
                        retry_after = response.headers.get("Retry-After")
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise HubUnreachable(self.url, f"{method} {path}", exc) from exc
            if status < 400:
                return status, ctype, raw
            refused = _refusal(action, who, status, raw, retry_after)
            if not (retry_busy and status in (429, 503)) or attempt == _BUSY_ATTEMPTS - 1:
                raise refused
            await asyncio.sleep(min(refused.retry_after or 1.0, _MAX_BACKOFF))
        raise AssertionError("unreachable")  # the loop returns or raises

    # -- issuers (SPEC §4) ----------------------------------------------------------------

    async def manage(self, iss: str, typ: str, message: bytes) -> dict[str, Any]:
        """POST a signed management message; its JSON answer."""
        _, _, raw = await self._call(
            "POST",
            f"/v1/issuers/{iss}/{_PATHS[typ]}",
            typ,
            iss,
            body=message,
            headers={"Content-Type": MSGPACK},
        )
        answer: dict[str, Any] = json.loads(raw)
        return answer

    async def mark(self, iss: str) -> int:
        _, _, raw = await self._call("GET", f"/v1/issuers/{iss}/status/mark", "mark", iss)
        return int(json.loads(raw)["mark"])

    # -- verifier clients (SPEC §5, §6) ---------------------------------------------------

    async def verify(self, client: Client, envelope: bytes, form: str = "msgpack") -> Verdict:
        """One code, sent as ``msgpack`` (bytes), ``text`` (``HCM1:…``) or ``json``."""
        headers = _bearer(client)
        if form == "msgpack":
            body, headers["Content-Type"], headers["Accept"] = envelope, MSGPACK, MSGPACK
        elif form == "text":
            body, headers["Content-Type"] = text_form(envelope).encode() + b"\n", "text/plain"
        else:
            body = json.dumps({"code": text_form(envelope)}).encode()
            headers["Content-Type"] = "application/json"
        _, ctype, raw = await self._call(
            "POST", "/v1/verify", "verify", client.id, body=body, headers=headers, retry_busy=True
        )
        verdict: Verdict = _decode_answer(ctype, raw)
        return verdict

    async def verify_batch(self, client: Client, envelopes: Sequence[bytes]) -> list[Verdict]:
        return await self.verify_batch_body(client, pack(list(envelopes)))

    async def verify_batch_body(self, client: Client, body: bytes) -> list[Verdict]:
        """A prepared msgpack array of bin (the load burst builds its bodies once)."""
        headers = {**_bearer(client), "Content-Type": MSGPACK, "Accept": MSGPACK}
        _, ctype, raw = await self._call(
            "POST",
            "/v1/verify/batch",
            "verify/batch",
            client.id,
            body=body,
            headers=headers,
            retry_busy=True,
        )
        verdicts: list[Verdict] = _decode_answer(ctype, raw)
        return verdicts

    async def trust_list(self, client: Client) -> bytes:
        _, _, raw = await self._call(
            "GET",
            "/v1/trustlist",
            "trustlist",
            client.id,
            headers=_bearer(client),
            retry_busy=True,
        )
        return raw

    async def trust_key(self) -> dict[str, str]:
        _, _, raw = await self._call("GET", "/v1/trustlist/key", "trustlist/key", "anyone")
        key: dict[str, str] = json.loads(raw)
        return key

    async def ready(self) -> bool:
        try:
            await self._call("GET", "/readyz", "readyz", "operator")
        except (HubRefused, HubUnreachable):
            return False
        return True


def _bearer(client: Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}"}


def _decode_answer(ctype: str, raw: bytes) -> Any:
    if ctype == MSGPACK:
        return msgpack.unpackb(raw, raw=False)
    return json.loads(raw)


def _refusal(action: str, who: str, status: int, raw: bytes, retry_after: str | None) -> HubRefused:
    try:
        doc = json.loads(raw)
        error, detail, mark = str(doc["error"]), str(doc.get("detail", "")), doc.get("mark")
    except (ValueError, KeyError, TypeError):
        error, detail, mark = "?", raw[:200].decode("utf-8", "replace"), None
    try:
        seconds = float(retry_after) if retry_after is not None else None
    except ValueError:
        seconds = None
    return HubRefused(
        action,
        who,
        status,
        error,
        detail,
        mark=int(mark) if isinstance(mark, int) else None,
        retry_after=seconds,
    )

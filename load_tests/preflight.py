"""Before a run: one request of the run's kind must come back 200 with the verdict the corpus
expects, or the run does not start (``Refused``: one line naming the fix, exit 2).

A load test of the wrong thing looks like a load test: 1,000 answers of 401 have a latency
table too. So the harness sends one code first, as the run will (same path, encoding, token),
and reads the answer: no hub, a token the hub does not know, a path it does not serve, a hub
that does not hold the corpus' keys are each named, with what to do. The code is one the run
will not draw when the corpus has such a code, else one it will: the report then counts it as
already seen by the hub (``RunData.preseen``), so the expected hit ratio stays exact.
The corpus' ``not_after`` is checked too: past it, "valid" expectations are wrong.
"""

from __future__ import annotations

import datetime
import http.client
import json
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from load_tests.bodies import Target, body_for
from load_tests.corpus import Corpus, CorpusCode

TIMEOUT_S = 5.0
_UNKNOWN_KEYS = {"UNKNOWN_ISSUER", "UNKNOWN_KID"}


class Refused(Exception):
    """The run would measure the wrong thing; the message is one line and names the fix."""


@dataclass(frozen=True, slots=True)
class Preflight:
    url: str
    path: str
    status: int
    code_index: int  # the corpus code sent; the hub has seen it
    answer: str  # e.g. "valid, green"
    expected: str


def pick_code(codes: Sequence[CorpusCode], draws: array[int]) -> int:
    """A valid code the run will not draw, else any code it will not draw, else its first."""
    drawn = set(draws)
    unused = [i for i in range(len(codes)) if i not in drawn]
    valid = [i for i in unused if codes[i].expect.valid]
    return (valid or unused or [draws[0]])[0]


def check(target: Target, corpus: Corpus, draws: array[int], run_s: float) -> Preflight:
    _check_lifetime(corpus, run_s)
    index = pick_code(corpus.codes, draws)
    code = corpus.codes[index]
    status, body = _post(target, corpus, code)
    doc = _verdict(target, status, body, corpus)
    want = _describe(code.expect.valid, code.expect.reason, code.expect.colour)
    got = _describe(doc.get("valid"), doc.get("reason"), doc.get("colour"))
    if got != want:
        hint = (
            f"prime it: python -m provinces_sim prime --corpus {corpus.path} --hub {target.url}"
            if doc.get("reason") in _UNKNOWN_KEYS
            else "is it primed with this corpus, and not changed since?"
        )
        raise Refused(
            f"{target.url} does not hold this corpus' state: a code the corpus expects "
            f"'{want}' came back '{got}'; {hint} (or use --spawn-hub)"
        )
    return Preflight(target.url, target.request_path, status, index, got, want)


def _check_lifetime(corpus: Corpus, run_s: float) -> None:
    not_after = corpus.not_after
    if not_after is not None and time.time() + run_s >= not_after:
        when = datetime.datetime.fromtimestamp(not_after, datetime.UTC).strftime("%Y-%m-%d %H:%M")
        raise Refused(
            f"{corpus.path}: its valid codes expire at {when} UTC (not_after), before this run "
            "ends: make a new corpus (python -m provinces_sim corpus --out DIR)"
        )


def _post(target: Target, corpus: Corpus, code: CorpusCode) -> tuple[int, bytes]:
    host, port = target.host_port
    content_type, body = body_for(target, [code.code])
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        conn.request("POST", target.request_path, body, headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    except ConnectionRefusedError:
        raise Refused(
            f"no hub at {target.url} (connection refused): start one for this corpus "
            f"(hcgw serve --config {corpus.config} --listen {host}:{port}, then "
            f"python -m provinces_sim prime --corpus {corpus.path} --hub {target.url}) "
            "or let the harness start its own with --spawn-hub"
        ) from None
    except TimeoutError:
        raise Refused(f"{target.url} did not answer within {TIMEOUT_S:g} s: is it a hub?") from None
    except (OSError, http.client.HTTPException) as exc:
        raise Refused(f"{target.url}: {exc}: is it a running hub?") from None
    finally:
        conn.close()


def _verdict(target: Target, status: int, body: bytes, corpus: Corpus) -> dict[str, Any]:
    where = f"{target.url}{target.request_path}"
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    error = doc.get("error", "") if isinstance(doc, dict) else ""
    if status == 401:
        raise Refused(
            f"{where} refused the token (401 {error}): this hub was not configured from "
            f"{corpus.config}; start one with it, pass this hub's own client token with "
            "--token, or use --spawn-hub"
        )
    if status == 403:
        raise Refused(f"{where} refused the client (403 {error}): its token needs scope verify")
    if status == 404:
        raise Refused(
            f"{where} does not exist (404 {error}): is {target.url} the hub's API listener, "
            "not its admin_listen or another server?"
        )
    if status != 200:
        detail = (
            doc.get("detail", "") if isinstance(doc, dict) else body[:80].decode(errors="replace")
        )
        raise Refused(f"{where} answered {status} {error} {detail}".rstrip())
    if target.batch and isinstance(doc, list) and len(doc) == 1:
        doc = doc[0]
    if not isinstance(doc, dict) or "valid" not in doc:
        raise Refused(f"{where} answered 200 but not with a verdict: is {target.url} a hub?")
    return doc


def _describe(valid: Any, reason: Any, colour: Any) -> str:
    return f"valid, {colour}" if valid else f"invalid, {reason}"

"""The simulator's exceptions, one root:

    SimError                 anything the simulator reports and exits on
    ├── HubUnreachable       no answer from the hub: refused, reset, timed out
    ├── HubRefused           the hub answered an error (SPEC §7): status, error code, detail
    ├── KeystoreError        a keystore that is missing, unreadable or of another format
    └── CorpusError          a corpus directory that is not what docs/corpus.md describes

Messages name what was being done, for which issuer or client, and the SPEC error code, e.g.
``hub refused key.add for 440000: 409 kid_collision — …``.
"""

from __future__ import annotations


class SimError(Exception):
    """The root: the command line prints the message and exits non-zero."""


class HubUnreachable(SimError):
    def __init__(self, url: str, action: str, cause: BaseException) -> None:
        reason = str(cause) or type(cause).__name__
        super().__init__(f"the hub at {url} is unreachable ({action}): {reason}")
        self.url = url
        self.action = action


class HubRefused(SimError):
    def __init__(
        self,
        action: str,
        who: str,
        status: int,
        error: str,
        detail: str,
        *,
        mark: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"hub refused {action} for {who}: {status} {error} — {detail}")
        self.action = action
        self.who = who
        self.status = status
        self.error = error
        self.detail = detail
        self.mark = mark
        self.retry_after = retry_after


class KeystoreError(SimError):
    pass


class CorpusError(SimError):
    pass

"""What the bench measures on the first deployment beside its rounds, never inside them.

- Redis memory: ``INFO memory`` and a key count around the first round's miss runs (the keys
  they add are the cached signature outcomes);
- the profile: one more run of each scenario under py-spy, not counted (py-spy's sampling
  costs CPU, which on two cores would come out of the figure).

The open-loop latency points are in the rounds (``openloop``, ``interleave``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from subprocess import Popen

from load_tests.bench import hub, profile
from load_tests.bench.document import Deployment
from load_tests.bench.interleave import (
    Measure,
    Observe,
    RoundsConfig,
    Subject,
    gateway_sample,
    scenario,
)
from load_tests.bench.rounds import GatewaySlot
from load_tests.bench.samples import Sample
from load_tests.corpus import Corpus


def memory_observer(probe: hub.RedisProbe | None, subject: str, entry: Deployment) -> Observe:
    """Around the first round's miss runs on ``subject``: the Redis memory per cached outcome,
    written into its ``entry`` of the document."""

    def observe(slot: GatewaySlot, measure: Measure) -> Sample:
        if probe is None or slot.subject != subject or slot.round != 0:
            return measure()
        if scenario(slot.scenario)[2] != "miss":
            return measure()
        used, count = probe.used(), probe.count(hub.SIG_MATCH)
        sample = measure()
        added = probe.count(hub.SIG_MATCH) - count
        entry["scenarios"].setdefault(slot.scenario, {})["memory"] = {
            "cached_outcomes": added,
            "bytes_per_cached_outcome": hub.per_key(used, probe.used(), added),
        }
        if "memory_cached_sample" not in entry:
            entry["memory_cached_sample"] = probe.sample_usage(hub.SIG_MATCH)
        return sample

    return observe


def profile_pass(
    cfg: RoundsConfig,
    subject: Subject,
    scenarios: Sequence[str],
    corpus: Corpus,
    workdir: Path,
    gateway: dict[str, Deployment],
) -> None:
    """py-spy's summary of one more run of each scenario, into the subject's scenarios."""
    for n, name in enumerate(scenarios):
        out = workdir / f"profile-{subject.key}-{n}.txt"
        spy: list[Popen[bytes] | None] = []

        def start(out: Path = out, spy: list[Popen[bytes] | None] = spy) -> None:
            spy.append(profile.start(_pid(subject), cfg.seconds, out))

        gateway_sample(cfg, GatewaySlot(-2, -2, subject.key, name), subject, corpus, workdir,
                       0.0, during=start)  # fmt: skip
        for proc in spy:
            if proc is not None:
                proc.wait(timeout=cfg.seconds + 30)
        gateway[subject.key]["scenarios"].setdefault(name, {})["profile"] = profile.summarise(out)


def _pid(subject: Subject) -> int:
    if subject.pid is None:
        raise RuntimeError(f"{subject.label}: no process to profile")
    return subject.pid

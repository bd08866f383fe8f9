"""A PNG of the run: latency and throughput over time, and the percentile spectrum.

Top: per-second p50/p99/max latency (from the intended send time) and service-time p99, on a log
scale. Middle: planned, sent and answered requests per second. Bottom: the percentile spectrum
of the measured phase on HdrHistogram's 1/(1-p) axis, corrected vs uncorrected (wrk2's plot).
matplotlib is in the ``load`` extra; without it, plotting says so and the run is unaffected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from load_tests.histograms import Histogram


def write_png(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = report["series"]
    warm = report["config"]["warmup_s"]
    xs = [r["second"] + 1 for r in series]
    fig, (lat, rate, spec) = plt.subplots(3, 1, figsize=(10, 11))
    title = (
        f"{report['config']['mode']} loop → {report['config']['path']} "
        f"({report['verdict']['status']})"
    )
    fig.suptitle(title)
    for key, label in (("p50_us", "p50"), ("p99_us", "p99"), ("max_us", "max")):
        lat.plot(xs, [_ms(r[key]) for r in series], label=f"latency {label}")
    lat.plot(xs, [_ms(r["service_p99_us"]) for r in series], "--", label="service time p99")
    lat.set_yscale("log")
    lat.set_ylabel("ms")
    lat.axvspan(0, warm, color="grey", alpha=0.15, label="warm-up")
    lat.legend(fontsize=8)
    if any(r["target"] for r in series):
        rate.plot(xs, [r["target"] or 0 for r in series], ":", label="planned")
    rate.plot(xs, [r["sent"] for r in series], label="sent")
    rate.plot(xs, [r["completed"] for r in series], label="answered")
    rate.set_ylabel("requests / s")
    rate.set_xlabel("second of the run")
    rate.axvspan(0, warm, color="grey", alpha=0.15)
    rate.legend(fontsize=8)
    hists = report["phases"]["measured"]["histograms"]
    for kind, label in (("latency", "from intended send"), ("service", "from actual send")):
        points = Histogram.decode({"blob": hists[kind]["histoblob"]}).spectrum()
        points = [(p, v) for p, v in points if p < 100.0]
        if points:
            spec.plot([1 / (1 - p / 100) for p, _ in points], [v / 1000 for _, v in points],
                      label=label)  # fmt: skip
    spec.set_xscale("log")
    spec.set_xticks([1, 10, 100, 1000, 10000, 100000])
    spec.set_xticklabels(["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    spec.set_ylabel("ms")
    spec.set_xlabel("percentile (measured phase)")
    spec.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _ms(us: int | None) -> float | None:
    return None if us is None else us / 1000

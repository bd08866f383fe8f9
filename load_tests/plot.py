"""A PNG of the run: latency and throughput over time, and the percentile spectrum.

Top: per-second p50/p99/max latency (from the intended send time) and service-time p99, on a
log scale with plain millisecond ticks (1, 2, 5, 10, 20, 50 …). Middle: planned, sent and
answered requests per second, from 0, so ±0.3 % looks like ±0.3 %. Bottom: the percentile
spectrum of the measured phase on HdrHistogram's 1/(1-p) axis, corrected vs uncorrected
(wrk2's plot). Thresholds are drawn where they apply; the warm-up and each step of a ramp are
shaded; the title is the verdict with the exit code, the subtitle the configuration and the
commit. matplotlib is in the ``load`` extra; without it, plotting says so and the run stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from load_tests.histograms import Histogram
from load_tests.outcome import configuration, headline, provenance
from load_tests.records import Report
from load_tests.units import ms_limit, rate, sig3

_NICE = [m * 10.0**e for e in range(-3, 6) for m in (1, 2, 5)]
_PERCENTILES = (("0%", 1), ("90%", 10), ("99%", 100), ("99.9%", 1e3), ("99.99%", 1e4),
                ("99.999%", 1e5))  # fmt: skip
_THRESHOLD = {"color": "tab:red", "linestyle": (0, (6, 3)), "linewidth": 1.5}


def write_png(report: Report, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = figure(report)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def figure(report: Report) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lat, rates, spec) = plt.subplots(3, 1, figsize=(11, 12))
    failed = report["exit_code"] != 0
    fig.suptitle(f"hcgw-load · {headline(report)}", fontsize=13,
                 color="tab:red" if failed else "black", y=0.995)  # fmt: skip
    fig.text(0.5, 0.963, f"{configuration(report['config'])}\n{provenance(report)}",
             ha="center", va="top", fontsize=8, wrap=True)  # fmt: skip
    _latency(lat, report)
    _rates(rates, report)
    _spectrum(spec, report)
    for ax in (lat, rates):
        _phases(ax, report)
    fig.tight_layout(rect=(0, 0, 1, 0.945))
    return fig


def _latency(ax: Any, report: Report) -> None:
    series = report["series"]
    xs = [r["second"] + 0.5 for r in series]
    values = []
    keys: tuple[tuple[Literal["p50_us", "p99_us", "max_us"], str], ...] = (
        ("p50_us", "p50"), ("p99_us", "p99"), ("max_us", "max"))  # fmt: skip
    for key, label in keys:
        ys = [_ms(r[key]) for r in series]
        values += [y for y in ys if y]
        ax.plot(xs, ys, marker=".", label=f"latency {label}")
    service = [_ms(r["service_p99_us"]) for r in series]
    ax.plot(xs, service, ":", color="tab:purple", label="service time p99")
    limit = _max_p99(report)
    if limit is not None:
        ax.axhline(limit / 1000, **_THRESHOLD, label=f"--max-p99 {ms_limit(limit)}")
        values.append(limit / 1000)
    _log_ms(ax, values)
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("per second, latency from the intended send", fontsize=10)
    _legend(ax)


def _rates(ax: Any, report: Report) -> None:
    series = report["series"]
    xs = [r["second"] + 0.5 for r in series]
    if any(r["target"] for r in series):
        ax.step([r["second"] for r in series] + [series[-1]["second"] + 1],
                [r["target"] or 0 for r in series] + [series[-1]["target"] or 0],
                where="post", color="grey", linestyle=":", label="planned")  # fmt: skip
    ax.plot(xs, [r["sent"] for r in series], marker=".", label="sent")
    ax.plot(xs, [r["completed"] for r in series], marker=".", label="answered")
    ax.plot(xs, [r.get("ok", r["completed"]) for r in series], "--", label="answered 200")
    top: float = max([r["target"] or 0 for r in series] + [r["sent"] for r in series] + [1])
    warm = report["config"]["warmup_s"]
    for t in report["thresholds"]:
        if t["name"] != "min_rate" or t["value"] is None:
            continue
        steps = {s["step"]: s for s in report["steps"]}
        s = None if t["step"] is None else steps.get(t["step"])
        start, end = (warm + s["start_s"], warm + s["start_s"] + s["seconds"]) if s else (
            warm, warm + report["config"]["duration_s"])  # fmt: skip
        ax.hlines(t["limit"], start, end, **_THRESHOLD, label=f"{t['flag']}")
        top = max(top, t["limit"])
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("requests / s")
    ax.set_xlabel("second of the run")
    _legend(ax)


def _spectrum(ax: Any, report: Report) -> None:
    hists = report["phases"]["measured"]["histograms"]
    values = []
    for kind, label in (("latency", "from intended send"), ("service", "from actual send")):
        points = Histogram.decode({"blob": hists[kind]["histoblob"]}).spectrum()
        points = [(p, v) for p, v in points if p < 100.0]
        if points:
            ys = [v / 1000 for _, v in points]
            values += ys
            ax.plot([1 / (1 - p / 100) for p, _ in points], ys, label=label)
    limit = _max_p99(report)
    if limit is not None:
        ax.axhline(limit / 1000, **_THRESHOLD, label=f"--max-p99 {ms_limit(limit)}")
        ax.axvline(100, color="grey", linewidth=0.6)
        values.append(limit / 1000)
    ax.set_xscale("log")
    ax.set_xticks([x for _, x in _PERCENTILES])
    ax.set_xticklabels([label for label, _ in _PERCENTILES])
    ax.set_xlim(1, 1e5)
    _log_ms(ax, values)
    ax.set_ylabel("latency, ms (log)")
    ax.set_xlabel("percentile, measured phase")
    _legend(ax)


def _legend(ax: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # fmt: skip


def _phases(ax: Any, report: Report) -> None:
    warm = report["config"]["warmup_s"]
    if warm:
        ax.axvspan(0, warm, color="grey", alpha=0.18, linewidth=0)
        ax.annotate("warm-up", (0.05, 0.99), xycoords=("data", "axes fraction"), va="top",
                    fontsize=7, color="dimgrey")  # fmt: skip
    steps = report["steps"]
    if len(steps) > 1:
        for s in steps:
            start = warm + s["start_s"]
            ax.axvspan(start, start + s["seconds"], color="tab:blue",
                       alpha=0.05 if s["step"] % 2 else 0.12, linewidth=0)  # fmt: skip
            ax.annotate(f"step {s['step']}: {rate(s['rate'])}", (start + 0.05, 0.99),
                        xycoords=("data", "axes fraction"), va="top", fontsize=7)  # fmt: skip
    ax.set_xlim(0, max(r["second"] + 1 for r in report["series"]))


def _log_ms(ax: Any, values: list[float]) -> None:
    """A log axis from the nice value below the least to the one above the most, ticked at
    1-2-5 steps with plain labels (0.5, 1, 2, 5, 10 …), never 6×10¹."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    positive = [v for v in values if v and v > 0] or [1.0]
    lo = max([t for t in _NICE if t <= min(positive)] or _NICE[:1])
    hi = min([t for t in _NICE if t >= max(positive)] or _NICE[-1:])
    ticks = [t for t in _NICE if lo <= t <= hi]
    while len(ticks) > 9:
        ticks = ticks[::2] if ticks[-1] in ticks[::2] else [*ticks[::2], ticks[-1]]
    ax.set_yscale("log")
    ax.set_ylim(lo / 1.15, hi * 1.15)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: plain(v)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.grid(True, which="major", axis="y", alpha=0.3)


def plain(x: float) -> str:
    """A tick label: ``5``, ``0.5``, ``1,000`` (no trailing zeros, no exponent)."""
    text = sig3(x)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _max_p99(report: Report) -> float | None:
    limits = [t["limit"] for t in report["thresholds"] if t["name"] == "max_p99_us"]
    return limits[0] if limits else None


def _ms(us: int | None) -> float | None:
    return None if us is None else us / 1000

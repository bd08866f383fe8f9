"""A report a person reads at a glance (issue 12): one unit, one line per threshold, a row per
step, errors as a table, a command line that says its defaults and refuses what it cannot read,
and a figure with plain ticks, its thresholds and its verdict. From synthetic runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from load_runs import run_data
from load_tests import report as reports
from load_tests.cli import main as hcgw_load
from load_tests.cli import parser
from load_tests.table import render
from load_tests.thresholds import Thresholds

RAMP = ((100, 1), (200, 1), (400, 1))


def test_the_text_has_no_dict_reprs_and_no_long_floats(tmp_path: Path) -> None:
    doc = reports.build(run_data(tmp_path, steps=RAMP, status="401"), Thresholds(min_rate=7))
    text = render(doc)
    assert "{'" not in text and "{}" not in text
    assert not re.search(r"\d\.\d{5,}", text), text


def test_each_threshold_is_one_line_in_ms_with_its_mark(tmp_path: Path) -> None:
    t = Thresholds(max_p99_us=100, max_error_rate=0.001)
    text = render(reports.build(run_data(tmp_path), t, host={}))
    assert "✗ latency p99 0.550 ms > 0.1 ms" in text
    assert "✓ error rate 0 % ≤ 0.1 %" in text
    assert "µs" not in text


def test_a_value_just_over_its_limit_does_not_print_as_the_limit() -> None:
    from load_tests.thresholds import _beside

    assert _beside(20_016, 20_000) == "20.016 ms"  # not "20.0 ms > 20 ms"
    assert _beside(28_500, 20_000) == "28.5 ms"


def test_steps_have_a_row_each_in_the_json_and_the_table(tmp_path: Path) -> None:
    doc = reports.build(run_data(tmp_path, steps=RAMP, short={3: 100}), host={})
    rows = doc["steps"]
    assert [(r["rate"], r["planned"], r["ok"]) for r in rows] == [
        (100, 100, 100), (200, 200, 200), (400, 400, 300)
    ]  # fmt: skip
    assert rows[2]["ok_rate"] == 300 and rows[0]["latency_p99_us"] == pytest.approx(550, rel=0.01)
    text = render(doc)
    step_lines = [line for line in text.splitlines() if re.match(r"\s*[123] +\d+/s", line)]
    assert len(step_lines) == 3, text


def test_min_rate_is_judged_on_each_step_planned_at_or_above_it(tmp_path: Path) -> None:
    data = run_data(tmp_path, steps=RAMP)  # averages 233/s over the ramp: 350 could never pass
    doc = reports.build(data, Thresholds(min_rate=350), host={})
    judged = [t for t in doc["thresholds"] if t["name"] == "min_rate"]
    assert [(t["step"], t["ok"]) for t in judged] == [(3, True)]
    assert doc["exit_code"] == 0
    short = reports.build(run_data(tmp_path / "b", steps=RAMP, short={3: 100}),
                          Thresholds(min_rate=350), host={})  # fmt: skip
    assert short["exit_code"] == 6
    assert "✗ step 3 ok rate 300/s < 350/s" in render(short)


def test_errors_are_a_table_by_status_and_spec_error_code(tmp_path: Path) -> None:
    text = render(reports.build(run_data(tmp_path, status="401"), host={}))
    assert re.search(r"401\s+unauthenticated\s+300\s+100 %", text), text


def test_data_sent_and_received_are_reported(tmp_path: Path) -> None:
    doc = reports.build(run_data(tmp_path), host={})
    assert doc["counts"]["bytes_sent"] == 300 * 120
    assert "data sent 36.0 kB" in render(doc)


@pytest.mark.parametrize("flag", ["--max-p99", "--max-gen-lag-p99"])
def test_a_bare_latency_is_refused(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        hcgw_load(["run", "--url", "http://127.0.0.1:1", "--corpus", str(tmp_path),
                   "--rate", "1", flag, "5"])  # fmt: skip
    assert stop.value.code == 2
    assert "5ms" in capsys.readouterr().err


def test_help_shows_every_default_and_its_unit() -> None:
    # argparse's private parts: its sub-parsers' choices are a dict, typed as any iterable
    run = parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr,index]
    text = run.format_help()
    blocks = re.split(r"\n(?=  -)", text)
    for action in run._actions:
        if action.default is None or action.default is False or action.dest == "help":
            continue
        (block,) = [b for b in blocks if b.lstrip().startswith(action.option_strings[0] + " ")]
        assert "default" in block, block
    for shown in ("(default: 10s)", "(default: 2s)", "(default: 64)", "--max-p99 LATENCY"):
        assert shown in text, shown


def test_the_figure_has_plain_ticks_a_rate_axis_from_zero_and_its_thresholds(
    tmp_path: Path,
) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib comes with the load extra")
    from load_tests.plot import figure

    doc = reports.build(run_data(tmp_path, steps=RAMP), Thresholds(max_p99_us=5_000), host={})
    fig = figure(doc)
    latency, rate, spectrum = fig.axes[:3]
    fig.canvas.draw()
    for ax in (latency, spectrum):
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels and all(re.fullmatch(r"[0-9.,]+", x) for x in labels if x), labels
    assert rate.get_ylim()[0] == 0
    assert any("5 ms" in str(line.get_label()) for line in latency.get_lines())
    title = fig.texts[0].get_text() + fig.texts[1].get_text()
    assert "exit 0" in title and "VALID" in title and "100/s" in title

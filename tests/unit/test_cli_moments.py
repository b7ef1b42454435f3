"""The moments the ``oms`` commands take: ``generate --end`` (now or a given time) and
``--as-of`` as an ISO time or a time from now (``+1d``), as the README's walkthrough uses."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipelines.cli import _as_of, app


def _shopify_times(folder: Path) -> list[datetime]:
    times = []
    for path in folder.glob("shopify_orders_export_*.csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            times += [
                datetime.strptime(row["Created at"], "%Y-%m-%d %H:%M:%S %z")
                for row in csv.DictReader(fh)
            ]
    return times


def test_generate_end_now_dates_the_orders_up_to_now(tmp_path: Path) -> None:
    began = datetime.now(UTC).replace(microsecond=0)
    args = ["generate", "--orders", "40", "--days", "1", "--seed", "40", "--end", "now"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "now")])
    assert result.exit_code == 0, result.output
    times = _shopify_times(tmp_path / "now")
    assert times and all(began - timedelta(days=1) <= t <= datetime.now(UTC) for t in times)


def test_generate_end_at_a_given_time_and_a_bad_one_named(tmp_path: Path) -> None:
    end = datetime(2026, 3, 2, 12, tzinfo=UTC)
    args = ["generate", "--orders", "40", "--days", "2", "--end", "2026-03-02T12:00"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "given")])
    assert result.exit_code == 0, result.output
    times = _shopify_times(tmp_path / "given")
    assert times and all(end - timedelta(days=2) <= t <= end for t in times)
    for junk in ("soon", "+1d"):  # a window ends now or at a given time, not ahead
        out = tmp_path / f"bad-{junk}"
        bad = CliRunner().invoke(
            app,
            ["generate", "--orders", "5", "--end", junk, "--out", str(out)],
            env={"COLUMNS": "200"},
        )
        assert bad.exit_code == 2
        assert f"--end is neither 'now' nor an ISO time: '{junk}'" in bad.output
        assert not out.exists()


@pytest.mark.parametrize(
    ("given", "ahead"),
    [("+1d", timedelta(days=1)), ("+6h", timedelta(hours=6)), ("+30m", timedelta(minutes=30))],
)
def test_as_of_a_time_from_now(given: str, ahead: timedelta) -> None:
    before = datetime.now(UTC)
    moment = _as_of(given)
    assert before + ahead <= moment <= datetime.now(UTC) + ahead


def test_as_of_an_iso_time_is_utc_without_an_offset_and_junk_is_refused() -> None:
    assert _as_of("2026-11-27T23:59") == datetime(2026, 11, 27, 23, 59, tzinfo=UTC)
    assert _as_of("2026-11-27T23:59-05:00").utcoffset() == timedelta(hours=-5)
    for junk in ("tomorrow", "+1w", "1d", "+d"):
        with pytest.raises(typer.BadParameter, match="neither an ISO time nor"):
            _as_of(junk)
    with pytest.raises(typer.BadParameter, match="too far from now"):
        _as_of("+99999999d")

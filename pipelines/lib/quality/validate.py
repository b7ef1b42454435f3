"""The validation stage: due orders through the suites, into ready or on_hold."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.quality.config import ValidationConfig, load_config
from pipelines.lib.quality.decisions import (
    DecisionResult,
    apply_inbox_decisions,
    move_decision_files,
    reapply_corrections,
)
from pipelines.lib.quality.holds import apply_findings, close_cancelled, record_outcomes
from pipelines.lib.quality.prepare import lines_frame, orders_frame, select_due
from pipelines.lib.quality.runner import ExpectationOutcome, run_suites
from pipelines.lib.quality.suites import (
    LINES_SUITE,
    ORDERS_SUITE,
    RULES,
    SuiteInputs,
    build_checks,
)
from pipelines.lib.reference import read_reference
from pipelines.lib.warehouse import transaction


@dataclass
class ValidationResult:
    validated: int = 0
    ready: int = 0
    on_hold: int = 0
    opened: int = 0
    cleared: int = 0
    warnings: int = 0
    closed_by_cancellation: int = 0
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    docs_index: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def suite_outcomes(self, suite: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.suite == suite]


def suite_inputs(reference_dir: Path, config: ValidationConfig) -> SuiteInputs:
    """Value sets from reference data: the catalogue and the countries we can ship to."""
    products = read_reference(reference_dir, "products")
    countries = read_reference(reference_dir, "countries")
    warehouses = read_reference(reference_dir, "warehouses")
    carriers = read_reference(reference_dir, "carriers")
    home = set(warehouses.get_column("country"))
    scopes = set(carriers.get_column("scope"))
    served = {
        country
        for country in countries.filter(pl.col("served")).get_column("country")
        if ("domestic" if country in home else "international") in scopes
    }
    return SuiteInputs(
        catalogue_skus=frozenset(products.get_column("sku")),
        served_countries=frozenset(served),
        release_payment_statuses=config.release_payment_statuses,
        on_account_channels=config.on_account_channels,
        high_risk_order_total_usd=config.high_risk_order_total_usd,
    )


def validate_orders(
    con: duckdb.DuckDBPyConnection,
    *,
    reference_dir: Path,
    run_id: str,
    now: datetime,
    docs_dir: Path | None = None,
) -> ValidationResult:
    """Validate every order that is new or changed since it was last judged.

    Runs inside the caller's transaction. Orders already judged and unchanged are not
    looked at, so running it again changes nothing.
    """
    result = ValidationResult()
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        result.seconds[name] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    config = load_config(reference_dir, RULES)
    result.closed_by_cancellation = close_cancelled(con, run_id, now)
    result.validated = select_due(con)
    if not result.validated:
        return result
    lines = lines_frame(con)
    orders = orders_frame(con, config, read_reference(reference_dir, "fx_rates"))
    lap("prepare")
    checks = build_checks(suite_inputs(reference_dir, config))
    run = run_suites({ORDERS_SUITE: orders, LINES_SUITE: lines}, checks, config, docs_dir)
    result.outcomes, result.docs_index = run.outcomes, run.docs_index
    lap("expectations")
    counts = apply_findings(con, run.findings, run_id, now)
    record_outcomes(con, run.outcomes, run_id, now)
    for name, value in counts.items():
        setattr(result, name, value)
    lap("holds")
    return result


@dataclass
class StageResult:
    decisions: DecisionResult
    reapplied: int
    validation: ValidationResult


def run_validation_stage(
    con: duckdb.DuckDBPyConnection,
    *,
    inbox: Path,
    archive_dir: Path,
    rejected_dir: Path,
    reference_dir: Path,
    run_id: str,
    now: datetime,
    docs_dir: Path | None = None,
) -> StageResult:
    """Decisions from the inbox, corrections a re-export undid, then validation.

    One transaction: a failure leaves holds, statuses and events as they were and the
    decisions files in the inbox for the next run.
    """
    with transaction(con):
        decisions, moves = apply_inbox_decisions(con, inbox, run_id=run_id, now=now)
        reapplied = reapply_corrections(con, run_id, now)
        validation = validate_orders(
            con, reference_dir=reference_dir, run_id=run_id, now=now, docs_dir=docs_dir
        )
    move_decision_files(con, moves, archive_dir, rejected_dir, run_id, now)
    return StageResult(decisions, reapplied, validation)

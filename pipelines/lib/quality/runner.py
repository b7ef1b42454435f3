"""Run the suites with Great Expectations (1.x API) and turn the unexpected rows into findings.

GX's pandas data source validates each suite's frame (the SQL data source fails on DuckDB,
see benchmarks/RESULTS.md). Results are asked for in COMPLETE format without index columns:
``unexpected_index_list`` then holds the failing rows' positions (never capped), which are
looked up in the Polars frame to attach the order and the explanation. Asking GX for
``unexpected_index_column_names`` instead costs ~20 µs per failing cell.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import great_expectations as gx
import polars as pl
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from pipelines.lib.quality.config import ValidationConfig
from pipelines.lib.quality.suites import Check

DOCS_SITE = "oms_quality"
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
FINDING_SCHEMA = {
    "order_key": pl.String,
    "rule": pl.String,
    "reason": pl.String,
    "severity": pl.String,
    "detail": pl.String,
    "check": pl.Int64,
}


class ValidationFailed(RuntimeError):
    """An expectation could not be evaluated (not: rows failed it)."""


@dataclass(frozen=True)
class ExpectationOutcome:
    suite: str
    rule: str
    expectation: str
    severity: str
    success: bool
    element_count: int
    unexpected_count: int
    orders_affected: int


@dataclass
class SuiteRun:
    findings: pl.DataFrame
    outcomes: list[ExpectationOutcome]
    docs_index: Path | None = None


def _context(docs_dir: Path | None):
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # In memory, without the temporary docs site GX would otherwise create (and leave).
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults()),
    )
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir.resolve()),
                },
            },
        )
    return context


#: Columns only checked for being empty or not, whose values are personal (or quote them):
#: GX sees whether each is empty, never the value, so its Data Docs (which analysts open)
#: list no customer's name, street, email or phone. The findings' details come from the
#: frame itself, for ops.
WITHHELD = (
    "ship_name",
    "ship_address1",
    "ship_city",
    "email_problem",
    "phone_problem",
    "postal_problem",
)


def _withheld(column: str) -> pl.Expr:
    return (
        pl.when(pl.col(column).is_null()).then(None).otherwise(pl.lit("(withheld)")).alias(column)
    )


def run_suites(
    frames: dict[str, pl.DataFrame],
    checks: list[Check],
    config: ValidationConfig,
    docs_dir: Path | None = None,
) -> SuiteRun:
    """Validate each suite's frame; every failing row becomes a finding (order, rule, detail).

    With ``docs_dir`` the results are also rendered as GX Data Docs there (a checkpoint with
    an UpdateDataDocsAction), replacing the previous run's pages.
    """
    building = docs_dir.with_name(f".{docs_dir.name}.building") if docs_dir else None
    if building is not None:
        shutil.rmtree(building, ignore_errors=True)
    context = _context(building)
    source = context.data_sources.add_pandas("oms")
    findings: list[pl.DataFrame] = []
    outcomes: list[ExpectationOutcome] = []
    for suite_name, frame in frames.items():
        suite_checks = [c for c in checks if c.suite == suite_name]
        if frame.is_empty() or not suite_checks:
            continue
        columns = list(dict.fromkeys(col for c in suite_checks for col in c.columns))
        data = frame.select(_withheld(c) if c in WITHHELD else c for c in columns).to_pandas()
        batch = source.add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe("batch")
        suite = context.suites.add(
            gx.ExpectationSuite(name=suite_name, expectations=[c.expectation for c in suite_checks])
        )
        if building is not None:
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
            )
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=f"{suite_name}_checkpoint",
                    validation_definitions=[definition],
                    actions=[
                        gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[DOCS_SITE])
                    ],
                    result_format=RESULT_FORMAT,
                )
            )
            run = checkpoint.run(batch_parameters={"dataframe": data})
            (result,) = run.run_results.values()
        else:
            result = batch.get_batch(batch_parameters={"dataframe": data}).validate(
                suite, result_format=RESULT_FORMAT
            )
        for item in result.results:
            info = item.exception_info or {}
            if info.get("raised_exception"):
                raise ValidationFailed(
                    f"{suite_name}: {item.expectation_config.type} could not be evaluated: "
                    f"{info.get('exception_message')}"
                )
            check = checks[item.expectation_config.meta["check"]]
            rule = config.rule(check.rule)
            positions = item.result.get("unexpected_index_list") or []
            failing = frame[positions].select(
                "order_key",
                pl.lit(check.rule).alias("rule"),
                pl.lit(rule.reason).alias("reason"),
                pl.lit(rule.severity).alias("severity"),
                check.detail.cast(pl.String).alias("detail"),
                pl.lit(item.expectation_config.meta["check"], pl.Int64).alias("check"),
            )
            findings.append(failing)
            outcomes.append(
                ExpectationOutcome(
                    suite=suite_name,
                    rule=check.rule,
                    expectation=check.label,
                    severity=rule.severity,
                    success=bool(item.success),
                    element_count=int(item.result.get("element_count") or 0),
                    unexpected_count=int(item.result.get("unexpected_count") or 0),
                    orders_affected=failing.get_column("order_key").n_unique(),
                )
            )
    found = pl.concat(findings) if findings else pl.DataFrame(schema=FINDING_SCHEMA)
    index = _publish_docs(building, docs_dir) if building and docs_dir else None
    return SuiteRun(found, outcomes, index)


def _publish_docs(building: Path, docs_dir: Path) -> Path | None:
    """Put the pages just built in place of the last run's (so old runs do not pile up)."""
    if not (building / "index.html").exists():
        return None
    old = docs_dir.with_name(f".{docs_dir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if docs_dir.exists():
        docs_dir.rename(old)
    building.rename(docs_dir)
    shutil.rmtree(old, ignore_errors=True)
    return docs_dir / "index.html"

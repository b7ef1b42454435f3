"""Validation stage: ops decisions, then the GX suites; holds and statuses (lib/quality/)."""

import dagster as dg

from pipelines.defs.resources import FoldersResource, WarehouseResource, batch_clock, warn_rejected
from pipelines.lib.quality.runner import ExpectationOutcome
from pipelines.lib.quality.suites import LINES_SUITE, ORDERS_SUITE
from pipelines.lib.quality.validate import run_validation_stage

SUITE_CHECKS = {
    ORDERS_SUITE: "orders_suite",
    LINES_SUITE: "order_lines_suite",
}


def _check_result(suite: str, outcomes: list[ExpectationOutcome], validated: int):
    """One asset check per suite: failed (WARN) when any expectation had unexpected rows."""
    failed = [o for o in outcomes if not o.success]
    metadata = {
        "orders_validated": dg.MetadataValue.int(validated),
        "expectations": dg.MetadataValue.int(len(outcomes)),
        "failed_expectations": dg.MetadataValue.int(len(failed)),
        "unexpected_count": dg.MetadataValue.int(sum(o.unexpected_count for o in outcomes)),
        "results": dg.MetadataValue.md(
            "| rule | expectation | severity | rows | unexpected | orders |\n"
            "|---|---|---|---|---|---|\n"
            + "\n".join(
                f"| {o.rule} | `{o.expectation}` | {o.severity} | {o.element_count} "
                f"| {o.unexpected_count} | {o.orders_affected} |"
                for o in outcomes
            )
        )
        if outcomes
        else dg.MetadataValue.text("no orders were due for validation in this run"),
    }
    return dg.AssetCheckResult(
        asset_key="order_holds",
        check_name=SUITE_CHECKS[suite],
        passed=not failed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=f"Great Expectations suite '{suite}' over the orders validated this run",
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "order_holds",
            deps=["orders", "order_lines", "refunds"],
            description="oms.order_holds: the exception queue; orders become ready or on_hold.",
        ),
        dg.AssetSpec(
            "hold_decisions",
            deps=["orders"],
            description="oms.hold_decisions: ops decisions from the inbox, applied or rejected.",
        ),
        dg.AssetSpec(
            "expectation_results",
            deps=["orders", "order_lines"],
            description="quality.expectation_results: each run's GX results per expectation.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(name, asset="order_holds", description=f"GX suite '{suite}'")
        for suite, name in SUITE_CHECKS.items()
    ],
    group_name="quality",
)
def validation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, folders: FoldersResource
):
    """Apply ops decisions, then validate every new or changed order with the GX suites."""
    now = batch_clock(context)
    with warehouse.connect() as con:
        stage = run_validation_stage(
            con,
            inbox=folders.inbox,
            archive_dir=folders.archive,
            rejected_dir=folders.rejected,
            reference_dir=folders.reference,
            run_id=context.run_id,
            now=now,
            docs_dir=folders.folder("outbox/quality"),
        )
        ((open_holds, open_warnings),) = con.execute(
            "SELECT count(*) FILTER (severity = 'hold'), count(*) FILTER (severity = 'warn') "
            "FROM oms.order_holds WHERE resolved_at IS NULL"
        ).fetchall()
    result = stage.validation
    warn_rejected(context, stage.decisions.files)
    docs = {"data_docs": dg.MetadataValue.path(str(result.docs_index))} if result.docs_index else {}
    yield dg.MaterializeResult(
        asset_key="order_holds",
        metadata={
            "validated": result.validated,
            "ready": result.ready,
            "on_hold": result.on_hold,
            "holds_opened": result.opened,
            "holds_cleared": result.cleared,
            "orders_with_warnings": result.warnings,
            "open_holds": dg.MetadataValue.int(open_holds),
            "open_warnings": dg.MetadataValue.int(open_warnings),
            "corrections_reapplied": stage.reapplied,
            "seconds": dg.MetadataValue.json(result.seconds),
            **docs,
        },
    )
    yield dg.MaterializeResult(
        asset_key="hold_decisions",
        metadata={
            "files": len(stage.decisions.files),
            "applied": stage.decisions.applied,
            "rejected": stage.decisions.rejected,
            "by_action": dg.MetadataValue.json(stage.decisions.by_action),
        },
    )
    yield dg.MaterializeResult(
        asset_key="expectation_results",
        metadata={
            "expectations": len(result.outcomes),
            "failed": sum(not o.success for o in result.outcomes),
        },
    )
    for suite in SUITE_CHECKS:
        yield _check_result(suite, result.suite_outcomes(suite), result.validated)

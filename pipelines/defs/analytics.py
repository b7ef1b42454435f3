"""Analytics stage: dbt models over the operational tables, then the reporting snapshot."""

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from duckdb import DuckDBPyConnection

from pipelines.defs.resources import WarehouseResource
from pipelines.lib.freshness import fingerprint, record_built, record_published, up_to_date
from pipelines.lib.privacy import assign_privacy_keys, pii_key
from pipelines.lib.warehouse import ops_snapshot_path, publish_snapshot
from pipelines.project import REPO_ROOT, dbt_project, export_warehouse_env, get_settings

DBT_PROJECT = dbt_project()
#: Assets that write tables the snapshot publishes but dbt does not read.
AFTER_STAGES = ("notifications", "channel_feeds")


def _snapshots(warehouse: WarehouseResource) -> list[Path]:
    reporting = Path(warehouse.reporting_path)
    return [reporting, ops_snapshot_path(reporting)]


class OmsDbtTranslator(DagsterDbtTranslator):
    """dbt sources are the Python assets that write them, so the graph is one graph."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "analytics"

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if not unique_id.startswith("model."):
            return spec
        # The build runs after the stages that write what the snapshot publishes besides
        # dbt's sources, so its up-to-date check sees their changes too.
        return spec.merge_attributes(deps=[dg.AssetKey(k) for k in AFTER_STAGES])


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=OmsDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    # The marts see customers only as keyed hashes: orders new since the last build get theirs
    # first (the key stays out of dbt, its logs and its artifacts).
    settings = get_settings()
    with warehouse.connect() as con:
        keyed = assign_privacy_keys(con, pii_key(settings.data_dir))
        current = fingerprint(con, root=REPO_ROOT, reference_dir=settings.reference_dir)
        fresh = up_to_date(con, current, _snapshots(warehouse))
    context.log.info("customer keys computed for %s order(s)", keyed)
    if fresh:
        # Nothing dbt or the snapshots read changed since they were last published: the
        # build and (as nothing is materialized) the snapshot step are skipped.
        context.log.info("analytics up to date (fingerprint %s): dbt build skipped", current[:12])
        return
    export_warehouse_env(Path(warehouse.path))
    build = dbt.cli(["build"], context=context)
    # dbt's events are held until it is done and has let go of the file, so the models'
    # outputs can carry their tables' row counts; they are then reported in dbt's order (a
    # test after the model it tests). A failed build still reports what it built, then raises.
    events: list = []
    try:
        for event in build.stream():
            events.append(event)
    except BaseException:
        yield from events
        raise
    try:
        with warehouse.connect() as con:
            events = with_row_counts(con, events, build.manifest)
    except Exception as exc:  # the figures are extras: the models were built all the same
        context.log.warning("row counts of the dbt models not taken: %s", exc)
    yield from events
    if not context.is_subset:  # every model built from ``current``
        with warehouse.connect() as con:
            record_built(con, current, run_id=context.run_id, now=datetime.now(UTC))


def with_row_counts(con: DuckDBPyConnection, events: list, manifest: Mapping[str, Any]) -> list:
    """dbt's events, each table model's output with its row count (``dagster/row_count``,
    shown in the Dagster UI); views are not counted (counting would run their query)."""
    relations: dict[int, str] = {}
    for i, event in enumerate(events):
        unique_id = event.metadata.get("unique_id") if isinstance(event, dg.Output) else None
        node = manifest["nodes"].get(unique_id.value) if unique_id else None
        if node and node["config"].get("materialized") in ("table", "incremental"):
            relations[i] = node["relation_name"]
    if not relations:
        return events
    counts = dict(
        con.execute(
            " UNION ALL ".join(
                f"SELECT {i}, count(*) FROM {relation}" for i, relation in relations.items()
            )
        ).fetchall()
    )
    return [
        event.with_metadata({**event.metadata, "dagster/row_count": counts[i]})
        if i in counts
        else event
        for i, event in enumerate(events)
    ]


@dg.asset(
    deps=[dbt_models],
    group_name="analytics",
    description="data/warehouse/reporting.duckdb: read-only copy the dashboards read, without "
    "customers' personal data; and ops.duckdb beside it, the full details of the orders the ops "
    "workspace works on.",
)
def reporting_snapshot(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    began = time.perf_counter()
    with warehouse.connect() as con:
        counts = publish_snapshot(con, Path(warehouse.reporting_path))
        current = fingerprint(con, root=REPO_ROOT, reference_dir=get_settings().reference_dir)
        # Marked up to date only when the last full build read this very state.
        if not record_published(con, current, _snapshots(warehouse), now=datetime.now(UTC)):
            context.log.info("no full build of the current state: the next refresh builds")
    return dg.MaterializeResult(
        metadata={
            "tables": len(counts),
            "seconds": round(time.perf_counter() - began, 3),
            "path": warehouse.reporting_path,
            "ops_path": str(ops_snapshot_path(warehouse.reporting_path)),
            **{k: dg.MetadataValue.int(v) for k, v in counts.items() if k.startswith("analytics.")},
        }
    )

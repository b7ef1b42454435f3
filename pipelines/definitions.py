"""The one Dagster code location: ``workspace.yaml`` loads ``pipelines.definitions``."""

import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.defs import (
    analytics,
    automation,
    channels,
    communication,
    fulfilment,
    intake,
    inventory,
    quality,
    returns,
    shipping,
)
from pipelines.defs.resources import folders_resource, warehouse_resource
from pipelines.project import get_settings


def build_definitions() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(
        assets=[
            intake.intake,
            returns.returns,
            quality.validation,
            inventory.inventory_movements,
            inventory.allocation,
            fulfilment.fulfilment,
            shipping.shipping,
            channels.channel_feeds,
            communication.notifications,
            analytics.dbt_models,
            analytics.reporting_snapshot,
        ],
        jobs=list(automation.JOBS),
        schedules=automation.build_schedules(settings.reference_dir),
        sensors=[intake.inbox_sensor],
        resources={
            "warehouse": warehouse_resource(settings),
            "folders": folders_resource(settings),
            "dbt": DbtCliResource(project_dir=analytics.DBT_PROJECT, target=settings.environment),
        },
    )


defs = build_definitions()

"""The ``oms`` command: run the batch, look at its state, make demo data, check a file."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.project import get_settings

if TYPE_CHECKING:
    from pipelines.demo import StepResult

app = typer.Typer(help="Order-flow platform: batch order management.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the channel exports into.")],
    orders: Annotated[int | None, typer.Option(help="Number of orders.")] = None,
    lines: Annotated[int | None, typer.Option(help="Number of order lines instead.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 7,
    days: Annotated[int, typer.Option(help="Days the orders spread over.")] = 3,
    defect_rate: Annotated[float, typer.Option(help="Share of orders with a defect.")] = 0.02,
    end: Annotated[
        str | None,
        typer.Option(
            help="When the order window ends: 'now' or an ISO time (UTC without an offset). "
            "Default: a fixed moment per seed, so the same options give the same files."
        ),
    ] = None,
) -> None:
    """Write demo/benchmark channel exports in every supported format."""
    from pipelines.lib.generator import generate as run_generator

    if (orders is None) == (lines is None):
        raise typer.BadParameter("give exactly one of --orders or --lines")
    window_end = None
    if end is not None and end.strip().lower() == "now":
        window_end = datetime.now(UTC)
    elif end is not None:
        try:
            window_end = _iso_moment(end)
        except ValueError:
            raise typer.BadParameter(f"--end is neither 'now' nor an ISO time: {end!r}") from None
    summary = run_generator(
        out,
        orders=orders,
        lines=lines,
        seed=seed,
        days=days,
        defect_rate=defect_rate,
        end=window_end,
        reference_dir=get_settings().reference_dir,
    )
    console.print(
        f"wrote {len(summary.files)} files to {out}: {summary.orders:,} orders, "
        f"{summary.lines:,} lines in {summary.seconds:.1f} s"
    )


def _inbox_is_empty() -> bool:
    """True for a platform with nothing to do and nothing ever received: an empty inbox
    and no file in the warehouse's registry (a later `make run` adds no demo data again)."""
    from pipelines.lib.intake import inbox_files
    from pipelines.lib.status import order_status_counts

    settings = get_settings()
    if inbox_files(settings.inbox):
        return False
    counts = order_status_counts(settings.warehouse_path, settings.reporting_path)
    return not counts["files"]


def _writer_busy(settings) -> str | None:
    """Why a batch in this process would collide with another writer, else None: a writing
    job going, or queued while ``make ui``'s daemon runs (it takes runs one at a time, but a
    run started here goes around its queue), or another process holding the warehouse."""
    import dagster as dg

    from pipelines.defs.automation import WRITER_TAG
    from pipelines.lib.runs import writers_in_the_way
    from pipelines.lib.warehouse import lock_holder

    with dg.DagsterInstance.get() as instance:
        runs, cleared = writers_in_the_way(instance, WRITER_TAG)
    for run in cleared:
        console.print(
            f"marked canceled: {run.job_name} {run.run_id[:8]}, left 'started' by a process "
            f"that is gone (PID {run.tags.get('oms/pid')})",
            soft_wrap=True,
            highlight=False,
        )
    if runs:
        listed = ", ".join(f"{r.job_name} {r.run_id[:8]} ({r.status.value.lower()})" for r in runs)
        return (
            f"the Dagster instance in {settings.dagster_home} has {listed}. Let it finish, or "
            "queue behind it with `uv run oms submit order_batch`."
        )
    if holder := lock_holder(settings.warehouse_path):
        return (
            f"another process has the warehouse open ({holder}). Let it finish, or queue "
            "behind Dagster's runs with `uv run oms submit order_batch`."
        )
    return None


def _follow(instance, run_id: str, worker: threading.Thread, progress, tasks: dict) -> None:
    """Show the run's steps as they start and end, until its thread is done."""
    while True:
        for record in instance.all_logs(run_id):
            entry = record.dagster_event
            if entry is None or entry.step_key is None:
                continue
            step = entry.step_key
            if entry.event_type_value == "STEP_START" and step not in tasks:
                tasks[step] = progress.add_task(f"{step}: running", total=1)
            elif entry.event_type_value == "STEP_SUCCESS" and step in tasks:
                progress.update(tasks[step], completed=1, description=f"{step}: done")
            elif entry.event_type_value == "STEP_FAILURE" and step in tasks:
                progress.update(tasks[step], completed=1, description=f"{step}: FAILED")
        if not worker.is_alive():
            return
        time.sleep(0.2)


def _execute_order_batch() -> tuple[bool, str, list[tuple[str, str, float]], dict[str, dict]]:
    """Run ``order_batch`` in-process on the persistent instance, with a live display."""
    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.lib.runs import process_tags, run_outcome

    instance = dg.DagsterInstance.get()
    job = build_definitions().resolve_job_def("order_batch")
    run_id = str(uuid.uuid4())
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            result = job.execute_in_process(
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                instance=instance,
                run_id=run_id,
                raise_on_error=False,
                tags=process_tags(),
            )
            outcome["success"] = result.success
        except Exception as exc:  # reported below, the run is recorded as failed by Dagster
            outcome["success"] = False
            outcome["error"] = str(exc)

    worker = threading.Thread(target=target, daemon=True)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        tasks: dict[str, int] = {}
        worker.start()
        try:
            _follow(instance, run_id, worker, progress, tasks)
        except KeyboardInterrupt:
            # Every stage commits whole files or phases: what the run did is kept and the next
            # run picks up the rest. The run is recorded as canceled, not left "started".
            progress.stop()
            run = instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                instance.report_run_canceled(run, message="interrupted (Ctrl-C)")
            err.print("interrupted: the batch stopped; the next run picks up where it left off")
            sys.stdout.flush()
            sys.stderr.flush()
            # Out at once, as a kill would: a normal exit would unwind the run's thread inside
            # DuckDB or dbt, which aborts the process instead.
            os._exit(130)
        worker.join()

    stages = [
        (
            stats.step_key,
            stats.status.value if stats.status else "?",
            (stats.end_time or 0) - (stats.start_time or 0),
        )
        for stats in instance.get_run_step_stats(run_id)
    ]
    failures, materialized = run_outcome(instance, run_id)
    error = "; ".join([*failures, str(outcome.get("error", ""))]).strip("; ")
    reference = f"run {run_id}" + (f": {error}" if error else "")
    return bool(outcome.get("success")), reference, stages, materialized


def _demo_line(result: StepResult) -> str:
    """One line per demo run: when, which job, how it went, what it did."""
    m = result.materialized
    said: list[str] = [f"{k} {v:,}" for k, v in result.fed.items() if v]
    did = {
        "new orders": m.get("orders", {}).get("new"),
        "held": m.get("order_holds", {}).get("on_hold"),
        "lines backordered": m.get("backorders", {}).get("open"),
        "waves": m.get("waves", {}).get("waves"),
        "labels": m.get("rate_quotes", {}).get("labelled"),
        "manifests": m.get("manifests", {}).get("manifests"),
        "parcels shipped": m.get("manifests", {}).get("parcels_shipped"),
        "orders delivered": m.get("tracking_events", {}).get("orders_delivered"),
        "RMAs": m.get("returns", {}).get("rmas_issued"),
        "refunds": m.get("refunds", {}).get("refunds"),
        "exchanges": m.get("refunds", {}).get("exchange_orders"),
        "snapshot tables": m.get("reporting_snapshot", {}).get("tables"),
    }
    done = [f"{name} {n:,}" for name, n in did.items() if n]
    state = "[green]ok[/]" if result.success else "[red]FAILED[/]"
    line = (
        f"day {result.step.day + 1} {result.step.at:%a %Y-%m-%d %H:%M} UTC  "
        f"{result.step.job:<17} {state} {result.seconds:5.1f} s"
    )
    if said:
        line += "  in: " + ", ".join(said)
    if done:
        line += "  → " + ", ".join(done)
    for failure in result.failures:
        line += f"\n    {failure}"
    return line


def _warn_unfinished_demo() -> None:
    import dagster as dg

    from pipelines import demo

    with dg.DagsterInstance.get() as instance:
        advice = demo.unfinished(instance)
    if advice:
        err.print(f"[yellow]note[/]: {advice}", soft_wrap=True, highlight=False)


def _play_demo(settings) -> None:
    """``make run`` on an empty platform: a week of operation on a simulated clock."""
    import dagster as dg

    from pipelines import demo

    console.print(
        f"inbox was empty: playing a {demo.DAYS}-day demo ({demo.ORDERS:,} orders): each "
        "morning's exports, carrier tracking, returns and inspections, then order_batch; "
        "carrier_cutoff after the day's cutoffs; analytics_refresh at the end",
        soft_wrap=True,
        highlight=False,
    )
    with dg.DagsterInstance.get() as instance:
        try:
            results = demo.run_demo(
                settings,
                demo.in_process_runner(instance),
                lambda result: console.print(_demo_line(result), soft_wrap=True, highlight=False),
            )
        except KeyboardInterrupt:
            err.print(f"[red]stopped[/]: {demo.unfinished(instance)}", highlight=False)
            raise typer.Exit(130) from None
        advice = demo.unfinished(instance)
    status(as_json=False)
    console.print(
        f"\nwarehouse: {settings.warehouse_path}\nreporting snapshot: {settings.reporting_path}\n"
        f"outbox: {settings.outbox}\nDagster runs (make ui): {settings.dagster_home}",
        soft_wrap=True,
        highlight=False,
    )
    if advice or not all(r.success for r in results):
        err.print(f"[red]{advice or 'the demo stopped'}[/]", soft_wrap=True, highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]demo finished: {len(results)} runs succeeded[/]")


@app.command()
def run(
    demo_if_empty: Annotated[
        bool, typer.Option(help="Put demo exports in the inbox first when it is empty.")
    ] = False,
) -> None:
    """Run the whole batch (the ``order_batch`` job) in-process and print a summary."""
    settings = get_settings()
    settings.ensure_dirs()
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    if busy := _writer_busy(settings):
        err.print(f"not run: {busy}", soft_wrap=True, highlight=False)
        raise typer.Exit(2)
    if demo_if_empty and _inbox_is_empty():
        _play_demo(settings)
        return
    if demo_if_empty:
        _warn_unfinished_demo()
    ok, run_ref, stages, materialized = _execute_order_batch()
    table = Table(title="order_batch")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    for step, step_status, seconds in stages:
        table.add_row(step, step_status, f"{seconds:.2f}")
    console.print(table)
    for asset, meta in materialized.items():
        if meta:
            console.print(
                f"  [bold]{asset}[/]: " + ", ".join(f"{k}={v}" for k, v in meta.items()),
                soft_wrap=True,
            )
    backorders = materialized.get("backorders", {})
    if backorders.get("open"):
        console.print(
            f"open backorders: {backorders['open']:,} lines; reorder report: "
            f"{settings.outbox / 'inventory'}",
            soft_wrap=True,
            highlight=False,
        )
    waves = materialized.get("waves", {})
    if waves.get("waves"):
        console.print(
            f"pick waves released: {waves['waves']:,} (pick lists and packing slips under "
            f"{settings.outbox}/<warehouse>/<date>/)",
            soft_wrap=True,
            highlight=False,
        )
    labels = materialized.get("rate_quotes", {})
    manifests = materialized.get("manifests", {})
    if labels.get("labelled") or manifests.get("manifests"):
        console.print(
            f"labels: {labels.get('labelled', 0):,} parcels (PDF and ZPL beside the pick "
            f"lists); manifests closed: {manifests.get('manifests', 0):,} "
            f"({manifests.get('parcels_shipped', 0):,} parcels shipped)",
            soft_wrap=True,
            highlight=False,
        )
    if labels.get("unlabelled"):
        console.print(
            f"[yellow]parcels no service can carry: {labels['unlabelled']:,}[/] (see "
            "oms.parcels.rating_warning)",
            soft_wrap=True,
            highlight=False,
        )
    feeds = materialized.get("channel_feeds", {})
    if feeds.get("feeds"):
        console.print(
            f"channel feeds: {feeds['feeds']:,} ({feeds.get('units_confirmed', 0):,} units of "
            f"{feeds.get('orders_confirmed', 0):,} orders confirmed, "
            f"{feeds.get('skus_sent', 0):,} stock levels sent) under "
            f"{settings.outbox / 'channels'}; list them with `oms feeds list`",
            soft_wrap=True,
            highlight=False,
        )
    messages = materialized.get("notifications", {})
    if messages.get("queued_now") or messages.get("sent") or messages.get("failed"):
        console.print(
            f"customer messages: {messages.get('queued_now', 0):,} new in "
            f"{settings.outbox / 'mail'} (.eml); sent {messages.get('sent', 0):,}, failed "
            f"{messages.get('failed', 0):,}; still queued {messages.get('outbox_queued', 0):,}"
            " (SMTP is off unless data/reference/notifications.toml switches it on)",
            soft_wrap=True,
            highlight=False,
        )
    returns = materialized.get("returns", {})
    refunds = materialized.get("refunds", {})
    if returns.get("requests_read") or materialized.get("return_inspections", {}).get(
        "records_read"
    ):
        console.print(
            f"returns: {returns.get('rmas_issued', 0):,} RMAs issued "
            f"({returns.get('lines_rejected', 0):,} lines rejected); refunds "
            f"{refunds.get('refunds', 0):,}, store credits {refunds.get('store_credits', 0):,}"
            f", exchange orders {refunds.get('exchange_orders', 0):,} (finance exports under "
            f"{settings.outbox / 'refunds'})",
            soft_wrap=True,
            highlight=False,
        )
    holds = materialized.get("order_holds", {})
    if holds.get("open_holds"):
        console.print(
            f"open holds: {holds['open_holds']:,} (list them with `oms holds`; data docs: "
            f"{settings.outbox / 'quality' / 'index.html'})",
            soft_wrap=True,
            highlight=False,
        )
    console.print(
        f"\nwarehouse: {settings.warehouse_path}\nreporting snapshot: {settings.reporting_path}\n"
        f"archive: {settings.archive}\nrejected: {settings.rejected}\n"
        f"outbox: {settings.outbox}\nDagster runs (make ui): {settings.dagster_home}",
        soft_wrap=True,
        highlight=False,
    )
    if not ok:
        err.print(f"[red]order_batch failed[/] ({run_ref})", soft_wrap=True, highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]order_batch succeeded[/] ({run_ref})")


@app.command()
def submit(
    job: Annotated[
        str, typer.Argument(help="order_batch, carrier_cutoff or analytics_refresh.")
    ] = "order_batch",
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Run as of this ISO time (UTC without an offset) or a time from now such "
            "as +1d (e.g. past a cutoff)."
        ),
    ] = None,
) -> None:
    """Start a job in the running Dagster (`make ui`); behind a running writer it waits in
    the run queue."""
    from pipelines.defs.automation import JOB_GROUPS
    from pipelines.defs.resources import CLOCK_TAG
    from pipelines.lib import dagster_api

    if job not in JOB_GROUPS:
        raise typer.BadParameter(f"unknown job {job!r}; one of {', '.join(JOB_GROUPS)}")
    tags = {"oms/trigger": "oms submit"}
    if as_of:
        tags[CLOCK_TAG] = _as_of(as_of).isoformat()
    url = dagster_api.webserver_url()
    try:
        run_id = dagster_api.submit_job(job, url=url, tags=tags)
    except dagster_api.DagsterUnavailable as exc:
        err.print(f"not submitted: {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    console.print(f"{job} submitted: {url}/runs/{run_id}", soft_wrap=True, highlight=False)


def _print_runs(runs: dict[str, dict]) -> None:
    """Each job's last success, and its last failure with the stage and message."""
    if not runs:
        console.print("batches: none recorded yet (`make run`, or `make ui` and its schedules)")
    for job, found in runs.items():
        success, failure = found.get("last_success"), found.get("last_failure")
        line = f"{job}: last success " + (
            f"{success['finished_at']:%Y-%m-%d %H:%M} UTC" if success else "never"
        )
        if failure is not None:
            colour = "green" if failure["resolved"] else "red"
            line += (
                f"; [{colour}]last failure {failure['finished_at']:%Y-%m-%d %H:%M} UTC"
                + (" (succeeded since)" if failure["resolved"] else "")
                + f"[/]: {failure['stage'] or 'run'}: {failure['message']}"
            )
        console.print(line, soft_wrap=True, highlight=False)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Counts of orders by status, and of files received."""
    from pipelines.lib.runs import run_history
    from pipelines.lib.status import order_status_counts

    settings = get_settings()
    counts = order_status_counts(settings.warehouse_path, settings.reporting_path)
    counts["runs"] = run_history(settings.dagster_home)
    if as_json:
        print(json.dumps(counts, default=_json_default, indent=2))
        return
    _print_runs(counts["runs"])
    table = Table(title="orders by status")
    table.add_column("status")
    table.add_column("orders", justify="right")
    for name, n in counts["orders_by_status"].items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    console.print(f"total orders: {counts['orders']:,}; lines: {counts['lines']:,}")
    console.print(f"read from: {counts['source']}")
    console.print("files: " + ", ".join(f"{k} {v}" for k, v in counts["files"].items()))
    stock = counts["inventory"]
    if stock:
        console.print(
            f"stock: on hand {stock['units_on_hand']:,}, committed {stock['units_committed']:,}, "
            f"ATP {stock['units_atp']:,}; backorders: {stock['open_backorders']:,} lines, "
            f"{stock['units_backordered']:,} units"
            + (
                f" (first promise {stock['next_promised_date']})"
                if stock["next_promised_date"]
                else ""
            )
            + f"; SKUs to reorder: {stock['skus_to_reorder']:,}",
            soft_wrap=True,
            highlight=False,
        )
    ship = counts["shipping"]
    if ship:
        console.print(
            f"parcels: {ship['parcels_labelled_waiting']:,} labelled waiting for the cutoff, "
            f"{ship['parcels_unlabelled']:,} no service can carry, "
            f"{ship['parcels_on_the_way']:,} on the way, {ship['parcels_delivered']:,} "
            f"delivered, {ship['parcels_with_exceptions']:,} with carrier exceptions; "
            f"manifests: {ship['manifests']:,}; shipments delayed: "
            f"{ship['shipments_delayed']:,}; tracking events quarantined: "
            f"{ship['tracking_events_quarantined']:,}",
            soft_wrap=True,
            highlight=False,
        )
    back = counts["returns"]
    if back and any(back.values()):
        console.print(
            f"returns: {back['rmas_awaiting_units']:,} RMAs awaiting units, "
            f"{back['lines_partly_received']:,} lines partly received, "
            f"{back['refunds_held']:,} refunds held for review, {back['lines_completed']:,} "
            f"lines completed, {back['lines_rejected']:,} rejected, "
            f"{back['units_missing']:,} units missing; refunds issued: {back['refunds']:,}; "
            f"exchange orders: {back['exchange_orders']:,}; records quarantined: "
            f"{back['records_quarantined']:,}",
            soft_wrap=True,
            highlight=False,
        )
    feeds = counts["feeds"]
    if feeds and feeds["feeds"]:
        console.print(
            f"channel feeds: {feeds['feeds']:,} sent (last "
            f"{feeds['last_feed_at']:%Y-%m-%d %H:%M} UTC), {feeds['feeds_unwritten']:,} not "
            "written yet; "
            f"{feeds['units_confirmed']:,} units confirmed; shipped units not confirmed yet: "
            f"{feeds['units_unconfirmed']:,}",
            soft_wrap=True,
            highlight=False,
        )
    outbox = counts["outbox"]
    if outbox:
        console.print(
            f"customer messages: {outbox['queued']:,} queued ({outbox['retrying']:,} "
            f"retrying), {outbox['sent']:,} sent, {outbox['failed']:,} failed, "
            f"{outbox['skipped']:,} skipped",
            soft_wrap=True,
            highlight=False,
        )
        for failure in outbox["recent_failures"]:
            console.print(
                f"  failed: {failure['kind']} ({failure['channel']}) for "
                f"{failure['order_key']} to {failure['recipient']} after "
                f"{failure['attempts']} attempt(s): {failure['last_error']}",
                soft_wrap=True,
                highlight=False,
            )


@app.command()
def holds(
    reason: Annotated[
        str | None, typer.Option(help="Only holds with this reason (e.g. INCORRECT_ADDRESS).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (every hold).")] = False,
    limit: Annotated[int, typer.Option(help="Rows shown in the table (JSON has all).")] = 50,
) -> None:
    """The exception queue: open holds with their reasons and age, oldest first."""
    from pipelines.lib.schema import HOLD_REASONS
    from pipelines.lib.status import open_holds

    if reason is not None and reason.upper() not in HOLD_REASONS:
        raise typer.BadParameter(f"reason must be one of {', '.join(HOLD_REASONS)}")
    settings = get_settings()
    source, found = open_holds(
        settings.warehouse_path,
        settings.reporting_path,
        datetime.now().astimezone(),
        reason.upper() if reason else None,
    )
    if as_json:
        print(json.dumps({"source": source, "holds": found}, default=_json_default, indent=2))
        return
    if not found:
        console.print(f"no open holds (read from: {source})")
        return
    table = Table(title=f"open holds ({len(found):,}, oldest first)")
    for column in ("order", "channel", "status", "reason", "detail", "age"):
        table.add_column(column, overflow="fold")
    for hold in found[:limit]:
        hours = hold["age_hours"]
        age = f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"
        table.add_row(
            hold["order_key"], hold["channel"], hold["status"], hold["reason"], hold["detail"], age
        )
    console.print(table)
    if len(found) > limit:
        console.print(f"... and {len(found) - limit:,} more (--limit, --reason or --json)")
    by_reason: dict[str, int] = {}
    for hold in found:
        by_reason[hold["reason"]] = by_reason.get(hold["reason"], 0) + 1
    console.print(
        "by reason: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(by_reason.items(), key=lambda kv: -kv[1]))
    )
    console.print(f"read from: {source}")


_RELATIVE = re.compile(r"\+(\d+)([mhd])")
_UNIT = {"m": "minutes", "h": "hours", "d": "days"}


def _as_of(value: str, option: str = "--as-of") -> datetime:
    """An ``--as-of`` option's value: an ISO time (UTC when it has no offset), or a time from
    now such as ``+1d``, ``+6h`` or ``+30m``."""
    if relative := _RELATIVE.fullmatch(value.strip()):
        count, unit = relative.groups()
        try:
            return datetime.now(UTC) + timedelta(**{_UNIT[unit]: int(count)})
        except OverflowError:
            raise typer.BadParameter(f"{option} is too far from now: {value!r}") from None
    try:
        return _iso_moment(value)
    except ValueError:
        raise typer.BadParameter(
            f"{option} is neither an ISO time nor a time from now like +1d: {value!r}"
        ) from None


def _iso_moment(value: str) -> datetime:
    """An ISO time, UTC when it has no offset (ValueError when it is none)."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _demo_moment(as_of: str | None, settings) -> datetime:
    """The demo generators' ``--as-of`` (default now); exits when there is no warehouse to
    read yet."""
    moment = _as_of(as_of) if as_of else datetime.now(UTC)
    if not settings.warehouse_path.exists():
        err.print("no warehouse yet: run `make run` first", highlight=False)
        raise typer.Exit(2)
    return moment


@app.command("demo-tracking")
def demo_tracking(
    as_of: Annotated[
        str | None,
        typer.Option(help="Report what carriers would know by this ISO time (default: now)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Write carrier tracking files for every shipped parcel into the inbox (demo data:
    late, failed, out-of-order and repeated events, and a few strangers)."""
    from pipelines.lib.generator.tracking import write_demo_tracking
    from pipelines.lib.warehouse import connect

    settings = get_settings()
    moment = _demo_moment(as_of, settings)
    with connect(settings.warehouse_path, read_only=True) as con:
        written = write_demo_tracking(
            con, settings.inbox, settings.reference_dir, now=moment, seed=seed
        )
    if written is None:
        console.print("no shipped parcel has tracking events yet (manifests close at the cutoff)")
        return
    console.print(
        f"wrote {len(written.paths)} tracking files to {settings.inbox}: {written.events:,} "
        f"events, {written.duplicates:,} repeated, {written.unknown:,} of unknown parcels; "
        "the next `oms run` applies them",
        soft_wrap=True,
        highlight=False,
    )


@app.command("demo-returns")
def demo_returns(
    as_of: Annotated[
        str | None,
        typer.Option(help="Customers and warehouses act up to this ISO time (default: now)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    rate: Annotated[float, typer.Option(help="Share of delivered orders returned.")] = 0.08,
) -> None:
    """Write return requests for delivered orders, and inspection results for authorized
    returns, into the inbox (demo data, with a few bad records for the quarantine)."""
    from pipelines.lib.generator.returns import write_demo_inspections, write_demo_returns

    settings = get_settings()
    moment = _demo_moment(as_of, settings)
    requests = write_demo_returns(
        settings.warehouse_path,
        settings.inbox,
        as_of=moment,
        seed=seed,
        rate=rate,
        reference_dir=settings.reference_dir,
    )
    inspections = write_demo_inspections(
        settings.warehouse_path, settings.inbox, as_of=moment, seed=seed
    )
    for path, what in ((requests, "return requests"), (inspections, "inspection results")):
        if path is not None:
            console.print(f"wrote {what} to {path}", soft_wrap=True, highlight=False)
    if requests is None and inspections is None:
        console.print("nothing to return yet: no delivered order and no authorized return")
    else:
        console.print("the next `oms run` applies them")


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Export files to read.")],
    dry_run: Annotated[bool, typer.Option(help="Parse and normalise only; write nothing.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per order.")] = False,
) -> None:
    """Check exports: parse and normalise, printing canonical orders (nothing is written)."""
    from pipelines.lib.channels import UnreadableFile
    from pipelines.lib.intake import read_file

    if not dry_run:
        raise typer.BadParameter("drop files in the inbox to ingest them; this checks them")
    status_code = 0
    for path in files:
        try:
            parsed = read_file(path)
        except (UnreadableFile, OSError) as exc:
            err.print(f"{path}: {exc}", highlight=False, soft_wrap=True)
            status_code = 2
            continue
        lines_by_order: dict[str, list[dict]] = {}
        for line in parsed.lines.iter_rows(named=True):
            lines_by_order.setdefault(line["order_key"], []).append(line)
        if as_json:
            for order in parsed.orders.iter_rows(named=True):
                order["lines"] = lines_by_order.get(order["order_key"], [])
                sys.stdout.write(json.dumps(order, default=_json_default) + "\n")
        else:
            console.print(
                f"{path}: {parsed.format}, {parsed.orders.height} orders, "
                f"{parsed.lines.height} lines"
            )
    raise typer.Exit(status_code)


@app.command()
def allocate(
    lines: Annotated[Path, typer.Option(help="Open lines (Parquet), see docs.")],
    stock: Annotated[Path, typer.Option(help="ATP per warehouse and SKU (Parquet).")],
    warehouses: Annotated[Path, typer.Option(help="warehouse_id, lat, lon (CSV).")],
    out: Annotated[Path, typer.Option(help="Folder for allocations/backorders.parquet.")],
    max_splits: Annotated[int, typer.Option(help="Most warehouses one order may use.")] = 3,
) -> None:
    """Allocate open lines to warehouses from files, without a warehouse (check, benchmark)."""
    import polars as pl

    # Imported here: numba takes about a second to load, which no other command needs.
    from pipelines.lib.allocation import allocate as allocate_lines
    from pipelines.lib.allocation import read_inputs, write_outputs

    if max_splits < 1:
        raise typer.BadParameter("--max-splits must be at least 1")
    try:
        inputs = read_inputs(lines, stock, warehouses)
        began = time.perf_counter()
        result = allocate_lines(*inputs, max_splits=max_splits)
        seconds = time.perf_counter() - began
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        err.print(f"cannot allocate: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    written = write_outputs(result, out)
    console.print(
        f"{result.orders:,} orders, {result.lines:,} lines: {result.units_allocated:,} of "
        f"{result.units_demanded:,} units allocated ({result.orders_single:,} orders from one "
        f"warehouse, {result.orders_split:,} split), {result.units_backordered:,} backordered; "
        f"{seconds:.2f} s",
        highlight=False,
        soft_wrap=True,
    )
    for path in written:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)


feeds_app = typer.Typer(
    help="Feeds back to the channels: shipment confirmations and available stock "
    "(docs/channel-feeds.md).",
    no_args_is_help=True,
)
app.add_typer(feeds_app, name="feeds")


def _writable_warehouse():
    """The live warehouse opened for writing, or a clear exit when it is missing or busy."""
    import duckdb

    from pipelines.lib.warehouse import connect, migrate

    settings = get_settings()
    if not settings.warehouse_path.exists():
        err.print(f"no warehouse yet at {settings.warehouse_path}: run the batch first (make run)")
        raise typer.Exit(2)
    try:
        connection = connect(settings.warehouse_path)
        con = connection.__enter__()
    except duckdb.IOException as exc:
        err.print(
            f"the warehouse is busy (a batch is writing it): try again when it ends ({exc})",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(3) from None
    try:
        migrate(con)
    except BaseException:
        connection.__exit__(None, None, None)
        raise
    return settings, connection, con


def _audit(action: str, target: str | None, detail: str | None) -> None:
    """A command that changed data, in the audit trail (who: the operating-system user)."""
    import getpass

    from pipelines.lib import audit

    audit.record(
        get_settings().data_dir,
        who=getpass.getuser(),
        role=None,
        app="cli",
        action=action,
        target=target,
        detail=detail,
    )


def _print_feed(feed: dict, outbox: Path) -> None:
    console.print(
        f"{feed['feed_id']} {feed['channel']} {feed['kind']} ({feed['mode']}): "
        f"{feed['records']:,} records, {feed['units']:,} units; {feed['covers']}\n"
        f"  {outbox / feed['folder']}",
        soft_wrap=True,
        highlight=False,
    )


@feeds_app.command("list")
def feeds_list(
    limit: Annotated[int, typer.Option(help="Newest feeds shown.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The newest feeds, with what each covers and where its files are."""
    import duckdb

    from pipelines.lib.channel_feeds import list_feeds
    from pipelines.lib.warehouse import connect

    settings = get_settings()
    sources = [settings.warehouse_path, settings.reporting_path]
    feeds = None
    for source in (s for s in sources if s.exists()):
        try:
            with connect(source, read_only=True) as con:
                feeds = list_feeds(con, limit).to_dicts()
            break
        except (duckdb.IOException, duckdb.CatalogException):
            continue  # busy, or from before the feeds existed: try the snapshot
    if feeds is None:
        err.print("no feeds yet: run the batch first (make run)")
        raise typer.Exit(2)
    if as_json:
        print(json.dumps(feeds, default=_json_default, indent=2))
        return
    if not feeds:
        console.print("no feeds sent yet")
    for feed in feeds:
        state = "written" if feed["written_at"] else "[yellow]not written yet[/]"
        console.print(
            f"{feed['feed_id']} {feed['created_at']:%Y-%m-%d %H:%M} {feed['channel']} "
            f"{feed['kind']} {feed['mode']}"
            + (f" of {feed['resend_of']}" if feed["resend_of"] else "")
            + f" ({state}): {feed['covers']}",
            soft_wrap=True,
            highlight=False,
        )


@feeds_app.command("resend")
def feeds_resend(
    feed_id: Annotated[str, typer.Argument(help="Feed to send again (FD-000012).")],
) -> None:
    """Write a feed's records again into a new folder, for a hand-off that failed. What the
    channels were told does not change, so the next feeds are the same as without it."""
    from pipelines.lib.channel_feeds import resend

    settings, connection, con = _writable_warehouse()
    try:
        feed = resend(
            con,
            feed_id.strip().upper(),
            reference_dir=settings.reference_dir,
            outbox=settings.outbox,
            run_id=f"oms-feeds-resend-{uuid.uuid4().hex[:8]}",
            now=datetime.now(UTC),
        )
    except LookupError as exc:
        err.print(str(exc.args[0]), soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    finally:
        connection.__exit__(None, None, None)
    _audit("feeds_resend", feed["resend_of"], f"written again as {feed['feed_id']}")
    _print_feed(feed, settings.outbox)


@feeds_app.command("stock")
def feeds_stock(
    full: Annotated[
        bool, typer.Option("--full/--changed", help="Every SKU, or only those that changed.")
    ] = True,
    channel: Annotated[
        list[str] | None, typer.Option(help="Only this channel (repeat for more).")
    ] = None,
) -> None:
    """Send available stock now: a full feed of every SKU (the default) or the changed ones."""
    from pipelines.lib.channel_feeds import run_channel_feeds_stage

    settings, connection, con = _writable_warehouse()
    try:
        result = run_channel_feeds_stage(
            con,
            reference_dir=settings.reference_dir,
            outbox=settings.outbox,
            run_id=f"oms-feeds-stock-{uuid.uuid4().hex[:8]}",
            now=datetime.now(UTC),
            full=full,
            channels=tuple(channel) if channel else None,
            confirmations=False,
        )
    except ValueError as exc:
        err.print(str(exc), soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    finally:
        connection.__exit__(None, None, None)
    from pipelines.lib.channel_feeds import load_settings

    off = [c for c, s in load_settings(settings.reference_dir).items() if not s.stock]
    off = [c for c in off if not channel or c in channel]
    if off:
        console.print(
            f"stock feeds are switched off for {', '.join(off)} (data/reference/channels.toml)",
            soft_wrap=True,
            highlight=False,
        )
    if not result.feeds:
        console.print("nothing to send: every channel already has these figures")
    if result.feeds:
        _audit(
            "feeds_stock",
            ", ".join(f["feed_id"] for f in result.feeds),
            f"{'full' if full else 'changed SKUs'} stock feed for "
            + ", ".join(f["channel"] for f in result.feeds),
        )
    for feed in result.feeds:
        _print_feed(feed, settings.outbox)


@app.command("forget-customer")
def forget_customer(
    email: Annotated[
        str | None, typer.Option(help="The customer's email address: every order with it.")
    ] = None,
    order: Annotated[
        str | None,
        typer.Option(help="An order key (shopify:1001): every order of that order's customer."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask to confirm.")] = False,
) -> None:
    """Erase a customer's personal data everywhere it is stored (warehouse, archived exports,
    outbox documents and mail, the snapshots), keeping the financial and stock facts. Safe to
    run again: a second run changes nothing. Refused while an order of theirs is still open."""
    import getpass

    from pipelines.lib.erasure import ErasureRefused, resolve
    from pipelines.lib.erasure import forget_customer as forget
    from pipelines.lib.privacy import FILE_ACTIONS, MissingKey, pii_key
    from pipelines.lib.warehouse import publish_snapshot

    if (email is None) == (order is None):
        raise typer.BadParameter("give exactly one of --email or --order")
    settings, connection, con = _writable_warehouse()
    who = getpass.getuser()
    try:
        try:
            key = pii_key(settings.data_dir)
        except MissingKey as exc:
            err.print(str(exc), soft_wrap=True, highlight=False)
            raise typer.Exit(2) from None
        try:
            orders, _, _ = resolve(con, key, email=email, order_key=order)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        if not orders:
            console.print("no order of this customer is stored: nothing to erase")
            _audit("forget_customer", None, "no order found; nothing erased")
            return
        console.print(f"{len(orders)} order(s): {', '.join(orders)}", soft_wrap=True)
        if not yes:
            typer.confirm("Erase this customer's personal data from all of them?", abort=True)
        try:
            result = forget(
                con,
                key=key,
                data_dir=settings.data_dir,
                reference_dir=settings.reference_dir,
                email=email,
                order_key=order,
                requested_by=who,
                now=datetime.now(UTC),
            )
        except ErasureRefused as exc:
            err.print(str(exc), soft_wrap=True, highlight=False)
            raise typer.Exit(1) from None
        publish_snapshot(con, settings.reporting_path, key=key)
    finally:
        connection.__exit__(None, None, None)
    counts = {a: sum(1 for f in result.files if f.action == a) for a in FILE_ACTIONS}
    summary = (
        f"{len(result.orders)} order(s), {len(result.newly_erased)} erased now; "
        f"{result.rows_scrubbed} free-text row(s) scrubbed; files: "
        + ", ".join(f"{n} {a.replace('_', ' ')}" for a, n in counts.items())
    )
    if result.finished_interrupted:
        summary += (
            "; finished an erasure whose earlier run stopped before its files were recorded "
            "(the files it handled then are not listed)"
        )
    # The audit record names the erasure, never the address (it would undo the erasure).
    _audit("forget_customer", result.erasure_id, summary)
    if not result.changed:
        console.print(f"{result.erasure_id}: already erased, nothing left to change")
    else:
        console.print(f"{result.erasure_id}: {summary}", soft_wrap=True, highlight=False)
    for f in result.files:
        if f.action == "needs_review":
            err.print(f"needs review: {f.path}: {f.detail}", soft_wrap=True, highlight=False)


@app.command("schema")
def schema_doc() -> None:
    """Print the canonical tables and their columns (Markdown)."""
    from pipelines.lib.schema import describe

    print(describe())


if __name__ == "__main__":
    app()

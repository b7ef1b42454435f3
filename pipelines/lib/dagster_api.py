"""Talk to a running Dagster webserver through its GraphQL API (the ops pages' "process now").

The webserver is ``make ui``'s ``dagster dev``; its address comes from ``OMS_DAGSTER_URL``
(default ``http://127.0.0.1:3000``). Every failure is a :class:`DagsterUnavailable` whose
message says plainly what is wrong, so a page can show it as it is.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

import requests

URL_ENV = "OMS_DAGSTER_URL"
DEFAULT_URL = "http://127.0.0.1:3000"
#: Seconds to wait for the webserver before saying it is not there.
TIMEOUT = 5
#: Seconds a run submission may take: launching a run takes seconds, more while another
#: run is starting.
SUBMIT_TIMEOUT = 60
#: Tag that identifies one submission, so a run created after a timed-out answer is found.
SUBMISSION_TAG = "oms/submission"

_RUN_BY_TAG = """
query RunByTag($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}, limit: 1) {
    ... on Runs { results { runId } }
  }
}
"""


class DagsterUnavailable(RuntimeError):
    """The webserver cannot be reached, or refused the request; the message says which."""


def webserver_url() -> str:
    return os.environ.get(URL_ENV, DEFAULT_URL).rstrip("/")


def _client(url: str, timeout: int = TIMEOUT):
    from dagster_graphql import DagsterGraphQLClient

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DagsterUnavailable(f"{URL_ENV} is not an http(s) address: {url!r}")
    return DagsterGraphQLClient(
        parts.hostname,
        port_number=parts.port,
        use_https=parts.scheme == "https",
        timeout=timeout,
        path_prefix=parts.path.rstrip("/"),
    )


def is_running(url: str | None = None) -> bool:
    """True when a Dagster webserver answers at ``url`` (default :func:`webserver_url`)."""
    url = url or webserver_url()
    try:
        response = requests.get(f"{url}/server_info", timeout=TIMEOUT)
    except requests.RequestException:
        return False
    return response.ok and "dagster_webserver_version" in response.text


def _run_tagged(url: str, key: str, value: str) -> str | None:
    """The id of a run tagged ``key=value``, if the webserver has one."""
    try:
        response = requests.post(
            f"{url}/graphql",
            json={"query": _RUN_BY_TAG, "variables": {"key": key, "value": value}},
            timeout=TIMEOUT,
        )
        runs = response.json()["data"]["runsOrError"].get("results") or []
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None
    return runs[0]["runId"] if runs else None


def submit_job(job_name: str = "order_batch", *, url: str | None = None, tags=None) -> str:
    """Submit a run of ``job_name`` and return its run id. The run waits in the instance's
    queue when a writer is already running; raises :class:`DagsterUnavailable`.

    An answer that comes too late does not mean no run: the submission carries its own tag,
    and a run that has it is found and returned instead of an error (so a retry by the user
    does not queue the same work twice)."""
    from dagster_graphql import DagsterGraphQLClientError

    url = url or webserver_url()
    if not is_running(url):
        raise DagsterUnavailable(
            f"the Dagster webserver is not running at {url}: start it with `make ui`, or run "
            "the batch with `make run`"
        )
    submission = uuid.uuid4().hex
    tags = {**dict(tags or {}), SUBMISSION_TAG: submission}
    try:
        return _client(url, SUBMIT_TIMEOUT).submit_job_execution(job_name, tags=tags)
    except (DagsterGraphQLClientError, requests.RequestException) as exc:
        found = _run_tagged(url, SUBMISSION_TAG, submission)
        if found is not None:
            return found
        raise DagsterUnavailable(f"Dagster at {url} did not start {job_name}: {exc}") from exc


def run_status(run_id: str, *, url: str | None = None) -> str:
    """The run's status as Dagster names it (QUEUED, STARTED, SUCCESS, FAILURE, ...)."""
    from dagster_graphql import DagsterGraphQLClientError

    url = url or webserver_url()
    try:
        return _client(url).get_run_status(run_id).value
    except (DagsterGraphQLClientError, requests.RequestException) as exc:
        raise DagsterUnavailable(f"cannot read run {run_id} from {url}: {exc}") from None

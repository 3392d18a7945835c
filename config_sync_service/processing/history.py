"""What a pass leaves in the sync history (db/history.py): one row built from its `Result`, in one place.

The outcome is the result's (core/metrics.py `Outcome`, so every outcome defined there can be recorded), except
for failures: a pass whose failure went to the dead-letter list is `dead_lettered`, and one whose failure was
written and will be retried is `failed` (the retry is the next pass's row); one that repairs an agent observation
found drifted or missing is `healed`. A poll that found the deployment still in progress (or could not ask, and
will ask again) changed nothing and leaves no row.
"""

from __future__ import annotations

import time

from config_sync_service.core.metrics import Outcome
from config_sync_service.db import history
from config_sync_service.db.models import LiveHealth
from config_sync_service.processing.passes import Pass, Result
from config_sync_service.processing.plan import Action

REPAIRS = (Outcome.APPLIED, Outcome.DEPLOYING, Outcome.VANISHED)
UNHEALTHY = (LiveHealth.DRIFTED, LiveHealth.MISSING)


def entry_for(current: Pass, result: Result, *, process: str) -> history.Entry | None:
    """The history row of a pass that ends with `result`; None when it leaves none."""
    if current.plan.action is Action.POLL and result.write is None and result.dead_letter is None:
        return None
    write = result.write
    outcome = result.outcome
    if result.dead_letter is not None:
        outcome = Outcome.DEAD_LETTERED
    elif outcome is Outcome.RETRY and write is not None:
        outcome = Outcome.FAILED
    elif outcome in REPAIRS and current.plan.action is not Action.POLL and current.agent.live_health in UNHEALTHY:
        outcome = Outcome.HEALED  # the pass that repairs what observation found drifted or missing (self-heal)
    fields = write.fields if write is not None else {}
    deployment = fields.get("pipecat_cloud_instance_id", current.agent.pipecat_cloud_instance_id)
    error_class, error_message = fields.get("error_class"), fields.get("error_message")
    return history.Entry(
        agent_id=current.agent.id,
        version=current.plan.version or None,
        action=current.plan.action.value,
        outcome=outcome.value,
        process=process,
        duration_ms=round((time.monotonic() - current.started) * 1000),
        sync_status=None if write is None else write.status.value,
        deployment_id=deployment if isinstance(deployment, str) else None,
        error_class=error_class if isinstance(error_class, str) else None,
        error_message=error_message if isinstance(error_message, str) else None,
    )

"""Data migrations of sales: the forecast's roll-ups (0003) set aside funnel roll-ups built
before them, which have no forecast rows, so reports read the deals until the job rebuilds."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from huike.accounts.models import Workspace

pytestmark = pytest.mark.django_db(transaction=True)


def test_roll_ups_built_before_the_forecast_rows_are_set_aside(workspace: Workspace) -> None:
    # given: the schema before 0003, with a pipeline whose funnel roll-ups are built
    executor = MigrationExecutor(connection)
    executor.migrate([("sales", "0002_funnel_rollups")])
    old = executor.loader.project_state([("sales", "0002_funnel_rollups")]).apps
    pipeline = old.get_model("sales", "Pipeline").objects.create(
        workspace_id=workspace.pk, name="Old pipeline"
    )
    old.get_model("sales", "FunnelRollup").objects.create(
        workspace_id=workspace.pk, pipeline=pipeline, basis={"zone": "UTC"}, built_at=timezone.now()
    )
    try:
        # when
        executor = MigrationExecutor(connection)
        executor.migrate([("sales", "0003_forecast_rollups")])
        # then
        new = executor.loader.project_state([("sales", "0003_forecast_rollups")]).apps
        state = new.get_model("sales", "FunnelRollup").objects.get(pipeline_id=pipeline.pk)
        assert state.built_at is None
    finally:
        # every app back at its latest migration, for the tests that follow
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

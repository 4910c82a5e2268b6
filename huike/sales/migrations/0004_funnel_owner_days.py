from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def _rebuild_the_roll_ups(apps: Any, schema_editor: Any) -> None:
    """Roll-ups built before this migration have no days per owner and team, and their
    deltas none of either: set them aside, so reports read the deals until the refresh job
    rebuilds them (within a minute of the worker's next run)."""
    apps.get_model("sales", "FunnelRollup").objects.update(built_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_membership_invitation"),
        ("sales", "0003_forecast_rollups"),
    ]

    operations = [
        migrations.AddField(
            model_name="funneldelta",
            name="owner_id",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="funneldelta",
            name="team_id",
            field=models.BigIntegerField(null=True),
        ),
        migrations.CreateModel(
            name="FunnelOwnerDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("owner_id", models.BigIntegerField(null=True)),
                ("team_id", models.BigIntegerField(null=True)),
                ("deals", models.PositiveIntegerField(default=0)),
                ("sums", models.JSONField(default=dict)),
                (
                    "pipeline",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="sales.pipeline",
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.workspace",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["pipeline", "day"], name="funnelownerday_day_idx")
                ],
            },
        ),
        migrations.RunPython(_rebuild_the_roll_ups, migrations.RunPython.noop),
    ]

from typing import Any

from django.db import migrations, models


def _rebuild_the_roll_ups(apps: Any, schema_editor: Any) -> None:
    """Roll-ups built before this migration have no month rows: set them aside, so reports
    read the deals until the refresh job rebuilds them."""
    apps.get_model("sales", "FunnelRollup").objects.update(built_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_membership_invitation"),
        ("sales", "0005_rep_claim_limits"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="funnelday",
            name="funnelday_unique_day",
        ),
        migrations.AddField(
            model_name="funnelday",
            name="is_month",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="funnelownerday",
            name="is_month",
            field=models.BooleanField(default=False),
        ),
        migrations.AddConstraint(
            model_name="funnelday",
            constraint=models.UniqueConstraint(
                fields=("pipeline", "is_month", "day"), name="funnelday_unique_day"
            ),
        ),
        migrations.RunPython(_rebuild_the_roll_ups, migrations.RunPython.noop),
    ]

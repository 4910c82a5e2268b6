from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0006_funnel_month_rows"),
    ]

    operations = [
        migrations.AlterField(
            model_name="funnelownerday",
            name="deals",
            field=models.IntegerField(default=0),
        ),
    ]

from django.tasks import task

from huike.inbox import services


@task
def wake_snoozed_conversations() -> int:
    return services.snoozed_wake()

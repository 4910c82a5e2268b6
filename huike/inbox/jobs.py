from django.tasks import task

from huike.inbox import services


@task
def wake_snoozed_conversations() -> int:
    return services.snoozed_wake()


@task
def purge_realtime_notices() -> int:
    """Notices the web process has not relayed (no websocket open in embedded mode) do not
    pile up."""
    from huike.inbox.realtime import notices_purge

    return notices_purge()

"""A run that crashes mid-way resumes from its checkpoint without duplicating rows, and a
run started again (as the worker's recovery does) is harmless."""

from typing import Any

import pytest

from huike.accounts.access import Actor
from huike.core.models import AuditEntry
from huike.customers.imports import services
from huike.customers.imports.tasks import run_import
from huike.customers.models import Customer, Event, Identity, ImportJob, ImportRowError
from huike.customers.permissions import CustomerAudit
from huike.customers.tests.test_import_support import (  # noqa: F401
    csv_bytes,
    import_storage,
    upload,
)

pytestmark = pytest.mark.usefixtures("import_storage")

ROWS = 10_000


def _big_file() -> bytes:
    rows = [["name", "phone", "email"]]
    for number in range(ROWS):
        # Every 1000th row has a broken phone: errors must not be recorded twice either.
        phone = "123" if number % 1000 == 999 else f"139{number:08d}"
        rows.append([f"客户{number}", phone, f"c{number}@example.cn"])
    return csv_bytes(rows)


def test_an_interrupted_import_resumes_without_duplicates(
    owner_actor: Actor, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a 10,000-row file (5 batches) and a worker that dies in the third batch
    assert services.BATCH_SIZE == 2000
    job = upload(owner_actor, _big_file())
    services.import_mapping_set(actor=owner_actor, job=job, mapping=job.mapping, mode="upsert")
    settings.HUIKE_IMPORT_CRASH_AFTER_BATCHES = 2
    # when the import runs
    with django_capture_on_commit_callbacks(execute=True):
        services.import_start(actor=owner_actor, job=job)
    # then two batches are written, the third rolled back, and the job waits at its checkpoint
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    assert (job.next_line, job.rows_done, job.created_count, job.error_count) == (
        4002,
        4000,
        3996,
        4,
    )
    assert Customer.objects.count() == 3996
    assert ImportRowError.objects.filter(job=job).count() == 4

    # when the worker's recovery runs the task again
    del settings.HUIKE_IMPORT_CRASH_AFTER_BATCHES
    with django_capture_on_commit_callbacks(execute=True):
        run_import.enqueue(job.pk)
    # then the rest is imported once: no customer, identity, event or error twice
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FINISHED
    assert (job.rows_done, job.created_count, job.updated_count, job.error_count) == (
        10_000,
        9_990,
        0,
        10,
    )
    assert Customer.objects.count() == 9_990
    assert Identity.objects.filter(kind="phone").count() == 9_990
    assert Identity.objects.filter(kind="email").count() == 9_990
    assert Event.objects.filter(kind="customer.created").count() == 9_990
    assert list(
        ImportRowError.objects.filter(job=job).order_by("line").values_list("line", flat=True)
    ) == [1001 + 1000 * index for index in range(10)]
    # and one audit entry tells of the whole import
    entries = AuditEntry.objects.filter(action=CustomerAudit.IMPORTED)
    assert [entry.data["created"] for entry in entries] == [9_990]


def test_running_a_finished_import_again_changes_nothing(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given a finished import
    job = upload(owner_actor, csv_bytes([["name", "phone"], ["A", "13912345678"]]))
    services.import_mapping_set(actor=owner_actor, job=job, mapping=job.mapping, mode="upsert")
    with django_capture_on_commit_callbacks(execute=True):
        services.import_start(actor=owner_actor, job=job)
    # when its task runs once more (a duplicate delivery)
    assert services.import_run(job.pk) == "nothing to do"
    # then nothing changed
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.created_count) == ("finished", 1, 1)
    assert Customer.objects.count() == 1
    assert AuditEntry.objects.filter(action=CustomerAudit.IMPORTED).count() == 1


def test_a_second_run_of_the_same_job_stops_at_the_moved_checkpoint(
    owner_actor: Actor, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a run that wrote one batch of three and died
    rows = [["name", "phone"]] + [[f"n{i}", f"139{i:08d}"] for i in range(5000)]
    job = upload(owner_actor, csv_bytes(rows))
    services.import_mapping_set(actor=owner_actor, job=job, mapping=job.mapping, mode="create")
    settings.HUIKE_IMPORT_CRASH_AFTER_BATCHES = 1
    with django_capture_on_commit_callbacks(execute=True):
        services.import_start(actor=owner_actor, job=job)
    stale = ImportJob.objects.get(pk=job.pk)
    del settings.HUIKE_IMPORT_CRASH_AFTER_BATCHES
    # when one run finishes the job and a stale copy of the checkpoint tries to write again
    assert services.import_run(job.pk) == "finished"
    stale.next_line = 2
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    from huike.customers.imports.pipeline import ImportContext

    context = ImportContext(job=stale, actor=owner_actor)
    written = services._commit_batch(context, [(2, ["n0", "13900000000"])], next_line=3, number=0)
    # then the stale run writes nothing: in create mode it would have reported a duplicate
    assert written is False
    assert Customer.objects.count() == 5000
    assert ImportRowError.objects.filter(job=job).count() == 0


def test_a_job_whose_member_left_fails_with_the_reason_and_can_be_resumed(
    owner_actor: Actor,
    make_member: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given an import started by a manager who is deactivated before the worker runs it
    manager = make_member("manager@acme.test", "manager")
    actor = Actor.for_membership(manager)
    job = upload(actor, csv_bytes([["name", "phone"], ["A", "13912345678"]]))
    services.import_mapping_set(actor=actor, job=job, mapping=job.mapping, mode="upsert")
    services.import_start(actor=actor, job=job)  # enqueued on commit: not run yet
    manager.is_active = False
    manager.save()
    # when the worker runs it
    assert services.import_run(job.pk) == "failed"
    # then it stopped with the reason and imported nothing
    job.refresh_from_db()
    assert (job.status, job.failure) == (
        "failed",
        "The member who started this import is no longer active.",
    )
    assert Customer.objects.count() == 0
    # and once the member is back, starting it again finishes it
    manager.is_active = True
    manager.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.import_start(actor=actor, job=job)
    job.refresh_from_db()
    assert (job.status, job.created_count) == ("finished", 1)


def test_a_rolled_back_batch_leaves_no_unstored_data_key_in_the_jobs_cache(
    owner_actor: Actor,
) -> None:
    # given a workspace with no data keys yet, and a job's context (shared by its batches)
    from django.db import transaction

    from huike.core.crypto import WorkspaceKeys
    from huike.core.models import DataKey
    from huike.customers.imports.pipeline import ImportContext

    workspace_id = owner_actor.workspace.pk
    DataKey.objects.filter(workspace_id=workspace_id).delete()
    job = upload(owner_actor, csv_bytes([["name", "phone"], ["Li", "13900000001"]]))
    context = ImportContext(job=job, actor=owner_actor)
    where = {"table": "customers_identity", "column": "value_token", "row_key": "1"}
    # when a batch makes the workspace's first key, then its transaction rolls back (a retry)
    with transaction.atomic():
        context.keys.encrypt(plaintext="first try", **where)
        transaction.set_rollback(True)
    assert not DataKey.objects.filter(workspace_id=workspace_id).exists()
    services._forget_rolled_back(context)
    # then the retried rows are sealed with a key that is stored: anyone can open them
    token = context.keys.encrypt(plaintext="retried", **where)
    assert DataKey.objects.filter(workspace_id=workspace_id).exists()
    assert WorkspaceKeys(workspace_id).decrypt(token=token, **where) == "retried"

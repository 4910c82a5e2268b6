"""Modes create-only / update-only / upsert, dedup against existing customers by phone, email
and external id, rows naming two customers, record visibility, companies, saved mappings, the
dry run."""

from collections.abc import Callable
from typing import Any

import pytest

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, InvalidInputError
from huike.customers.imports import services
from huike.customers.models import (
    Company,
    Customer,
    CustomerMerge,
    Identity,
    ImportMapping,
    ImportRowError,
)
from huike.customers.services import company_create
from huike.customers.tests.test_import_support import (  # noqa: F401
    csv_bytes,
    import_storage,
    run_job,
    upload,
)

pytestmark = pytest.mark.usefixtures("import_storage")

FILE = csv_bytes(
    [
        ["name", "phone", "email"],
        ["Existing renamed", "13912345678", ""],
        ["Newcomer", "13912345679", "new@example.cn"],
    ]
)


@pytest.fixture
def importer(make_member: Callable[..., Any]) -> Actor:
    """A marketing member: may import (customers.import) and sees only their own records."""
    return Actor.for_membership(make_member("marketer@acme.test", "marketing"))


@pytest.fixture
def existing(make_customer: Callable[..., Customer]) -> Customer:
    return make_customer(name="Existing", phone="13912345678")


def _errors(job: Any) -> list[tuple[int, str]]:
    return list(
        ImportRowError.objects.filter(job=job).order_by("line").values_list("line", "reason")
    )


def test_create_only_creates_new_and_reports_existing(
    owner_actor: Actor, existing: Customer, django_capture_on_commit_callbacks: Any
) -> None:
    job = run_job(
        owner_actor, upload(owner_actor, FILE), django_capture_on_commit_callbacks, mode="create"
    )
    assert (job.created_count, job.updated_count, job.error_count) == (1, 0, 1)
    assert _errors(job) == [(2, "A customer with this phone, email or external ID exists already.")]
    existing.refresh_from_db()
    assert existing.name == "Existing"
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["Existing", "Newcomer"]


def test_update_only_changes_existing_and_skips_new(
    owner_actor: Actor, existing: Customer, django_capture_on_commit_callbacks: Any
) -> None:
    job = run_job(
        owner_actor, upload(owner_actor, FILE), django_capture_on_commit_callbacks, mode="update"
    )
    assert (job.created_count, job.updated_count, job.skipped_count, job.error_count) == (
        0,
        1,
        1,
        0,
    )
    existing.refresh_from_db()
    assert existing.name == "Existing renamed"
    assert Customer.objects.count() == 1


def test_upsert_does_both_and_a_second_run_changes_nothing(
    owner_actor: Actor, existing: Customer, django_capture_on_commit_callbacks: Any
) -> None:
    job = run_job(owner_actor, upload(owner_actor, FILE), django_capture_on_commit_callbacks)
    assert (job.created_count, job.updated_count) == (1, 1)
    assert sorted(Customer.objects.values_list("name", flat=True)) == [
        "Existing renamed",
        "Newcomer",
    ]
    # when the same file is imported again
    again = run_job(owner_actor, upload(owner_actor, FILE), django_capture_on_commit_callbacks)
    # then every row is skipped: nothing to change
    assert (again.created_count, again.updated_count, again.skipped_count) == (0, 0, 2)
    assert Customer.objects.count() == 2
    assert Identity.objects.count() == 3


def test_external_ids_are_identities_of_the_named_system(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given a first import with ids of the ERP "sap"
    first = csv_bytes([["外部ID", "姓名"], ["C-1", "甲"], ["C-2", "乙"]])
    job = upload(owner_actor, first)
    assert job.mapping == {"外部ID": "external_id", "姓名": "name"}
    run_job(owner_actor, job, django_capture_on_commit_callbacks, system="sap")
    assert sorted(Identity.objects.values_list("kind", flat=True)) == ["crm:sap", "crm:sap"]
    # when a later file names the same ids
    second = csv_bytes([["外部ID", "姓名", "手机"], ["C-1", "甲二", "13912345678"]])
    job = run_job(
        owner_actor, upload(owner_actor, second), django_capture_on_commit_callbacks, system="sap"
    )
    # then it updates the same customer
    assert (job.created_count, job.updated_count) == (0, 1)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["乙", "甲二"]
    # and ids of another system are other customers
    job = run_job(
        owner_actor, upload(owner_actor, first), django_capture_on_commit_callbacks, system="crm2"
    )
    assert job.created_count == 2


def test_a_row_naming_two_customers_is_reported_not_merged(
    owner_actor: Actor,
    make_customer: Callable[..., Customer],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given two customers, one by phone and one by email
    first = make_customer(name="First", phone="13912345678")
    second = make_customer(name="Second", email="second@example.cn")
    content = csv_bytes([["name", "phone", "email"], ["Both", "13912345678", "second@example.cn"]])
    # when a row names both
    job = run_job(owner_actor, upload(owner_actor, content), django_capture_on_commit_callbacks)
    # then it is an error and both stay as they were
    assert _errors(job) == [
        (
            2,
            "These values belong to two different customers; merge them first, then import "
            "the row again.",
        )
    ]
    assert CustomerMerge.objects.count() == 0
    assert sorted(Customer.objects.values_list("name", "status")) == [
        ("First", "active"),
        ("Second", "active"),
    ]
    assert first.identities.count() == 1
    assert second.identities.count() == 1


def test_an_importer_cannot_change_customers_outside_their_records(
    importer: Actor,
    existing: Customer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a customer owned by the admin, invisible to a marketing member (own records only)
    # when the marketer imports a row matching it
    job = run_job(importer, upload(importer, FILE), django_capture_on_commit_callbacks)
    # then that row is refused and only the new customer is created, owned by the importer
    assert _errors(job) == [(2, "The matching customer is not one of the records you may change.")]
    existing.refresh_from_db()
    assert existing.name == "Existing"
    newcomer = Customer.objects.get(name="Newcomer")
    assert newcomer.owner == importer.membership


def test_member_without_import_permission_can_do_nothing(member_actor: Actor) -> None:
    from huike.core.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        upload(member_actor, FILE)
    assert services.ImportJob.objects.count() == 0


def test_companies_are_deduplicated_by_domain_then_name(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given two existing companies
    company_create(actor=owner_actor, data={"name": "华为", "domain": "huawei.com"})
    company_create(actor=owner_actor, data={"name": "Acme Trading"})
    content = csv_bytes(
        [
            ["公司名称", "网站", "行业", "规模", "地区"],
            ["华为技术", "https://www.huawei.com/cn", "通信", "1000+", "深圳"],
            ["Acme Trading", "", "Retail", "120", "上海"],
            ["New Co", "new.example", "", "small", ""],
            ["New Co", "new.example", "SaaS", "", ""],
            ["Bad Size", "", "", "huge", ""],
        ]
    )
    job = upload(owner_actor, content, name="companies.csv", kind="companies")
    assert job.mapping == {
        "公司名称": "name",
        "网站": "domain",
        "行业": "industry",
        "规模": "size",
        "地区": "region",
    }
    # when imported with upsert
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then the domain match renames Huawei, the name match fills Acme, New Co is created once
    assert (job.created_count, job.updated_count, job.error_count) == (1, 3, 1)
    assert sorted(Company.objects.values_list("name", "domain", "industry", "size", "region")) == [
        ("Acme Trading", "", "Retail", "50-249", "上海"),
        ("New Co", "new.example", "SaaS", "10-49", ""),
        ("华为技术", "huawei.com", "通信", "1000+", "深圳"),
    ]
    assert [line for line, _reason in _errors(job)] == [6]


def test_saved_mappings_are_reused_for_the_next_file(owner_actor: Actor) -> None:
    # given a mapping saved with a first file
    job = upload(owner_actor, csv_bytes([["客户", "Tel"], ["A", "13912345678"]]))
    services.import_mapping_set(
        actor=owner_actor,
        job=job,
        mapping={"客户": "name", "Tel": "phone"},
        mode="create",
        system="erp",
        save_as="ERP weekly",
    )
    saved = ImportMapping.objects.get()
    assert (saved.name, saved.mapping, saved.mode, saved.system) == (
        "ERP weekly",
        {"客户": "name", "Tel": "phone"},
        "create",
        "erp",
    )
    # when the next file (one column more) uses it
    other = upload(owner_actor, csv_bytes([["客户", "Tel", "Note"], ["B", "13912345679", "x"]]))
    other = services.import_mapping_apply(actor=owner_actor, job=other, saved=saved)
    # then its columns are mapped like before
    assert (other.mapping, other.mode, other.system, other.status) == (
        {"客户": "name", "Tel": "phone"},
        "create",
        "erp",
        "ready",
    )


def test_a_mapping_without_any_identity_column_is_refused(owner_actor: Actor) -> None:
    job = upload(owner_actor, csv_bytes([["name", "phone"], ["A", "13912345678"]]))
    with pytest.raises(InvalidInputError) as raised:
        services.import_mapping_set(
            actor=owner_actor, job=job, mapping={"name": "name"}, mode="upsert"
        )
    assert raised.value.field == "mapping"
    with pytest.raises(InvalidInputError):
        services.import_mapping_set(
            actor=owner_actor, job=job, mapping={"name": "name", "phone": "nonsense"}, mode="upsert"
        )
    job.refresh_from_db()
    assert job.status == "uploaded"


def test_the_dry_run_shows_each_outcome_and_writes_nothing(
    owner_actor: Actor, existing: Customer
) -> None:
    # given a file with an update, a create, a duplicate and an error
    content = csv_bytes(
        [
            ["name", "phone"],
            ["Existing", "13912345678"],
            ["Same again", "13912345678"],
            ["New", "13912345679"],
            ["Broken", "1"],
        ]
    )
    job = upload(owner_actor, content)
    services.import_mapping_set(actor=owner_actor, job=job, mapping=job.mapping, mode="upsert")
    # when dry-run
    report = services.import_dry_run(actor=owner_actor, job=job)
    # then each row's outcome is shown, with totals, and nothing was written
    assert [(row["line"], row["action"]) for row in report["rows"]] == [
        (2, "skip"),
        (3, "update"),
        (4, "create"),
        (5, "error"),
    ]
    assert report["rows"][3]["problems"][0]["column"] == "phone"
    assert report["totals"] == {"create": 1, "update": 1, "skip": 1, "error": 1}
    assert (report["checked"], report["is_complete"]) == (4, True)
    assert list(Customer.objects.values_list("name", flat=True)) == ["Existing"]
    assert ImportRowError.objects.count() == 0
    job.refresh_from_db()
    assert job.dry_run == report
    # and once started the mapping cannot change
    job.status = "finished"
    job.save()
    with pytest.raises(ConflictError):
        services.import_mapping_set(actor=owner_actor, job=job, mapping=job.mapping, mode="create")


def test_a_company_column_links_customers_to_one_company_each(
    owner_actor: Actor, existing: Customer, django_capture_on_commit_callbacks: Any
) -> None:
    # given an existing company and a file naming it and a new one
    known = company_create(actor=owner_actor, data={"name": "汇客科技"})
    content = csv_bytes(
        [
            ["姓名", "手机", "公司"],
            ["Existing", "13912345678", "汇客科技"],
            ["甲", "13912345671", "新公司"],
            ["乙", "13912345672", "新公司"],
        ]
    )
    # when imported
    job = run_job(owner_actor, upload(owner_actor, content), django_capture_on_commit_callbacks)
    # then the existing customer joins the known company and both new ones the one new company
    assert (job.created_count, job.updated_count) == (2, 1)
    existing.refresh_from_db()
    assert existing.company == known
    assert Company.objects.count() == 2
    assert sorted(Customer.objects.values_list("name", "company__name")) == [
        ("Existing", "汇客科技"),
        ("乙", "新公司"),
        ("甲", "新公司"),
    ]

"""A person imports a small CSV through the wizard: upload, map the columns, dry run, start,
and sees the finished job with its counts (tasks run at once: see conftest's TASKS)."""

from typing import Any

import pytest
from django.test import override_settings

from conftest import PASSWORD
from huike.customers.models import Customer, ImportJob
from huike.customers.tests.test_import_support import csv_bytes, import_storage  # noqa: F401
from tests.browser.test_shell import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("import_storage"),
]

STATIC_SETTINGS = {
    "STORAGES": {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
}
CONTENT = csv_bytes(
    [
        ["姓名", "手机", "备注"],
        ["张三", "13912345678", "a"],
        ["李四", "not a phone", "b"],
        ["王五", "+86 139 1234 5679", "c"],
    ]
)


@override_settings(**STATIC_SETTINGS)
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (375, 740)])
def test_a_csv_is_imported_through_the_wizard(
    live_server: Any, browser: Any, owner: Any, width: int, height: int
) -> None:
    # given the admin of Acme, signed in
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, "owner@acme.test", PASSWORD)
    # when they upload the file on the first step
    page.goto(f"{base}/customers/imports/")
    page.click("[data-testid=import-new]")
    page.select_option("select[name=kind]", "customers")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": CONTENT}],
    )
    page.click("[data-testid=upload]")
    page.wait_for_selector("[data-testid=mapping-form]")
    # then the columns are mapped from their Chinese names, and the note is ignored
    assert page.input_value("select[name=column_0]") == "name"
    assert page.input_value("select[name=column_1]") == "phone"
    assert page.input_value("select[name=column_2]") == ""
    # when they map the note to nothing explicitly and run the dry run
    page.select_option("select[name=column_2]", "")
    page.select_option("select[name=mode]", "upsert")
    page.click("[data-testid=dry-run]")
    result = page.wait_for_selector("[data-testid=dry-run-result]")
    assert "3 rows checked, nothing written" in result.inner_text()
    assert Customer.objects.count() == 0
    # and start the import
    page.click("[data-testid=start]")
    page.wait_for_selector("[data-testid=progress]")
    # then the job page shows it finished with its counts
    assert page.inner_text("[data-testid=import-status]") == "Finished"
    assert page.inner_text("[data-testid=count-created]") == "2"
    assert page.inner_text("[data-testid=count-errors]") == "1"
    assert page.is_visible("[data-testid=error-file]")
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["张三", "王五"]
    assert ImportJob.objects.get().status == "finished"
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width + 1
    assert errors == []
    context.close()

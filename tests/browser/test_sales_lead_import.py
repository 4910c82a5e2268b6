"""A sales rep imports leads from the leads page through the import wizard, in Chinese on a
phone: the columns are mapped from their Chinese names, the dry run and the run show their
counts, and the bad row is reported (tasks run at once: see conftest's TASKS)."""

from typing import Any

import pytest
from django.test import override_settings

from conftest import PASSWORD
from huike.customers.models import ImportJob
from huike.customers.tests.test_import_support import csv_bytes, import_storage  # noqa: F401
from huike.sales.models import Lead
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("import_storage"),
]

CONTENT = csv_bytes(
    [
        ["姓名", "手机", "公司", "备注"],
        ["张三", "13912345678", "华东贸易", "想要报价"],
        ["李四", "不是号码", "", ""],
        ["王五", "+86 139 1234 5679", "", ""],
    ]
)


@override_settings(**STATIC_SETTINGS)
def test_a_rep_imports_leads_in_chinese_on_a_phone(
    live_server: Any, browser: Any, member: Any
) -> None:
    # given a sales rep, signed in, on a phone, in Chinese
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, member.user.email, PASSWORD)
    # when they follow "import" on the leads page and upload the file
    page.goto(f"{base}/sales/leads/")
    page.click("[data-testid=lead-import]")
    assert page.input_value("select[name=kind]") == "leads"
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "展会线索.csv", "mimeType": "text/csv", "buffer": CONTENT}],
    )
    page.click("[data-testid=upload]")
    page.wait_for_selector("[data-testid=mapping-form]")
    # then the columns are mapped from their Chinese names, with no customers' mode to choose
    assert [page.input_value(f"select[name=column_{n}]") for n in range(4)] == [
        "name",
        "phone",
        "company_name",
        "message",
    ]
    assert page.locator("select[name=mode]").count() == 0
    # when they dry run, then start
    page.click("[data-testid=dry-run]")
    result = page.wait_for_selector("[data-testid=dry-run-result]")
    assert "已检查 3 行" in result.inner_text()
    assert Lead.objects.count() == 0
    page.click("[data-testid=start]")
    page.wait_for_selector("[data-testid=progress]")
    # then the job page shows the counts and the refused line, and leads to the leads
    assert page.inner_text("[data-testid=count-created]") == "2"
    assert page.inner_text("[data-testid=count-errors]") == "1"
    assert page.is_visible("[data-testid=error-file]")
    page.click("[data-testid=records-link]")
    page.wait_for_url(f"{base}/sales/leads/")
    assert sorted(Lead.objects.values_list("name", flat=True)) == ["张三", "王五"]
    assert ImportJob.objects.get().kind == "leads"
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    assert errors == []
    context.close()

"""Forms of the import wizard: the upload, and the mapping step (one choice per column)."""

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from huike.customers.imports.kinds import ImportKindSpec, import_kind
from huike.customers.imports.mapping import IGNORE, target_choices
from huike.customers.models import CustomField, ImportJob, ImportMapping, ImportMode


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"))
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (UTF-8 or GBK, comma, semicolon or tab), Excel .xlsx or XML; at most 100 MB. "
            "The first row names the columns."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx,.xml"}),
    )

    def __init__(self, *args: Any, kinds: Sequence[ImportKindSpec], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["kind"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(spec.key, spec.label) for spec in kinds]


def column_field_name(position: int) -> str:
    return f"column_{position}"


class MappingForm(forms.Form):
    """A target per column of the file (suggested from its header), the mode and the system
    that external ids come from; optionally a name to save the mapping under."""

    mode = forms.ChoiceField(label=_("Mode"), choices=ImportMode.choices)
    system = forms.CharField(
        label=_("External ID system"),
        max_length=60,
        help_text=_("External IDs become identities of kind crm:<system>, e.g. crm:sap."),
    )
    save_as = forms.CharField(
        label=_("Save this mapping as"),
        max_length=100,
        required=False,
        help_text=_("Optional: reuse it for the next file with the same columns."),
    )

    def __init__(
        self,
        *args: Any,
        job: ImportJob,
        custom_fields: list[CustomField],
        **kwargs: Any,
    ) -> None:
        initial = {"mode": job.mode, "system": job.system}
        for position, header in enumerate(job.headers):
            initial[column_field_name(position)] = job.mapping.get(header, IGNORE)
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.job = job
        choices = [(IGNORE, _("— ignore —")), *target_choices(job.kind, custom_fields)]
        for position, header in enumerate(job.headers):
            self.fields[column_field_name(position)] = forms.ChoiceField(
                label=header, choices=choices, required=False
            )
        spec = import_kind(job.kind)
        if not spec.has_system:
            del self.fields["system"]
        if not spec.has_modes:
            del self.fields["mode"]

    def column_fields(self) -> list[forms.BoundField]:
        return [self[column_field_name(position)] for position in range(len(self.job.headers))]

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data.get(column_field_name(position)) or IGNORE
            for position, header in enumerate(self.job.headers)
        }


class SavedMappingForm(forms.Form):
    saved = forms.ModelChoiceField(
        label=_("Use a saved mapping"), queryset=ImportMapping.objects.none()
    )

    def __init__(self, *args: Any, mappings: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["saved"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = mappings
        field.to_field_name = "public_id"

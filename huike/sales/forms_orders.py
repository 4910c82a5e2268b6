"""Forms of the product catalog and order pages."""

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huike.sales.models import OrderStatus, PaymentStatus, Product
from huike.sales.orders import ProductData


class ProductForm(forms.Form):
    sku = forms.CharField(label=_("SKU"), max_length=64)
    name = forms.CharField(label=_("Name"), max_length=200)
    price = forms.DecimalField(label=_("Price"), min_value=0, max_digits=14, decimal_places=2)
    currency = forms.CharField(
        label=_("Currency"),
        min_length=3,
        max_length=3,
        help_text=_("Three letters, such as CNY or USD."),
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    is_active = forms.BooleanField(
        label=_("Active (offered on new deals and orders)"), required=False
    )

    @classmethod
    def for_product(cls, data: Any, product: Product | None, currency: str) -> "ProductForm":
        if product is None:
            return cls(data, initial={"currency": currency, "is_active": True})
        return cls(
            data,
            initial={
                "sku": product.sku,
                "name": product.name,
                "price": product.price,
                "currency": product.currency,
                "description": product.description,
                "is_active": product.is_active,
            },
        )

    def product_data(self) -> ProductData:
        data = self.cleaned_data
        return ProductData(
            sku=data["sku"],
            name=data["name"],
            price=data["price"],
            currency=data["currency"],
            description=data["description"],
            is_active=data["is_active"],
        )


class ProductFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    active = forms.ChoiceField(
        label=_("Shown"),
        required=False,
        choices=[("", _("All")), ("yes", _("Active")), ("no", _("Inactive"))],
    )


def _any(choices: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [("", _("Any")), *choices]


class OrderFilterForm(forms.Form):
    q = forms.CharField(label=_("Order number or customer"), required=False, max_length=100)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=_any(OrderStatus.choices))
    payment_status = forms.ChoiceField(
        label=_("Payment"), required=False, choices=_any(PaymentStatus.choices)
    )
    ordered_from = forms.DateField(
        label=_("Ordered from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    ordered_to = forms.DateField(
        label=_("Ordered to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    # Set by links from a customer's or a deal's page ("all their orders").
    customer = forms.UUIDField(required=False, widget=forms.HiddenInput)
    deal = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def day_start(self, name: str, *, next_day: bool = False) -> dt.datetime | None:
        """The start of the chosen day in the workspace's time zone (of the day after it for
        an inclusive "to")."""
        day: dt.date | None = self.cleaned_data.get(name)
        if day is None:
            return None
        if next_day:
            day += dt.timedelta(days=1)
        return timezone.make_aware(dt.datetime.combine(day, dt.time()))


class OrderStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=OrderStatus.choices)


class OrderPaymentForm(forms.Form):
    payment_status = forms.ChoiceField(label=_("Payment"), choices=PaymentStatus.choices)

"""marshmallow schemas for the Xero payloads xerosync reads and writes. Pure: no I/O.

Loading keeps fields it does not know (`unknown = INCLUDE`): Xero adds fields often, and a
new field must never break a sync. Money and quantities load as `Decimal`; `/Date(...)/` and
ISO timestamps load as aware datetimes, calendar dates (`Date`, `DueDate`) as `date`.
Dumping writes dates as `YYYY-MM-DD` and Decimals as Decimals (serialise with `codec.dumps`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, missing

from xerosync.xero import codec


class XeroDateTime(fields.Field):
    """`/Date(ms±zzzz)/` or ISO text ⇄ aware datetime (dumped as ISO UTC)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> datetime | None:
        try:
            return codec.parse_datetime(value)
        except codec.CodecError as exc:
            raise self.make_error("invalid", input=value) from exc

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else codec.format_datetime_iso(value)

    default_error_messages = {"invalid": "Not a Xero date-time: {input!r}."}


class XeroDate(fields.Field):
    """`/Date(...)/`, `YYYY-MM-DD` or `YYYY-MM-DDT00:00:00` ⇄ date (dumped `YYYY-MM-DD`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date | None:
        try:
            return codec.parse_date(value)
        except codec.CodecError as exc:
            raise self.make_error("invalid", input=value) from exc

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else codec.format_date(value)

    default_error_messages = {"invalid": "Not a Xero date: {input!r}."}


class Money(fields.Decimal):
    """A Decimal that never goes through float and stays a Decimal when dumped."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        try:
            number = codec.to_decimal(value)
        except codec.CodecError as exc:
            raise self.make_error("invalid") from exc
        if number is None:
            raise self.make_error("invalid")
        return number


def _money() -> Money:
    return Money(allow_none=True)


def _str() -> fields.String:
    return fields.String(allow_none=True)


class XeroSchema(Schema):
    class Meta:
        unknown = INCLUDE


class ValidationMessageSchema(XeroSchema):
    Message = _str()


class _Validated(XeroSchema):
    StatusAttributeString = _str()
    ValidationErrors = fields.List(fields.Nested(ValidationMessageSchema), allow_none=True)
    Warnings = fields.List(fields.Nested(ValidationMessageSchema), allow_none=True)


class PhoneSchema(XeroSchema):
    PhoneType = _str()
    PhoneNumber = _str()
    PhoneAreaCode = _str()
    PhoneCountryCode = _str()


class AddressSchema(XeroSchema):
    AddressType = _str()
    AddressLine1 = _str()
    AddressLine2 = _str()
    AddressLine3 = _str()
    AddressLine4 = _str()
    City = _str()
    Region = _str()
    PostalCode = _str()
    Country = _str()
    AttentionTo = _str()


class TrackingOptionRefSchema(XeroSchema):
    TrackingCategoryName = _str()
    TrackingOptionName = _str()


class PaymentTermSchema(XeroSchema):
    Day = fields.Integer(allow_none=True)
    Type = _str()


class PaymentTermsSchema(XeroSchema):
    Bills = fields.Nested(PaymentTermSchema, allow_none=True)
    Sales = fields.Nested(PaymentTermSchema, allow_none=True)


class BrandingThemeSchema(XeroSchema):
    BrandingThemeID = _str()
    Name = _str()
    LogoUrl = _str()
    Type = _str()
    SortOrder = fields.Integer(allow_none=True)
    CreatedDateUTC = XeroDateTime(allow_none=True)


class ContactSchema(_Validated):
    ContactID = _str()
    ContactNumber = _str()
    AccountNumber = _str()
    ContactStatus = _str()
    Name = _str()
    FirstName = _str()
    LastName = _str()
    EmailAddress = _str()
    CompanyNumber = _str()
    TaxNumber = _str()
    AccountsReceivableTaxType = _str()
    AccountsPayableTaxType = _str()
    DefaultCurrency = _str()
    Phones = fields.List(fields.Nested(PhoneSchema), allow_none=True)
    Addresses = fields.List(fields.Nested(AddressSchema), allow_none=True)
    IsCustomer = fields.Boolean(allow_none=True)
    IsSupplier = fields.Boolean(allow_none=True)
    Discount = _money()
    PaymentTerms = fields.Nested(PaymentTermsSchema, allow_none=True)
    SalesTrackingCategories = fields.List(fields.Nested(TrackingOptionRefSchema), allow_none=True)
    PurchasesTrackingCategories = fields.List(
        fields.Nested(TrackingOptionRefSchema), allow_none=True
    )
    SalesDefaultAccountCode = _str()
    PurchasesDefaultAccountCode = _str()
    BrandingTheme = fields.Nested(BrandingThemeSchema, allow_none=True)
    HasValidationErrors = fields.Boolean(allow_none=True)
    UpdatedDateUTC = XeroDateTime(allow_none=True)


class ItemDetailsSchema(XeroSchema):
    UnitPrice = _money()
    AccountCode = _str()
    COGSAccountCode = _str()
    TaxType = _str()


class ItemSchema(_Validated):
    ItemID = _str()
    Code = _str()
    Name = _str()
    Description = _str()
    PurchaseDescription = _str()
    IsSold = fields.Boolean(allow_none=True)
    IsPurchased = fields.Boolean(allow_none=True)
    IsTrackedAsInventory = fields.Boolean(allow_none=True)
    InventoryAssetAccountCode = _str()
    QuantityOnHand = _money()
    TotalCostPool = _money()
    SalesDetails = fields.Nested(ItemDetailsSchema, allow_none=True)
    PurchaseDetails = fields.Nested(ItemDetailsSchema, allow_none=True)
    UpdatedDateUTC = XeroDateTime(allow_none=True)


class LineItemTrackingSchema(XeroSchema):
    TrackingCategoryID = _str()
    TrackingOptionID = _str()
    Name = _str()
    Option = _str()


class LineItemSchema(XeroSchema):
    LineItemID = _str()
    Description = _str()
    Quantity = _money()
    UnitAmount = _money()
    ItemCode = _str()
    AccountCode = _str()
    TaxType = _str()
    TaxAmount = _money()
    LineAmount = _money()
    DiscountRate = _money()
    DiscountAmount = _money()
    Tracking = fields.List(fields.Nested(LineItemTrackingSchema), allow_none=True)


class ContactRefSchema(XeroSchema):
    ContactID = _str()
    Name = _str()
    ContactNumber = _str()


class _SalesDocument(_Validated):
    Type = _str()
    Contact = fields.Nested(ContactRefSchema, allow_none=True)
    Date = XeroDate(allow_none=True)
    DueDate = XeroDate(allow_none=True)
    Status = _str()
    LineAmountTypes = _str()
    LineItems = fields.List(fields.Nested(LineItemSchema), allow_none=True)
    SubTotal = _money()
    TotalTax = _money()
    Total = _money()
    CurrencyCode = _str()
    CurrencyRate = _money()
    Reference = _str()
    BrandingThemeID = _str()
    HasErrors = fields.Boolean(allow_none=True)
    UpdatedDateUTC = XeroDateTime(allow_none=True)


class InvoiceSchema(_SalesDocument):
    InvoiceID = _str()
    InvoiceNumber = _str()
    AmountDue = _money()
    AmountPaid = _money()
    AmountCredited = _money()
    FullyPaidOnDate = XeroDate(allow_none=True)
    SentToContact = fields.Boolean(allow_none=True)
    Url = _str()


class CreditNoteSchema(_SalesDocument):
    CreditNoteID = _str()
    CreditNoteNumber = _str()
    RemainingCredit = _money()
    AppliedAmount = _money()
    FullyPaidOnDate = XeroDate(allow_none=True)


class AccountSchema(XeroSchema):
    AccountID = _str()
    Code = _str()
    Name = _str()
    Type = _str()
    Status = _str()
    Class = _str()
    TaxType = _str()
    EnablePaymentsToAccount = fields.Boolean(allow_none=True)
    UpdatedDateUTC = XeroDateTime(allow_none=True)


class TaxComponentSchema(XeroSchema):
    Name = _str()
    Rate = _money()
    IsCompound = fields.Boolean(allow_none=True)
    IsNonRecoverable = fields.Boolean(allow_none=True)


class TaxRateSchema(XeroSchema):
    Name = _str()
    TaxType = _str()
    Status = _str()
    ReportTaxType = _str()
    EffectiveRate = _money()
    DisplayTaxRate = _money()
    CanApplyToRevenue = fields.Boolean(allow_none=True)
    TaxComponents = fields.List(fields.Nested(TaxComponentSchema), allow_none=True)


class CurrencySchema(XeroSchema):
    Code = _str()
    Description = _str()


class TrackingOptionSchema(XeroSchema):
    TrackingOptionID = _str()
    Name = _str()
    Status = _str()


class TrackingCategorySchema(XeroSchema):
    TrackingCategoryID = _str()
    Name = _str()
    Status = _str()
    Options = fields.List(fields.Nested(TrackingOptionSchema), allow_none=True)


class OrganisationSchema(XeroSchema):
    OrganisationID = _str()
    Name = _str()
    LegalName = _str()
    ShortCode = _str()
    BaseCurrency = _str()
    CountryCode = _str()
    Timezone = _str()
    OrganisationType = _str()
    OrganisationStatus = _str()
    IsDemoCompany = fields.Boolean(allow_none=True)
    Version = _str()
    CreatedDateUTC = XeroDateTime(allow_none=True)


SCHEMAS: dict[str, type[Schema]] = {
    "Contacts": ContactSchema,
    "Items": ItemSchema,
    "Invoices": InvoiceSchema,
    "CreditNotes": CreditNoteSchema,
    "Accounts": AccountSchema,
    "TaxRates": TaxRateSchema,
    "Currencies": CurrencySchema,
    "BrandingThemes": BrandingThemeSchema,
    "TrackingCategories": TrackingCategorySchema,
    "Organisation": OrganisationSchema,
}
"""Schema per Accounting resource (the collection name in the URL)."""


# -- the fast path -------------------------------------------------------------------------
# marshmallow spends most of an import's CPU walking its own machinery for rows that are
# well formed. For each schema a *plan* is derived once from its declared fields: a converter
# per field that does exactly what marshmallow would for a value of the expected type (the
# custom fields' own `_deserialize`, strict type checks for the rest) and gives up on anything
# else. A page whose every row the plan converts is returned as is; if any row needs more
# (a wrong type, a bad date, a field kind the plan does not know), the whole page goes through
# marshmallow, so validation errors keep marshmallow's words and per-row indices.


class _NotPlain(Exception):
    """A value the fast path does not convert; marshmallow decides."""


Converter = Callable[[Any], Any]
_PLANS: dict[type[Schema], dict[str, Converter] | None] = {}


def _strict(kind: type) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is not kind:
            raise _NotPlain
        return value

    return convert


def _own(field: fields.Field) -> Converter:
    def convert(value: Any) -> Any:
        try:
            return field._deserialize(value, None, None)
        except ValidationError as exc:
            raise _NotPlain from exc

    return convert


def _many(inner: Converter) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is not list:
            raise _NotPlain
        return [inner(v) for v in value]

    return convert


def _record(plan: dict[str, Converter]) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is not dict:
            raise _NotPlain
        return {k: (plan[k](v) if k in plan else v) for k, v in value.items()}

    return convert


def _converter(field: fields.Field) -> Converter | None:
    """What marshmallow's `field.deserialize` does to a plain value, or None (not planned)."""
    if field.validators or field.load_default is not missing:
        return None
    convert: Converter | None
    if isinstance(field, XeroDateTime | XeroDate | Money):
        convert = _own(field)
    elif type(field) is fields.String:
        convert = _strict(str)
    elif type(field) is fields.Boolean:
        convert = _strict(bool)
    elif type(field) is fields.Integer:
        convert = _strict(int)
    elif type(field) is fields.Nested:
        nested = field.nested
        if not (isinstance(nested, type) and issubclass(nested, Schema)):
            return None
        if field.only is not None or field.exclude or field.unknown is not None:
            return None
        plan = _plan(nested)
        if plan is None:
            return None
        convert = _many(_record(plan)) if field.many else _record(plan)
    elif type(field) is fields.List:
        inner = _converter(field.inner)
        convert = None if inner is None else _many(inner)
    else:
        return None
    if convert is None:
        return None
    planned, allow_none = convert, field.allow_none

    def with_none(value: Any) -> Any:
        if value is None:
            if allow_none:
                return None
            raise _NotPlain
        return planned(value)

    return with_none


def _plan(schema_class: type[Schema]) -> dict[str, Converter] | None:
    """The converters of a schema's fields, or None if any field (or a hook) is not plain."""
    if schema_class in _PLANS:
        return _PLANS[schema_class]
    _PLANS[schema_class] = None  # a schema nested in itself is left to marshmallow
    schema = schema_class()
    if schema.unknown != INCLUDE or any(schema._hooks.values()):
        return None
    plan: dict[str, Converter] = {}
    for name, field in schema.load_fields.items():
        convert = _converter(field)
        if convert is None or (field.data_key or name) != name or field.attribute:
            return None
        plan[name] = convert
    _PLANS[schema_class] = plan
    return plan


def fast_load(resource: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The page converted by the fast path, or None if any row needs marshmallow."""
    plan = _plan(SCHEMAS[resource])
    if plan is None:
        return None
    record = _record(plan)
    try:
        return [record(row) for row in rows]
    except _NotPlain:
        return None


def load_many(resource: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Typed copies of `rows` from a read of `resource` (the fast path when every row is
    plain, marshmallow otherwise: the same records, and marshmallow's validation errors)."""
    fast = fast_load(resource, rows)
    if fast is not None:
        return fast
    result: Any = SCHEMAS[resource](many=True).load(rows)
    return list(result)

"""Xero's OAuth2 scopes: which endpoint needs which, broad against granular, read against write.

The one module that knows Xero's scope table (XERO_FACTS §3, §14). Plain data and pure
functions; nothing here calls Xero or reads settings.

* A GET accepts `X` or `X.read`; a write (PUT, POST, DELETE) needs `X`.
* Apps created on or after 2 March 2026 get only the *granular* scopes; the broad
  `accounting.transactions` and `accounting.reports.read` (with `accounting.transactions.read`)
  are deprecated: unavailable to new apps, and older apps lose them in September 2027.
  Until then a connection that holds them still works.
* Xero's 403 for a missing scope (`Detail: "AuthenticationUnsuccessful"`) does not name the
  scope, so `missing_scope_hint` says, from the endpoint, which one the call needed.

The sandbox keeps its own copy of this table (`xerosync.sandbox.identity`) on purpose: two
independent copies make the tests compare xerosync against a model, not against itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

IDENTITY_SCOPES = ("openid", "profile", "email", "offline_access")
"""OpenID Connect and the refresh token: no organisation data."""

XEROSYNC_SCOPES = (
    *IDENTITY_SCOPES,
    "accounting.contacts",
    "accounting.settings",
    "accounting.invoices",
)
"""Exactly what xerosync reads and writes: contacts; items (settings or invoices); sales
invoices and credit notes (invoices); organisation, accounts, tax rates, currencies, branding
themes and tracking categories (settings). Nothing broader."""

NEW_APPS_SINCE = "2 March 2026"
BROAD_SCOPES_END = "September 2027"

DEPRECATED: dict[str, str] = {
    "accounting.transactions": "accounting.invoices",
    "accounting.transactions.read": "accounting.invoices.read",
    "accounting.reports.read": "",
}
"""Deprecated broad scope → the granular scope xerosync needs in its place ("" = none:
xerosync reads no reports). For other apps `accounting.transactions` also splits into
`accounting.payments`, `accounting.banktransactions` and `accounting.manualjournals`, and
`accounting.reports.read` into per-report `accounting.reports.*.read` scopes."""

GRANULAR = (
    "accounting.contacts",
    "accounting.settings",
    "accounting.invoices",
    "accounting.payments",
    "accounting.banktransactions",
    "accounting.manualjournals",
    "accounting.attachments",
)
"""Granular organisation scopes with a read-write form (each also has `X.read`)."""

READ_ONLY = ("accounting.journals.read", "accounting.budgets.read")


@dataclass(frozen=True)
class Need:
    """What one Accounting endpoint needs: any of `scopes` (granular first), or one of
    `broad` (deprecated, still granted to apps created before 2 March 2026)."""

    resource: str
    scopes: tuple[str, ...]
    broad: tuple[str, ...] = ()

    def accepted(self, method: str) -> frozenset[str]:
        """Every scope that lets `method` through: `X` always, `X.read` for a GET."""
        names = [*self.scopes, *self.broad]
        if method.upper() in ("GET", "HEAD"):
            names += [f"{n}.read" for n in names if not n.endswith(".read")]
        return frozenset(names)

    @property
    def scope(self) -> str:
        """The scope to name when asking for it: the first granular one."""
        return self.scopes[0]


def _need(resource: str, *scopes: str, broad: tuple[str, ...] = ()) -> tuple[str, Need]:
    return resource.lower(), Need(resource, scopes, broad)


_TRANSACTIONS = ("accounting.transactions",)

ENDPOINTS: dict[str, Need] = dict(
    [
        _need("Contacts", "accounting.contacts"),
        _need("ContactGroups", "accounting.contacts"),
        # The spec puts Items under settings; granular apps may also use invoices for them.
        _need("Items", "accounting.settings", "accounting.invoices"),
        _need("Invoices", "accounting.invoices", broad=_TRANSACTIONS),
        _need("CreditNotes", "accounting.invoices", broad=_TRANSACTIONS),
        _need("Quotes", "accounting.invoices", broad=_TRANSACTIONS),
        _need("PurchaseOrders", "accounting.invoices", broad=_TRANSACTIONS),
        _need("RepeatingInvoices", "accounting.invoices", broad=_TRANSACTIONS),
        _need("LinkedTransactions", "accounting.invoices", broad=_TRANSACTIONS),
        _need("Payments", "accounting.payments", broad=_TRANSACTIONS),
        _need("BatchPayments", "accounting.payments", broad=_TRANSACTIONS),
        _need("Overpayments", "accounting.payments", broad=_TRANSACTIONS),
        _need("Prepayments", "accounting.payments", broad=_TRANSACTIONS),
        _need("BankTransactions", "accounting.banktransactions", broad=_TRANSACTIONS),
        _need("BankTransfers", "accounting.banktransactions", broad=_TRANSACTIONS),
        _need("ManualJournals", "accounting.manualjournals", broad=_TRANSACTIONS),
        _need("Journals", "accounting.journals.read"),
        _need("Organisation", "accounting.settings"),
        _need("Accounts", "accounting.settings"),
        _need("TaxRates", "accounting.settings"),
        _need("Currencies", "accounting.settings"),
        _need("BrandingThemes", "accounting.settings"),
        _need("TrackingCategories", "accounting.settings"),
        _need("Users", "accounting.settings"),
    ]
)
"""Accounting API resource (first path segment, any case) → what it needs."""

_API_PREFIX = "api.xro/2.0/"


def resource_of(path: str) -> str | None:
    """The Accounting resource a path names (`/api.xro/2.0/Invoices/…` or `Invoices/…`)."""
    rel = path.strip("/")
    lowered = rel.lower()
    at = lowered.find(_API_PREFIX)
    if at >= 0:
        rel = rel[at + len(_API_PREFIX) :]
    elif lowered.startswith(("connect", "connections", "identity")):
        return None
    head = rel.split("/", 1)[0].split("?", 1)[0]
    return head.lower() or None


def need_for(path: str) -> Need | None:
    resource = resource_of(path)
    return ENDPOINTS.get(resource) if resource else None


def allows(granted: Iterable[str], method: str, path: str) -> bool:
    """Whether a grant holding `granted` may make this call (True for endpoints not listed)."""
    need = need_for(path)
    if need is None:
        return True
    return not need.accepted(method).isdisjoint(granted)


def split(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """Scopes as a tuple, from a space-separated string or any iterable; order kept, no
    repeats."""
    items = scopes.split() if isinstance(scopes, str) else [str(s) for s in scopes]
    return tuple(dict.fromkeys(s for s in items if s))


def is_known(scope: str) -> bool:
    """A scope xerosync knows Xero to have (identity, granular, read-only or deprecated)."""
    if scope in IDENTITY_SCOPES or scope in READ_ONLY or scope in DEPRECATED:
        return True
    base = scope.removesuffix(".read")
    if base in GRANULAR:
        return True
    return scope.startswith("accounting.reports.") and scope.endswith(".read")


# -- deprecated broad scopes -------------------------------------------------------------------


def deprecated_scopes(scopes: str | Iterable[str]) -> list[tuple[str, str]]:
    """(deprecated scope, the granular replacement xerosync needs or "") for each broad scope
    in `scopes`, in their order."""
    return [(s, DEPRECATED[s]) for s in split(scopes) if s in DEPRECATED]


def _replacement_words(scope: str, replacement: str) -> str:
    if replacement:
        return f"{scope} (use {replacement})"
    return f"{scope} (remove it: xerosync reads no reports)"


def deprecation_warning(scopes: str | Iterable[str], setting: str = "XERO_SCOPES") -> str | None:
    """One line naming each deprecated scope in `scopes` with its replacement, or None."""
    found = deprecated_scopes(scopes)
    if not found:
        return None
    items = ", ".join(_replacement_words(s, r) for s, r in found)
    which = "a deprecated broad Xero scope" if len(found) == 1 else "deprecated broad Xero scopes"
    return (
        f"{setting} asks for {which}: {items}. Apps created on or after {NEW_APPS_SINCE} "
        f"cannot get it and older apps lose it in {BROAD_SCOPES_END}; change {setting} and "
        "run `xerosync connect` again"
    )


def recommended(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """`scopes` with each deprecated scope replaced by its granular one (dropped if none)."""
    out: list[str] = []
    for scope in split(scopes):
        out.append(DEPRECATED.get(scope, scope))
    return split(s for s in out if s)


# -- what a connection holds -------------------------------------------------------------------


def granted_scopes(source: Any, cipher: Any = None) -> tuple[str, ...]:
    """The scopes a connection was granted, as Xero's token response said.

    `source` may be a `TokenSet` (its `scope`), a token response or `TokenSet.to_dict()`
    mapping, a space-separated string or a list, or a stored connection row (anything with
    `token_blob` and `token_encrypted`, e.g. `xerosync.models.Connection`; pass the
    `TokenCipher` when its tokens are encrypted). No tokens → ().
    """
    if source is None:
        return ()
    if isinstance(source, str | list | tuple):
        return split(source)
    if isinstance(source, Mapping):
        return split(source.get("scope") or ())
    if hasattr(source, "token_blob"):
        blob = source.token_blob
        if not blob:
            return ()
        if getattr(source, "token_encrypted", False):
            if cipher is None:
                raise ValueError("the connection's tokens are encrypted: pass its TokenCipher")
            blob = cipher.decrypt(str(blob).encode()).decode()
        data = json.loads(blob)
        return split(data.get("scope") or ()) if isinstance(data, Mapping) else ()
    scope = getattr(source, "scope", None)
    if scope is None:
        raise TypeError(f"cannot tell the scopes of {type(source).__name__}")
    return split(scope)


def deprecated_granted(source: Any, cipher: Any = None) -> list[tuple[str, str]]:
    """`deprecated_scopes` of what a connection holds (see `granted_scopes`)."""
    return deprecated_scopes(granted_scopes(source, cipher))


def grant_warning(source: Any, cipher: Any = None) -> str | None:
    """One line for a connection that holds deprecated scopes (it still works), or None."""
    found = deprecated_granted(source, cipher)
    if not found:
        return None
    items = ", ".join(_replacement_words(s, r) for s, r in found)
    return (
        f"holds {items}: deprecated by Xero, it stops working in {BROAD_SCOPES_END}; change "
        "XERO_SCOPES and run `xerosync connect` again"
    )


# -- refusals ---------------------------------------------------------------------------------


def missing_scope_hint(path: str, setting: str = "XERO_SCOPES") -> str | None:
    """Words for Xero's 403 on an Accounting call: the scope the endpoint needs and the
    setting that asks for it. None when the path is not an endpoint this table knows."""
    need = need_for(path)
    if need is None:
        return None
    either = " or ".join(need.scopes)
    return (
        f"{need.resource} needs the Xero scope {either}: check that "
        f"{setting} includes {need.scope} and run `xerosync connect` again (Xero gives the "
        "same answer for a wrong tenant or a user without permission)"
    )


def refused_scopes(
    requested: str | Iterable[str], description: str | None = None
) -> tuple[str, ...]:
    """Which of the `requested` scopes an `invalid_scope` refusal is about: those the
    description names; else the deprecated ones; else those xerosync does not know."""
    asked = split(requested)
    text = description or ""
    for mark in ",;:()'\"`":
        text = text.replace(mark, " ")
    words = set(text.split())
    named = tuple(s for s in asked if s in words)
    if named:
        return named
    broad = tuple(s for s in asked if s in DEPRECATED)
    if broad:
        return broad
    return tuple(s for s in asked if not is_known(s))


def refusal_message(
    error: str,
    description: str | None,
    requested: str | Iterable[str],
    setting: str = "XERO_SCOPES",
) -> str:
    """One line for an OAuth refusal (`error=invalid_scope` on the authorize redirect or at
    the token endpoint): the refused scope, the setting that asks for it, what to ask instead."""
    said = error + (f": {description}" if description else "")
    if error != "invalid_scope":
        return f"Xero refused the authorisation ({said})"
    asked = split(requested)
    refused = refused_scopes(asked, description)
    if not refused:
        return (
            f'Xero refused the scopes {setting} asks for ({said}); {setting} is "{" ".join(asked)}"'
        )
    fixes = []
    for scope in refused:
        if DEPRECATED.get(scope):
            fixes.append(f"ask for {DEPRECATED[scope]} instead of {scope}")
        else:
            fixes.append(f"remove {scope}")
    why = (
        f", but apps created on or after {NEW_APPS_SINCE} may not ask for Xero's deprecated "
        "broad scopes"
        if any(s in DEPRECATED for s in refused)
        else ", but Xero does not offer it to this app"
    )
    plural = len(refused) > 1
    suggested = " ".join(recommended(s for s in asked if is_known(s)))
    return (
        f"Xero refused the scope{'s' if plural else ''} {', '.join(refused)} ({error}): "
        f"{setting} asks for {'them' if plural else 'it'}{why}; {'; '.join(fixes)} "
        f'(e.g. {setting}="{suggested}") and run `xerosync connect` again'
    )

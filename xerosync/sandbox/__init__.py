"""A local Xero-compatible API (the "sandbox") that xerosync is built and tested against.

Start it with `xerosync sandbox`, or in-process with `start_in_thread()` from
`xerosync.sandbox.server`. See README.md in this folder for what it models and what it does not.
"""

from __future__ import annotations

DEMO_TENANT_ID = "4c5b8d2e-7a1f-4e3b-9c6d-0a1b2c3d4e5f"
"""The seeded organisation's tenant id: stable across resets and restarts."""

DEMO_TENANT_NAME = "Demo Company"

API_PREFIX = "/api.xro/2.0"

WEBHOOK_KEY = "sandbox-webhook-signing-key"
"""The key the sandbox signs its webhooks with unless told another; xerosync's receiver uses
it when XERO_WEBHOOK_KEY is empty and Xero is the sandbox (`make run`)."""

__all__ = ["API_PREFIX", "DEMO_TENANT_ID", "DEMO_TENANT_NAME", "WEBHOOK_KEY"]

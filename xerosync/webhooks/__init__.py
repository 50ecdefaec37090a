"""Xero's webhooks: what changes in Xero reaches the CRM in seconds, not at the next pass.

`receiver` is the web process (`xerosync webhooks`): it checks Xero's signature and queues
the events, nothing more, so it answers within Xero's 5 seconds. `jobs` does the work on
the `sync` queue: it fetches the changed records by ID and stores them through the same
import code as the routine pass. The routine pass stays the safety net (items and stock,
which webhooks do not cover, and any event lost).
"""

"""Accounting resources: each module handles one Xero collection."""

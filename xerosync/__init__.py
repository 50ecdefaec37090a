"""xerosync: keeps a CRM and Xero organisations in step."""

__version__ = "0.1.0"

"""Pure mapping between CRM rows and Xero payloads. No I/O, no sessions, no HTTP."""

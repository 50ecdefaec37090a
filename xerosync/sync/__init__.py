"""The sync algorithms: push, import and the routine pass, testable without Celery."""

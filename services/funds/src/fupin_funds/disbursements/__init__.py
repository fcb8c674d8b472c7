"""Disbursement commands: fund pools → projects → households and implementing units, and direct
household subsidies. Each is idempotent and passes the announcement gate where a project is paid."""

"""Supervision: audit findings and rectification, anomaly rules, the audit chain, reports."""

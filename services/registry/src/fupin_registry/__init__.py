"""fupin registry: the household register (建档立卡).

Households and members, identification and exit workflows, quotas, history, bulk import,
cross-department checks, bank eligibility and the DCI Social Registry API.
"""

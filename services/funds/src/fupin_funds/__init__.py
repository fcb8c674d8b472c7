"""fupin funds: special poverty funds (财政专项扶贫资金).

Allocation with performance awards, project library and public announcement, disbursement
ledger, supervision, subsidised loans.
"""

"""fupin funds: Special poverty funds (财政专项扶贫资金): allocation with performance awards, project library and public announcement, disbursement ledger, supervision, subsidised loans."""

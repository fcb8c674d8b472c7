"""Building blocks shared by the funds domains: vocabulary, dates, privacy, audit, exports."""

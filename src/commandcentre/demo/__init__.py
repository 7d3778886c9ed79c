"""Demo data for showing Command Centre without real customer records."""

"""Budgets that cannot be exceeded: one spend ledger per key lineage and per tenant, against which a
gateway request reserves its worst case before it is forwarded and settles to its real cost after."""

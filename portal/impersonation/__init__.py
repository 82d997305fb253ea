"""Platform admins acting as a tenant's admin, for a stated reason, for at most an hour, on the record."""

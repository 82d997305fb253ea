"""Outbound network access: the egress policy for URLs a tenant chose."""

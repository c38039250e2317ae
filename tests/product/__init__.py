"""Tests of what the product sees: permissions, the access API, AuthZEN decisions, change events."""

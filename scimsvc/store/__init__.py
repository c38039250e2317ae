"""Every SQL statement of the request path: user rows, search, keys, the journal, settings."""

"""The SQL of the request path: prepared statements, filters as SQL, query plans, paging, lookups."""

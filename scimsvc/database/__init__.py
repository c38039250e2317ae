"""Database machinery without SCIM knowledge: engines, transactions, prepared statements, migrations."""

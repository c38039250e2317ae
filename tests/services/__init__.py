"""Domain operations: user writes, the lifecycle, the audit journal, migrations."""

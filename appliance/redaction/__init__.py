"""Redaction before persistence: detection, consistent pseudonyms, table-aware fields, the policy,
the keys, each collection's known values and the retroactive sweep when the vault learns one."""

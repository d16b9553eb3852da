"""The tamper-evident audit log: the action vocabulary, the hash chain, record(), signed checkpoints,
verification, search, export and retention."""

"""The document store: the catalog and its full-text index, its migrations, atomic versions, the
store lock, crash recovery, reading and deleting documents, the evidence-vector cache."""

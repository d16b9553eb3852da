"""Backup and restore of what cannot be rebuilt, sealed for a key the operator keeps."""

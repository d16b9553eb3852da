"""Tabular side-models: gradient-boosted trees trained on the customer's own tables, every decision
explained exactly (TreeSHAP) and recorded on the signed audit log."""

"""Answering a question: retrieval, recall of verbatim evidence, citation verification, prompts,
composition, feedback."""

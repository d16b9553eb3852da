"""Handlers' expected failures become messages on the page (gr.Error), never tracebacks.

Gradio renders an error's message as HTML, and messages often carry what the user typed (a
collection name, a document id), so every message is escaped here, in the one place they pass.
"""

from __future__ import annotations

import functools
import html
import inspect
from collections.abc import Callable
from typing import Any

from appliance.access.roles import Forbidden
from appliance.answer.feedback import FeedbackError
from appliance.audit.search import BadFilter
from appliance.finetune.adapters import AdapterError
from appliance.finetune.datasets import DatasetError
from appliance.finetune.feedback_review import ReviewError as FeedbackReviewError
from appliance.finetune.training import FinetuneError
from appliance.store.collection_names import InvalidCollectionName
from appliance.store.documents import DocumentNotFound
from appliance.tabular.registry import RegistryError
from appliance.tabular.review import ReviewError
from appliance.tabular.schema import SchemaError
from appliance.tabular.table import TableError
from ui.question_slots import TooManyQuestions

EXPECTED = (
    Forbidden,
    DocumentNotFound,
    FeedbackError,
    BadFilter,
    InvalidCollectionName,
    TooManyQuestions,
    RegistryError,
    ReviewError,
    SchemaError,
    TableError,
    AdapterError,
    DatasetError,
    FeedbackReviewError,
    FinetuneError,
)


def _message(error: Exception) -> str:
    prefix = "Not allowed: " if isinstance(error, Forbidden) else ""
    return html.escape(prefix + (" ".join(str(error).split()) or type(error).__name__))


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a handler (plain or generator) so that expected failures show as a message."""
    import gradio as gr

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except EXPECTED as error:
                raise gr.Error(_message(error), print_exception=False) from None

        return stream

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EXPECTED as error:
            raise gr.Error(_message(error), print_exception=False) from None

    return call

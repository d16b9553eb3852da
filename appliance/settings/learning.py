"""Settings of what learns from the customer's data: tabular models, fine-tuning, the gate, benchmarks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from pydantic import BaseModel, Field

DEFAULT_PROTECTED_ATTRIBUTES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sex": ("sex", "gender"),
        "marital status": ("marital", "personal_status", "civil_status"),
        "age": ("age", "date_of_birth", "birth_year"),
        "nationality": ("nationality", "citizenship", "foreign", "country_of_birth", "national_origin"),
        "race": ("race", "ethnicity", "ethnic"),
        "religion": ("religion", "faith"),
        "disability": ("disability", "disabled", "handicap"),
    }
)


class TabularSettings(BaseModel):
    """Tabular side-models: gradient-boosted trees on the customer's own tables, explained exactly."""

    protected_attributes: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_PROTECTED_ATTRIBUTES.items()},
        description="Protected attributes and the header words that name them (a column matches when a word occurs in its name, as a whole word or between underscores); such columns are never features unless `tabular train --allow-protected COL` opts one in.",
    )
    trees: int = Field(200, ge=1, le=5000, description="Boosting rounds (trees) of a tabular model.")
    learning_rate: float = Field(0.05, gt=0, le=1, description="Shrinkage of each tree's contribution.")
    leaves: int = Field(
        7,
        ge=2,
        le=1024,
        description="Largest number of leaves per tree (small trees generalise better on tables of a few thousand rows).",
    )
    min_rows_per_leaf: int = Field(20, ge=1, description="Fewest training rows a leaf may hold.")
    held_out_fraction: float = Field(0.3, gt=0, lt=1, description="Share of rows kept out of training for the metrics.")
    seed: int = Field(7, description="Seed of the split and the trees: the same table gives the same model bytes.")
    reasons: int = Field(4, ge=1, le=20, description="How many principal reasons each decision states.")
    actionable: list[str] = Field(
        default_factory=list,
        description="Columns a person can change (an amount, a duration): a two-class decision's counterfactual changes only these; a model records the list it was trained with.",
    )
    max_rows: int = Field(1_000_000, ge=10, description="Largest table `tabular train` or `predict` reads.")


class FinetuneSettings(BaseModel):
    """Fine-tuning: LoRA adapters trained here on the customer's own (redacted) examples."""

    rank: int = Field(8, ge=1, le=256, description="LoRA rank (`finetune --rank`).")
    alpha: int = Field(16, ge=1, le=1024, description="LoRA alpha: the adapter's update is scaled by alpha / rank.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description="Projections of each layer that get an adapter (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).",
    )
    epochs: int = Field(3, ge=1, le=1000, description="Passes over the training part of a data set.")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="AdamW learning rate.")
    batch_size: int = Field(4, ge=1, le=256, description="Examples per training step.")
    max_steps: int = Field(0, ge=0, description="Stop after this many steps (0: as many as the epochs give).")
    max_tokens: int = Field(256, ge=16, le=8192, description="Longest example in tokens; longer ones are cut.")
    checkpoint_every: int = Field(
        25, ge=1, description="Steps between checkpoints that `finetune --resume` restarts from."
    )
    seed: int = Field(7, description="Seed of the data split, the adapter's initial weights and the batch order.")
    held_out_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share of a data set's examples kept out of training."
    )
    collection_adapters: dict[str, str] = Field(
        default_factory=dict,
        description="A promoted adapter answering by default in a collection ({collection: adapter}); a question spanning collections with different defaults gets the base model.",
    )
    evidence_examples: int = Field(
        400, ge=2, le=100_000, description="Examples `dataset build --task evidence` makes, about half unanswerable."
    )
    evidence_max_tokens: int = Field(
        768, ge=64, le=8192, description="Longest evidence example in tokens (the recall prompt with its candidates)."
    )


class GateSettings(BaseModel):
    """The evaluation gate in front of `adapters promote` (`adapters evaluate`)."""

    questions: int = Field(40, ge=1, le=10_000, description="Held-out examples the gate asks, at most.")
    margin: float = Field(
        0.02, ge=0, le=1, description="How far below the base an adapter's task figure may fall and still pass."
    )
    abstain_min_refusal: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Refusal rate on unanswerable held-out questions an adapter needs to decide abstention.",
    )
    abstain_max_false_refusal: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Most refusals on answerable held-out questions an adapter deciding abstention may make.",
    )
    squad_path: Path | None = Field(
        None,
        description="A SQuAD 2.0 JSON file the gate also measures on (its paragraphs ingested in a throwaway home); empty: none.",
    )
    squad_article: str | None = Field(None, description="Only this article of squad_path; empty: every article.")
    squad_questions: int = Field(
        200, ge=2, le=10_000, description="SQuAD questions the gate asks, half answerable, half unanswerable."
    )
    docugami_dir: Path | None = Field(
        None,
        description="A Docugami SEC 10-Q folder (docs/*.pdf, qna_data.csv) the gate also measures on; empty: none.",
    )
    docugami_questions: int = Field(30, ge=1, le=10_000, description="Docugami questions the gate asks.")


def _checkout_eval_dir() -> Path:
    """The shared evaluation data beside a checkout (../shared/eval), where the benchmarks look by default."""
    return Path(__file__).resolve().parents[2] / "shared" / "eval"


class BenchSettings(BaseModel):
    eval_dir: Path = Field(
        default_factory=_checkout_eval_dir,
        description="Folder of the evaluation data the benchmarks read (pii/, qa/); by default ../shared/eval beside the checkout.",
    )

"""LoRA fine-tuning with peft on the configured GGUF base, dequantised into transformers, exported as a
GGUF adapter (backends/gguf_adapter.py): the LoraTrainer port.

The loss covers only the answer's tokens, in the model's own chat template (the one llama.cpp
formats prompts with at answer time). A run is deterministic for a seed, its data and the thread
count: the adapter's initial weights come from the seed, the batch order from (seed, epoch), and
there is no dropout. Every `checkpoint_every` steps the adapter's weights, the optimizer state and
the losses so far are saved (written whole, then renamed), so a killed run resumes where it stopped
and ends with the same bytes as one that never stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import random
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

from appliance.backends.gguf_adapter import write_adapter
from appliance.ports import LoraParams, TrainedAdapter, TrainingStep

IGNORED = -100  # the label transformers leaves out of the loss
CHECKPOINT = "checkpoint.pt"
_LORA_NAME = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.default\.weight$")


class PeftLoraTrainer:
    """Trains on CPU, or on the GPU when torch sees one."""

    def train(
        self,
        base_gguf: Path,
        conversations: Sequence[Sequence[Mapping[str, str]]],
        params: LoraParams,
        run_dir: Path,
        *,
        resume: bool,
        progress: Callable[[TrainingStep], None] | None = None,
    ) -> TrainedAdapter:
        torch.set_num_threads(params.threads)
        transformers_logging.disable_progress_bar()  # our own progress line is the one that counts
        warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        folder, name = str(base_gguf.parent), base_gguf.name
        tokenizer, base = _load(folder, name)
        encoded = [encode(tokenizer, conversation, params.max_tokens) for conversation in conversations]
        encoded = [pair for pair in encoded if any(label != IGNORED for label in pair[1])]
        if not encoded:
            raise ValueError("no example has an answer token left to learn from (are they longer than max_tokens?)")
        torch.manual_seed(params.seed)  # the adapter's initial weights
        config = LoraConfig(
            r=params.rank,
            lora_alpha=params.alpha,
            target_modules=list(params.target_modules),
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(base, config).to(device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate)
        per_epoch = math.ceil(len(encoded) / params.batch_size)
        total = per_epoch * params.epochs
        if params.max_steps:
            total = min(total, params.max_steps)
        fingerprint = _fingerprint(base_gguf, encoded, params)
        checkpoint = run_dir / CHECKPOINT
        losses: list[float] = []
        tokens = 0
        start = 0
        if resume and checkpoint.is_file():
            state = torch.load(checkpoint, weights_only=True, map_location=device)
            if state["fingerprint"] != fingerprint:
                raise ValueError(f"{checkpoint} belongs to another run (other data, base or parameters)")
            with torch.no_grad():
                for key, tensor in _lora_tensors(model).items():
                    tensor.copy_(state["lora"][key])
            optimizer.load_state_dict(state["optimizer"])
            start, losses, tokens = int(state["step"]), [float(x) for x in state["losses"]], int(state["tokens"])
        model.train()
        started = time.perf_counter()
        for step in range(start, total):
            input_ids, labels, mask = _batch(encoded, _batch_indices(len(encoded), step, params), device)
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            tokens += int((labels != IGNORED).sum())
            done = step + 1
            if done % params.checkpoint_every == 0 and done < total:
                _save_checkpoint(checkpoint, model, optimizer, done, losses, tokens, fingerprint)
            if progress is not None:
                progress(TrainingStep(done, total, losses[-1], time.perf_counter() - started))
        adapter = run_dir / "adapter.gguf"
        partial = run_dir / "adapter.gguf.partial"
        write_adapter(
            partial,
            _pairs(model),
            alpha=params.alpha,
            heads=int(base.config.num_attention_heads),
            kv_heads=int(getattr(base.config, "num_key_value_heads", None) or base.config.num_attention_heads),
        )
        os.replace(partial, adapter)
        return TrainedAdapter(adapter, losses, total, tokens, time.perf_counter() - started, device, start)


def _load(folder: str, name: str) -> tuple[Any, Any]:
    """The tokenizer and the dequantised model. transformers draws its own tqdm bar for the
    dequantisation whatever its settings say; it goes to a buffer (errors still raise)."""
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        return tokenizer, AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)


def encode(tokenizer: Any, conversation: Sequence[Mapping[str, str]], max_tokens: int) -> tuple[list[int], list[int]]:
    """Token ids of the whole conversation in the chat template, and labels that keep only the answer's."""
    messages = [dict(m) for m in conversation]
    prompt = _ids(tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True))
    full = _ids(tokenizer.apply_chat_template(messages, tokenize=True))
    if full[: len(prompt)] != prompt:
        raise ValueError("the chat template does not extend the prompt with the answer; cannot mask the prompt")
    labels = [IGNORED] * len(prompt) + full[len(prompt) :]
    return full[:max_tokens], labels[:max_tokens]


def _ids(result: Any) -> list[int]:
    """Token ids from apply_chat_template, whichever shape this transformers version returns."""
    if isinstance(result, Mapping) or hasattr(result, "keys"):
        result = result["input_ids"]
    return [int(token) for token in result]


def _batch_indices(count: int, step: int, params: LoraParams) -> list[int]:
    """The examples of one step: each epoch a fresh seeded order, cut into batches."""
    per_epoch = math.ceil(count / params.batch_size)
    epoch, position = divmod(step, per_epoch)
    order = list(range(count))
    random.Random(params.seed * 1_000_003 + epoch).shuffle(order)
    return order[position * params.batch_size : (position + 1) * params.batch_size]


def _batch(
    encoded: Sequence[tuple[list[int], list[int]]], indices: Sequence[int], device: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(encoded[i][0]) for i in indices)
    ids, labels, mask = [], [], []
    for i in indices:
        tokens, targets = encoded[i]
        pad = width - len(tokens)
        ids.append(tokens + [0] * pad)
        labels.append(targets + [IGNORED] * pad)
        mask.append([1] * len(tokens) + [0] * pad)
    return (
        torch.tensor(ids, device=device),
        torch.tensor(labels, device=device),
        torch.tensor(mask, device=device),
    )


def _lora_tensors(model: Any) -> dict[str, torch.Tensor]:
    return {name: p for name, p in model.named_parameters() if ".lora_" in name}


def _pairs(model: Any) -> dict[tuple[int, str], tuple[Any, Any]]:
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for name, tensor in _lora_tensors(model).items():
        match = _LORA_NAME.search(name)
        if match is None:
            raise ValueError(f"unexpected LoRA parameter {name}")
        layer, module, which = int(match.group(1)), match.group(2), match.group(3)
        found.setdefault((layer, module), {})[which] = tensor.detach().to("cpu", torch.float32).numpy()
    return {key: (parts["A"], parts["B"]) for key, parts in found.items()}


def _save_checkpoint(
    path: Path, model: Any, optimizer: Any, step: int, losses: list[float], tokens: int, fingerprint: str
) -> None:
    state = {
        "step": step,
        "losses": losses,
        "tokens": tokens,
        "fingerprint": fingerprint,
        "lora": {k: v.detach().clone() for k, v in _lora_tensors(model).items()},
        "optimizer": optimizer.state_dict(),
    }
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _fingerprint(base: Path, encoded: Sequence[tuple[list[int], list[int]]], params: LoraParams) -> str:
    """What a checkpoint must match to be resumed: the base, the tokenised data and every parameter but threads."""
    digest = hashlib.sha256()
    digest.update(base.name.encode())
    digest.update(str(base.stat().st_size).encode())
    fields = {k: v for k, v in params.__dict__.items() if k not in ("threads", "checkpoint_every")}
    digest.update(json.dumps(fields, sort_keys=True, default=list).encode())
    digest.update(json.dumps(encoded).encode())
    return digest.hexdigest()

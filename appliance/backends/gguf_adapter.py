"""A peft LoRA adapter written as a GGUF LoRA adapter that llama.cpp applies to the quantized base.

What llama.cpp reads (verified here, ../shared/DESIGN.md): `general.architecture=llama`,
`general.type=adapter`, `adapter.type=lora`, `adapter.lora.alpha`, and tensors
`blk.{i}.{attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down}.weight.lora_a|lora_b` holding
peft's lora_A (r x in) and lora_B (out x r) unchanged, except that transformers un-permuted Q and
K when it read the GGUF, so lora_B of q_proj and k_proj is permuted back here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import gguf
import numpy as np

MODULES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}


def permute_rows(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's Q/K row order from transformers' (the inverse of what transformers did on reading)."""
    rows = weights.shape[0]
    return weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def write_adapter(
    path: Path,
    pairs: Mapping[tuple[int, str], tuple[np.ndarray, np.ndarray]],
    *,
    alpha: float,
    heads: int,
    kv_heads: int,
    architecture: str = "llama",
) -> Path:
    """Write {(layer, module): (lora_A, lora_B)} to `path` as a GGUF LoRA adapter."""
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for (layer, module), (lora_a, lora_b) in sorted(pairs.items()):
        if module == "q_proj":
            lora_b = permute_rows(lora_b, heads)
        elif module == "k_proj":
            lora_b = permute_rows(lora_b, kv_heads)
        name = f"blk.{layer}.{MODULES[module]}.weight"
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(lora_a, dtype=np.float32))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(lora_b, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def synthetic_adapter(base: Path, path: Path, *, rank: int, seed: int, scale: float = 1e-4) -> Path:
    """A LoRA adapter of tiny random weights on q_proj and v_proj of every layer of `base`: as large and
    as costly to apply as a trained one, yet too small to change the answer, so that timings compare
    answers of the same length (`bench adapters`)."""
    fields = gguf.GGUFReader(base).fields
    layers, width = int(fields["llama.block_count"].contents()), int(fields["llama.embedding_length"].contents())
    heads, kv_heads = (
        int(fields["llama.attention.head_count"].contents()),
        int(fields["llama.attention.head_count_kv"].contents()),
    )
    kv_width = width // heads * kv_heads
    rng = np.random.default_rng(seed)
    pairs = {}
    for layer in range(layers):
        for module, rows in (("q_proj", width), ("v_proj", kv_width)):
            lora_a = (rng.standard_normal((rank, width)) * scale).astype(np.float32)
            lora_b = (rng.standard_normal((rows, rank)) * scale).astype(np.float32)
            pairs[(layer, module)] = (lora_a, lora_b)
    return write_adapter(path, pairs, alpha=rank, heads=heads, kv_heads=kv_heads)

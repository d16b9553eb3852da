"""`appliance bench adapters`: many LoRA adapters on one loaded base, against a model per adapter.

Side by side in one run, on the configured GGUF (the embedded 135M model by default):
- the per-request cost of switching adapters (answers alternating between two adapters against the
  same answers on one), and reloading a model with its adapter, the naive way;
- resident memory of one base plus 1, 4 and 8 adapters against as many separately loaded models;
- throughput of a stream alternating among 4 adapters against the same stream on one;
- training wall time per 100 examples (the peft trainer, one epoch), on the device torch sees.

The switching and memory figures use adapters of tiny random weights (q_proj and v_proj of every
layer, rank 8): as large and as costly to apply as trained ones, too small to change the answer, so
every series times answers of the same length (the report says so). The training figure trains for real.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.bench.stats import percentile
from appliance.settings import Settings

PROMPT = [{"role": "user", "content": "Tell a long story about a lighthouse keeper and his dog."}]


def resident_mb() -> float:
    """This process's resident memory in MB (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_adapters_bench(
    settings: Settings,
    *,
    adapters: int = 8,
    requests: int = 16,
    reloads: int = 3,
    train_examples: int = 100,
    answer_tokens: int = 16,
) -> dict[str, Any]:
    """Every figure of the benchmark as plain data (see the module docstring)."""
    from appliance.backends.gguf_adapter import synthetic_adapter
    from appliance.backends.llama_generator import LlamaGenerator, separately_loaded
    from appliance.build import base_model_path

    base = base_model_path(settings)
    threads = settings.runtime.threads
    settings.tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="bench-adapters-", dir=settings.tmp_dir))
    try:
        files = [synthetic_adapter(base, folder / f"a{i}.gguf", rank=8, seed=i) for i in range(max(adapters, 4))]
        before = resident_mb()
        generator = LlamaGenerator(settings.generation, threads)
        generator.warm_up()
        memory: dict[str, Any] = {"base_mb": round(resident_mb() - before, 1), "shared": {}, "separate": {}}
        for count, path in enumerate(files[:adapters], start=1):
            generator.check_adapter(path)
            if count in (1, 4, 8):
                memory["shared"][count] = round(resident_mb() - before, 1)

        lengths: set[int] = set()

        def answer(adapter: Path | None) -> float:
            started = time.perf_counter()
            result = generator.chat(PROMPT, max_tokens=answer_tokens, temperature=0.0, adapter=adapter)
            lengths.add(result.completion_tokens)
            return (time.perf_counter() - started) * 1000

        answer(files[0])  # the first answer pays for one-time setup
        same = [answer(files[0]) for _ in range(requests)]
        switching = [answer(files[i % 2]) for i in range(requests)]
        started = time.perf_counter()
        for _ in range(requests):
            answer(files[0])
        one_rate = requests / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(requests):
            answer(files[i % 4])
        four_rate = requests / (time.perf_counter() - started)
        reload_ms = []
        for i in range(reloads):
            started = time.perf_counter()
            fresh = separately_loaded(base, files[i % len(files)], settings.generation, threads)
            fresh.create_chat_completion(messages=PROMPT, max_tokens=answer_tokens, temperature=0.0)
            reload_ms.append((time.perf_counter() - started) * 1000)
            fresh.close()
        loaded = []
        before_separate = resident_mb()
        for count, path in enumerate(files[:adapters], start=1):
            loaded.append(separately_loaded(base, path, settings.generation, threads))
            if count in (1, 4, 8):
                memory["separate"][count] = round(resident_mb() - before_separate + memory["base_mb"], 1)
        for model in loaded:
            model.close()
        training = _training(settings, base, train_examples) if train_examples else None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    same_p50, switch_p50 = percentile(same, 50), percentile(switching, 50)
    return {
        "model": base.name,
        "threads": threads,
        "answer_tokens": answer_tokens,
        "answer_lengths": sorted(lengths),  # one length: every series timed the same work
        "switch": {
            "same_adapter_p50_ms": round(same_p50, 1),
            "same_adapter_p95_ms": round(percentile(same, 95), 1),
            "alternating_p50_ms": round(switch_p50, 1),
            "alternating_p95_ms": round(percentile(switching, 95), 1),
            "switch_cost_ms": round(switch_p50 - same_p50, 1),
            "switch_cost_share": round((switch_p50 - same_p50) / same_p50, 4) if same_p50 else None,
            "reload_p50_ms": round(percentile(reload_ms, 50), 1),
            "reload_p95_ms": round(percentile(reload_ms, 95), 1),
        },
        "memory_mb": memory,
        "throughput": {"one_adapter_per_s": round(one_rate, 2), "four_adapters_per_s": round(four_rate, 2)},
        "training": training,
    }


def _training(settings: Settings, base: Path, examples: int) -> dict[str, Any]:
    """One epoch of the real peft trainer over `examples` synthetic question-answer pairs."""
    from appliance.build import lora_trainer
    from appliance.finetune.examples import Example
    from appliance.finetune.training import conversation, params_for_settings

    data = [
        Example(
            (("user", f"What is the code of locker {i}?"), ("assistant", f"Locker {i} opens with code {1000 + 7 * i}."))
        )
        for i in range(examples)
    ]
    params = params_for_settings(settings, {"epochs": 1, "max_steps": 0})
    run_dir = Path(tempfile.mkdtemp(prefix="bench-train-", dir=settings.tmp_dir))
    try:
        started = time.perf_counter()
        trained = lora_trainer().train(base, [conversation(e) for e in data], params, run_dir, resume=False)
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "examples": examples,
        "steps": trained.steps,
        "device": trained.device,
        "wall_seconds": round(wall, 1),
        "training_seconds": round(trained.seconds, 1),
        "seconds_per_100_examples": round(trained.seconds * 100 / examples, 1),
        "answer_tokens_per_s": round(trained.tokens / trained.seconds, 1) if trained.seconds else None,
    }


def format_report(result: dict[str, Any]) -> str:
    """The benchmark as a few readable tables."""
    switch, memory, rate = result["switch"], result["memory_mb"], result["throughput"]
    share = switch["switch_cost_share"]
    lines = [
        f"bench adapters: {result['model']}, {result['threads']} threads, answers of at most "
        f"{result['answer_tokens']} tokens (lengths seen: {', '.join(map(str, result['answer_lengths']))})",
        "",
        "per answer                         p50 ms    p95 ms",
        f"  one adapter, no switch         {switch['same_adapter_p50_ms']:8.1f}  {switch['same_adapter_p95_ms']:8.1f}",
        f"  switching every answer         {switch['alternating_p50_ms']:8.1f}  {switch['alternating_p95_ms']:8.1f}",
        f"  reload model with adapter      {switch['reload_p50_ms']:8.1f}  {switch['reload_p95_ms']:8.1f}   (naive)",
        f"  switch cost: {switch['switch_cost_ms']:.1f} ms"
        + (f" = {share * 100:.1f}% of one answer" if share is not None else ""),
        "",
        "resident memory (MB)      one base + adapters   separate models",
    ]
    for count in sorted(memory["shared"], key=int):
        separate = memory["separate"].get(count, memory["separate"].get(str(count)))
        lines.append(f"  {count} adapter(s)            {memory['shared'][count]:10.1f}          {separate:10.1f}")
    lines += [
        "",
        f"throughput: {rate['one_adapter_per_s']:.2f} answers/s on one adapter, "
        f"{rate['four_adapters_per_s']:.2f} answers/s alternating among 4",
    ]
    training = result["training"]
    if training:
        lines.append(
            f"training: {training['examples']} examples, {training['steps']} steps on {training['device']}: "
            f"{training['training_seconds']:.1f} s ({training['seconds_per_100_examples']:.1f} s per 100 examples, "
            f"{training['answer_tokens_per_s']} answer tokens/s), {training['wall_seconds']:.1f} s with loading"
        )
    return "\n".join(lines)

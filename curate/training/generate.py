"""Generate answers for a build's eval records, writing the predictions JSONL that ``curate eval`` scores.

The prompt of a record is all its messages except the final assistant one, rendered with the model's chat
template and a generation prompt. Decoding is greedy (deterministic); output lines are sorted by record id.
vLLM is used when importable and a GPU is present, else batched Hugging Face ``generate``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.training.data import read_records, shard_paths
from curate.training.model import load_model, load_tokenizer

EVAL_STAGE = "eval"


def eval_prompts(
    build_dir: str | Path, split: str = "test", limit: int | None = None
) -> list[tuple[str, list]]:
    """(record id, prompt messages) of the eval records of ``split``, ordered by id."""
    records = read_records(shard_paths(build_dir, EVAL_STAGE, (split,)))
    out = []
    for rec in records[:limit] if limit else records:
        msgs = [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]
        if msgs and msgs[-1]["role"] == "assistant":
            msgs = msgs[:-1]
        out.append((rec["id"], msgs))
    return out


def _generate_hf(model_dir: Path, prompts: list[str], batch_size: int, max_new_tokens: int) -> list[str]:
    import torch

    tokenizer = load_tokenizer(model_dir)
    tokenizer.padding_side = "left"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model = load_model(model_dir, "sdpa", dtype=dtype).to(device).eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch
    answers: list[str] = [""] * len(prompts)
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        enc = tokenizer(
            [prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
        )
        enc = {k: v.to(device) for k, v in enc.items()}
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        for i, ids in zip(idx, new, strict=True):
            answers[i] = tokenizer.decode(ids, skip_special_tokens=True).strip()
    return answers


def _generate_vllm(model_dir: Path, prompts: list[str], max_new_tokens: int) -> list[str] | None:
    try:
        import torch
        from vllm import LLM, SamplingParams  # type: ignore[import-not-found]
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    llm = LLM(model=str(model_dir))
    outputs = llm.generate(prompts, SamplingParams(temperature=0.0, max_tokens=max_new_tokens))
    return [o.outputs[0].text.strip() for o in outputs]


def generate_predictions(
    model_dir: str | Path,
    build_dir: str | Path,
    out_path: str | Path,
    split: str = "test",
    batch_size: int = 8,
    max_new_tokens: int = 256,
    limit: int | None = None,
    use_vllm: bool = True,
) -> dict[str, Any]:
    """Write ``{"id", "prediction"}`` lines for the eval records of ``split``; return a small summary."""
    model_path = Path(model_dir)
    tokenizer = load_tokenizer(model_path)
    items = eval_prompts(build_dir, split, limit)
    prompts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for _, m in items]
    answers = _generate_vllm(model_path, prompts, max_new_tokens) if use_vllm else None
    engine = "vllm" if answers is not None else "hf"
    if answers is None:
        answers = _generate_hf(model_path, prompts, batch_size, max_new_tokens)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for (rid, _), answer in sorted(zip(items, answers, strict=True), key=lambda x: x[0][0]):
            fh.write(json.dumps({"id": rid, "prediction": answer}, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return {"records": len(items), "engine": engine, "out": str(out)}

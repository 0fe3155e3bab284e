"""Model and tokenizer loading: a local Hugging Face directory, or a model built from a config (no hub).

Building from a config (tests, the CPU benchmark) also trains a small byte-level BPE tokenizer in-process and
saves both as an ordinary HF directory, so every later step (workers, stage 2, generate) loads a directory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from curate.training.config import ConfigError, LoRAConfig, ModelConfig

# ChatML, as Qwen uses; `{% generation %}` is not needed: labels come from prefix rendering (data.py).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE trained on ``texts``, as a ``PreTrainedTokenizerFast`` with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def _check_dir(path: str, key: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise ConfigError(f"{key}: directory {p} not found; point it at a local Hugging Face model directory")
    return p


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(_check_dir(str(path), "model.tokenizer_path")))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template:
        raise ConfigError(f"tokenizer in {path} has no chat template; add one to its tokenizer_config.json")
    return tok


def load_model(path: str | Path, attn_implementation: str = "sdpa", dtype: Any = None) -> Any:
    """A causal LM from a local directory, fp32 unless ``dtype`` says otherwise (DeepSpeed casts for bf16).

    ``attn_implementation="auto"`` is resolved for this process's device (``attention.resolve_attention``).
    """
    import torch
    from transformers import AutoModelForCausalLM

    from curate.training.attention import current_device, resolve_attention

    p = _check_dir(str(path), "model.path")
    return AutoModelForCausalLM.from_pretrained(
        str(p),
        dtype=dtype or torch.float32,
        attn_implementation=resolve_attention(attn_implementation, current_device()),
    )


def build_base_model(cfg: ModelConfig, out_dir: str | Path, texts: Iterable[str], seed: int) -> Path:
    """Resolve the model source to a local HF directory; build one from ``cfg.architecture`` if needed.

    A built model is written once to ``out_dir`` (seeded, so reruns are identical) and reused afterwards.
    """
    if cfg.path is not None:
        return _check_dir(cfg.path, "model.path")
    out = Path(out_dir)
    if (out / "config.json").is_file():
        return out
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = (
        load_tokenizer(cfg.tokenizer_path)
        if cfg.tokenizer_path
        else train_tokenizer(texts, cfg.tokenizer_vocab_size)
    )
    arch = dict(cfg.architecture or {})
    arch["vocab_size"] = len(tokenizer)
    arch.setdefault("pad_token_id", tokenizer.pad_token_id)
    arch.setdefault("eos_token_id", tokenizer.eos_token_id)
    arch.setdefault("bos_token_id", None)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(Qwen2Config(**arch))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    tmp.rename(out)
    return out


def apply_lora(model: Any, cfg: LoRAConfig) -> Any:
    """Wrap the model with LoRA adapters (peft) when enabled; the base weights are frozen."""
    if not cfg.enabled:
        return model
    from peft import LoraConfig, get_peft_model

    return get_peft_model(
        model,
        LoraConfig(
            r=cfg.r,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=cfg.target_modules,
            task_type="CAUSAL_LM",
        ),
    )


def state_checksum(state_dict: dict[str, Any]) -> str:
    """sha256 over (name, fp32 bytes) of every tensor by name: equal iff the weights are bitwise equal."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu", torch.float32).contiguous()
        h.update(name.encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()

"""Fine-tune a local causal LM on a curate build with TRL's SFTTrainer instead of `curate train`.

    python examples/train_with_trl.py --build out --stage stage2 --model path/to/model --output run-trl

The stage's parquet shards load with `datasets`; their `messages` column is TRL's conversational format,
so SFTTrainer applies the tokenizer's chat template itself. docs/training.md shows the full recipe.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, required=True, help="a curate build directory")
    parser.add_argument("--stage", default="stage2", help="which output to train on")
    parser.add_argument("--model", required=True, help="local Hugging Face model directory (with a chat template)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    args = parser.parse_args()

    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    manifest = json.loads((args.build / args.stage / "manifest.json").read_text(encoding="utf-8"))
    files = [str(args.build / args.stage / s["path"]) for s in manifest["shards"] if s["split"] == "train"]
    train = datasets.load_dataset("parquet", data_files=files, split="train").select_columns(["messages"])

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)
    config = SFTConfig(output_dir=str(args.output), max_steps=args.max_steps, num_train_epochs=args.epochs,
                       per_device_train_batch_size=args.batch_size, max_length=args.max_length,
                       logging_steps=1, save_strategy="no", report_to="none", seed=0, use_cpu=args.cpu,
                       dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer)
    result = trainer.train()
    trainer.save_model(str(args.output / "final"))
    print(json.dumps({"global_step": result.global_step, "train_loss": result.training_loss,
                      "rows": len(train), "saved": str(args.output / "final")}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Finetunes a model Recast converted (`recast swap` / `recast calibrate`) in PyTorch, and writes a folder
Recast reads back.

  1. loads the folder with trust_remote_code (modeling_recast.py beside the weights);
  2. attaches LoRA adapters (rank 8 on the attention's q, k, v and o projections, as LoLCATs' stage 2) with
     peft, or trains every parameter (--full, as T2R);
  3. trains on a text file with the next-token loss, or, with --teacher ORIGINAL, by distillation: the KL
     divergence from the original model's next-token distribution (at every position) to the converted one's,
     so that training recovers what the original predicts rather than fitting the text;
  4. merges the adapters into the weights;
  5. save_pretrained: config.json (with auto_map), modeling_recast.py, safetensors (sharded past
     --max-shard-size), in --save-dtype.

One machine:            python3 tools/finetune.py SWAPPED text.txt OUT --steps 1000 [--teacher ORIGINAL]
GPUs / several machines: accelerate launch [--multi_gpu --num_processes 8 ...] tools/finetune.py SWAPPED text.txt OUT
(the script runs through `accelerate.Accelerator`, which places the model, splits the batches and averages
gradients; on one CPU it is a plain loop). Back in Recast: `recast inspect OUT`, `recast run OUT …`,
`recast verify SWAPPED OUT …`, `recast generate OUT …`.

The model's tokenizer (files beside the weights) tokenizes the text; --byte-tokens uses the text's bytes
modulo the vocabulary instead (for tiny test models without a tokenizer).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from accelerate import Accelerator  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

#: The attention projections LoRA adapts, per model_type: q, k, v and o of every layer.
LORA_TARGETS = {
    "llama": r".*\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    "qwen2": r".*\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    "mistral": r".*\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    "gpt2": r".*\.attn\.(c_attn|c_proj)",  # GPT-2 holds q, k and v in one c_attn
}

#: Companion files copied from the source folder to the output (save_pretrained writes the rest).
COMPANIONS = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
              "tokenizer.model", "vocab.txt", "generation_config.json", "chat_template.jinja"]


def token_ids(args, vocab_size: int) -> list[int]:
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    if args.byte_tokens:
        return [b % vocab_size for b in text.encode("utf-8")]
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
    except Exception as error:  # noqa: BLE001 - any failure means: no usable tokenizer
        raise SystemExit(f"{args.model}: no tokenizer to read {args.text} with ({error}); pass --byte-tokens for a model without one")
    return tokenizer(text)["input_ids"]


def batches(ids: list[int], length: int, batch: int, steps: int, seed: int):
    """`steps` batches of `batch` windows of `length` tokens, drawn at random."""
    if len(ids) < length + 1:
        raise SystemExit(f"the text gives {len(ids)} tokens, fewer than --seq-len {length} + 1")
    data = torch.tensor(ids)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - length + 1, (batch,), generator=generator)
        yield torch.stack([data[s:s + length] for s in starts.tolist()])


def split_held_out(ids: list[int], length: int, count: int = 4) -> tuple[list[int], torch.Tensor]:
    """The text's last `count` windows of `length` tokens, held out (measured before and after training, never
    trained on), and the tokens before them, to train on."""
    count = max(1, min(count, len(ids) // length - 1))
    cut = len(ids) - count * length
    if count < 1 or cut < length + 1:
        raise SystemExit(f"the text gives {len(ids)} tokens: too few for --seq-len {length} (one window to train on "
                         f"and one held out)")
    return ids[:cut], torch.tensor([ids[cut + i * length:cut + (i + 1) * length] for i in range(count)])


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) of the next-token distributions at temperature T, averaged over positions and
    scaled by T² (so that its gradients keep their size across temperatures, as in Hinton et al. 2015).
    student, teacher: logits [B, L, V]."""
    V = student.shape[-1]
    s = torch.log_softmax(student.reshape(-1, V).float() / temperature, dim=-1)
    t = torch.log_softmax(teacher.reshape(-1, V).float() / temperature, dim=-1)
    return torch.nn.functional.kl_div(s, t, log_target=True, reduction="batchmean") * temperature ** 2


def held_out_figures(model, windows: torch.Tensor, teacher=None, temperature: float = 1.0) -> dict[str, float]:
    """On `windows`, in evaluation mode: the mean next-token loss; with a teacher also the distillation loss
    and the top-1 agreement (the share of positions where the two models' most likely next tokens agree)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(input_ids=windows, labels=windows)
        figures = {"loss": out.loss.item()}
        if teacher is not None:
            reference = teacher(input_ids=windows).logits
            figures["distillation"] = distillation_loss(out.logits, reference, temperature).item()
            figures["top1_agreement"] = (out.logits.argmax(-1) == reference.argmax(-1)).float().mean().item()
    model.train(was_training)
    return figures


def describe(figures: dict[str, float]) -> str:
    parts = [f"loss {figures['loss']:.4f}"]
    if "distillation" in figures:
        parts += [f"distillation {figures['distillation']:.4f}", f"top-1 agreement {100 * figures['top1_agreement']:.1f}%"]
    return ", ".join(parts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a folder written by recast swap or calibrate")
    p.add_argument("text", help="a UTF-8 text file to train on")
    p.add_argument("out", help="the folder to write")
    p.add_argument("--full", action="store_true", help="train every parameter instead of LoRA adapters")
    p.add_argument("--teacher", help="the original model's folder: train by distillation from it instead of the "
                                     "next-token loss (same vocabulary)")
    p.add_argument("--temperature", type=float, default=1.0, help="distillation temperature (default 1)")
    p.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=None, help="default 1e-3 for LoRA, 1e-4 for --full")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--byte-tokens", action="store_true", help="token ids = the text's bytes modulo the vocabulary")
    p.add_argument("--save-dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    p.add_argument("--max-shard-size", default="5GB", help="shard the safetensors past this size (e.g. 20KB)")
    p.add_argument("--log", help="write the loss of every step here (JSON lines)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = p.parse_args()
    for name in ("steps", "seq_len", "batch", "rank"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr is not None and not args.lr >= 0:
        p.error(f"--lr must be zero or positive (got {args.lr})")
    if not args.temperature > 0:
        p.error(f"--temperature must be positive (got {args.temperature})")
    if args.teacher and not os.path.isfile(os.path.join(args.teacher, "config.json")):
        p.error(f"--teacher {args.teacher}: not a model folder (no config.json)")
    if os.path.realpath(args.out) == os.path.realpath(args.model):
        p.error(f"OUT {args.out} is the model folder itself: write the finetuned model elsewhere")
    if os.path.lexists(args.out) and not args.force:
        p.error(f"{args.out} exists: pass --force to replace it")

    torch.manual_seed(args.seed)
    accelerator = Accelerator()
    model = AutoModelForCausalLM.from_pretrained(args.model, trust_remote_code=True, dtype=torch.float32)
    model_type = model.config.model_type
    if args.full:
        trained = [p for p in model.parameters() if p.requires_grad]
    else:
        if model_type not in LORA_TARGETS:
            raise SystemExit(f"{args.model}: LoRA targets are not known for model_type {model_type!r}; use --full")
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                                                 target_modules=LORA_TARGETS[model_type],
                                                 fan_in_fan_out=model_type == "gpt2"))
        trained = [p for p in model.parameters() if p.requires_grad]
    teacher = None
    if args.teacher:
        teacher = AutoModelForCausalLM.from_pretrained(args.teacher, trust_remote_code=True, dtype=torch.float32).eval()
        teacher.requires_grad_(False)
        if teacher.config.vocab_size != model.config.vocab_size:
            raise SystemExit(f"--teacher {args.teacher}: vocabulary of {teacher.config.vocab_size} tokens, the model's "
                             f"is {model.config.vocab_size}")
        teacher = teacher.to(accelerator.device)
    optimizer = torch.optim.AdamW(trained, lr=args.lr if args.lr is not None else (1e-4 if args.full else 1e-3))
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()

    ids, held_out = split_held_out(token_ids(args, accelerator.unwrap_model(model).config.vocab_size), args.seq_len)
    held_out = held_out.to(accelerator.device)
    before = held_out_figures(model, held_out, teacher, args.temperature)
    log = open(args.log, "w") if args.log else None
    for step, batch in enumerate(batches(ids, args.seq_len, args.batch, args.steps, args.seed)):
        batch = batch.to(accelerator.device)
        if teacher is None:
            loss = model(input_ids=batch, labels=batch).loss  # transformers shifts the labels by one
        else:
            with torch.no_grad():
                reference = teacher(input_ids=batch).logits
            loss = distillation_loss(model(input_ids=batch).logits, reference, args.temperature)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        if accelerator.is_main_process:
            print(f"step {step + 1}/{args.steps}  loss {loss.item():.4f}", flush=True)
            if log:
                log.write(json.dumps({"step": step + 1, "loss": loss.item()}) + "\n")
    after = held_out_figures(model, held_out, teacher, args.temperature)
    if accelerator.is_main_process:
        print(f"held-out loss {before['loss']:.4f} -> {after['loss']:.4f}", flush=True)
        if teacher is not None:
            print(f"held-out, before: {describe(before)}; after: {describe(after)}", flush=True)
        if log:
            log.write(json.dumps({"held_out_before": before["loss"], "held_out_after": after["loss"],
                                  "held_out": {"before": before, "after": after}}) + "\n")
    if log:
        log.close()

    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    model = accelerator.unwrap_model(model)
    if not args.full:
        model = model.merge_and_unload()
    model = model.to(getattr(torch, args.save_dtype))
    # Written beside OUT and renamed into place when complete: an interrupted run leaves OUT as it was.
    out = os.path.abspath(args.out)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", dir=os.path.dirname(out))
    try:
        model.save_pretrained(staging, max_shard_size=args.max_shard_size)
        for name in COMPANIONS:
            source = os.path.join(args.model, name)
            if os.path.isfile(source) and not os.path.exists(os.path.join(staging, name)):
                shutil.copyfile(source, os.path.join(staging, name))
        if os.path.lexists(out):  # --force (checked at the start)
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old.", dir=os.path.dirname(out))
            os.rename(out, os.path.join(old, "replaced"))
            os.rename(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())

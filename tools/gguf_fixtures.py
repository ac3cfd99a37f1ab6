#!/usr/bin/env python3
"""Small GGUF files written with gguf-py, and what gguf-py's own reader sees in a GGUF file.

  gguf_fixtures.py write DIR   writes the fixtures into DIR; prints JSON {"files": [...], "nested": {key: value}}
                               (nested arrays as written, since GGUFReader flattens them)
  gguf_fixtures.py dump FILE   prints GGUFReader's view of FILE as JSON: version, alignment, data offset,
                               every metadata key (types, value), every tensor (type, dims, offset, size, SHA-256 of its bytes)
  gguf_fixtures.py types       prints gguf.constants.GGML_QUANT_SIZES as JSON
  gguf_fixtures.py seeds DIR   writes the small seeds of the fuzz target fuzz-gguf (Fuzz/corpus-seeds/gguf):
                               one tensor of every GGML type in a file of its own, a version-2 file, arrays
  gguf_fixtures.py model DIR   writes a small llama-like model (model.gguf: f32, f16, Q4_1 and Q8_0 weights, norms,
                               a bias, the output tied to the embedding) and odd_rows.gguf (rows of 48
                               elements); prints JSON {"files": {...}}
  gguf_fixtures.py encode FILE TYPE
                               prints {tensor: SHA-256} of gguf.quants.quantize(the tensor as f32, TYPE) for every
                               floating-point or quantised tensor of FILE (dequantised by gguf.quants.dequantize
                               first); null where the rows are not a whole number of TYPE's blocks
  gguf_fixtures.py from-hf FOLDER FILE
                               compares the GGUF FILE with the Hugging Face model in FOLDER (config.json and
                               its .safetensors files) as llama.cpp's converter relates them: names by gguf-py's
                               TensorNameMap, q/k rows of llama permuted (convert_hf_to_gguf.py's LlamaModel.permute),
                               GPT-2's Conv1D weights transposed; prints {"expected": {name: SHA-256 of
                               gguf.quants.quantize(those values as f32, the type FILE gives the tensor)},
                               "written": {name: SHA-256 of FILE's bytes}, "types": {name: type}, "unwritten": [names]}
  gguf_fixtures.py rope DIR     writes small llama/qwen2 GGUF files with rope scaling as llama.cpp stores it
                               (rope.scaling.* keys; Llama 3's rope_freqs.weight from the published formula,
                               llama3_factors), metadata and that tensor only; prints JSON {name: {"file": ...,
                               "rope_scaling": the config.json object expected back, or null, "refused": what
                               the refusal must name}}
  gguf_fixtures.py scaled-model SRC KIND OUT
                               copies the llama GGUF SRC (as tools/gguf_names.py converts it) to OUT with rope
                               scaling KIND added: "linear" (factor 4) or "llama3" (factor 8, low 1, high 4,
                               original context 64 in rope.scaling.original_context_length, rope_freqs.weight)
  gguf_fixtures.py rope-freqs FILE
                               the rope_freqs.weight values of FILE as gguf-py reads them, with the values the
                               published llama3 formula gives for the parameters in the JSON on stdin
                               ({"theta", "dim", "factor", "low_freq_factor", "high_freq_factor",
                               "original_max_position_embeddings"}); prints {"written": [...], "expected": [...]}
  gguf_fixtures.py same-values A B
                               compares the tensors of two Hugging Face folders as f32 values, names compared without
                               the "bert." and "transformer." prefixes; prints {"compared": n, "differ": [...],
                               "only_a": [...], "only_b": [...], "dtypes_b": {name: dtype}}

Scalars are printed canonically so that they compare exactly: integers in decimal, booleans as
true/false, floats as their bit pattern ("f32:3f800000", "f64:3ff0000000000000"), strings as they are.
"""
import hashlib
import json
import os
import struct
import sys

import numpy as np
import gguf
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as Q, GGUFValueType as V


def canonical(value, vtype):
    if vtype == V.FLOAT32:
        return "f32:%08x" % struct.unpack("<I", struct.pack("<f", value))[0]
    if vtype == V.FLOAT64:
        return "f64:%016x" % struct.unpack("<Q", struct.pack("<d", value))[0]
    if vtype == V.BOOL:
        return "true" if value else "false"
    if vtype == V.STRING:
        return value
    return str(int(value))


# Nested arrays: GGUFWriter infers each inner array's type from its first element.
NESTED = {
    "test.nested.ints": [[1, 2, 3], [4], [5, 6]],
    "test.nested.strings": [["a", "bé"], ["ü", "", "z"]],
    "test.nested.deep": [[[1.5, 2.5], [3.5]], [[4.5]]],
}


def canonical_nested(value):
    if isinstance(value, list):
        return [canonical_nested(v) for v in value]
    return canonical(value, V.get_type(value))


def write_all_types(path, rng):
    w = gguf.GGUFWriter(path, "llama")
    w.add_uint8("test.uint8", 255)
    w.add_int8("test.int8", -128)
    w.add_uint16("test.uint16", 65535)
    w.add_int16("test.int16", -32768)
    w.add_uint32("test.uint32", 4294967295)
    w.add_int32("test.int32", -2147483648)
    w.add_uint64("test.uint64", 18446744073709551615)
    w.add_int64("test.int64", -9223372036854775808)
    w.add_float32("test.float32", 9.9999997e-06)
    w.add_float32("test.float32.nan", float("nan"))
    w.add_float32("test.float32.neg_inf", float("-inf"))
    w.add_float32("test.float32.neg_zero", -0.0)
    w.add_float64("test.float64", 3.141592653589793)
    w.add_bool("test.bool.true", True)
    w.add_bool("test.bool.false", False)
    w.add_string("test.string", "héllo, wörld ✓ 🦙")
    w.add_array("test.array.strings", ["<s>", "</s>", "▁the", "Ġworld", "日本"])
    w.add_array("test.array.int32", [1, -2, 3, 2147483647])
    w.add_array("test.array.float32", [0.5, -1.25, 1e-10])
    w.add_array("test.array.bool", [True, False, True])
    w.add_key_value("test.array.uint8", [0, 1, 254, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.array.int64", [-1, 2**62], V.ARRAY, sub_type=V.INT64)
    w.add_key_value("test.array.uint64", [2**64 - 1, 0], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("test.array.float64", [1e300, -2.5], V.ARRAY, sub_type=V.FLOAT64)
    w.add_key_value("test.array.int16", [-3, 7], V.ARRAY, sub_type=V.INT16)
    for key, value in NESTED.items():
        w.add_key_value(key, value, V.ARRAY)

    # Plain types from NumPy arrays; the quantised ones gguf-py can quantise through gguf.quants.quantize;
    # the others as random whole blocks (the container does not look inside blocks).
    w.add_tensor("plain.f32", rng.standard_normal((3, 64)).astype(np.float32))
    w.add_tensor("plain.f16", rng.standard_normal((2, 2, 8)).astype(np.float16))
    w.add_tensor("plain.f64", rng.standard_normal(5).astype(np.float64))
    w.add_tensor("plain.i8", rng.integers(-128, 127, (4, 3), dtype=np.int8))
    w.add_tensor("plain.i16", rng.integers(-1000, 1000, (7,), dtype=np.int16))
    w.add_tensor("plain.i32", rng.integers(-10**6, 10**6, (2, 3), dtype=np.int32))
    w.add_tensor("plain.i64", rng.integers(-10**12, 10**12, (1, 1, 1, 3), dtype=np.int64))
    for q in (Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0):
        data = rng.standard_normal((4, 64)).astype(np.float32)
        w.add_tensor("quant." + q.name.lower(), gguf.quants.quantize(data, q), raw_dtype=q)
    for q in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.Q8_K, Q.IQ4_NL, Q.IQ4_XS, Q.IQ2_XXS, Q.TQ1_0, Q.TQ2_0, Q.MXFP4):
        block, size = GGML_QUANT_SIZES[q]
        blocks = rng.integers(0, 256, (3, 2 * size), dtype=np.uint8)  # 3 rows of 2 blocks
        w.add_tensor("raw." + q.name.lower(), blocks, raw_dtype=q)
    finish(w)


def write_aligned(path, rng):
    w = gguf.GGUFWriter(path, "qwen2")
    w.add_custom_alignment(64)
    w.add_uint32("qwen2.block_count", 2)
    w.add_tensor("a", rng.standard_normal(3).astype(np.float32))
    w.add_tensor("b", gguf.quants.quantize(rng.standard_normal((2, 32)).astype(np.float32), Q.Q8_0), raw_dtype=Q.Q8_0)
    w.add_tensor("c", rng.standard_normal((5, 5)).astype(np.float16))
    finish(w)


def write_metadata_only(path):
    w = gguf.GGUFWriter(path, "bert")
    w.add_name("metadata only")
    finish(w)


def write_seeds(folder, rng):
    """Small files for fuzz-gguf: a file per GGML type, so that libFuzzer's byte mutations of one file
    work on one decoder; quantised blocks are random bytes (scales of every exponent, NaN included)."""
    for q in Q:
        block, size = GGML_QUANT_SIZES[q]
        w = gguf.GGUFWriter(os.path.join(folder, "type-" + q.name.lower() + ".gguf"), "llama")
        if block == 1:
            data = rng.integers(0, 256, (2, 3 * size), dtype=np.uint8)
        else:
            data = rng.integers(0, 256, (2, size), dtype=np.uint8)  # 2 rows of 1 block
        w.add_tensor("t", data, raw_dtype=q)
        finish(w)
    w = gguf.GGUFWriter(os.path.join(folder, "arrays.gguf"), "gpt2")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "ab", "\u0120the"])
    w.add_array("tokenizer.ggml.scores", [0.0, -1.5, -2.0, -3.25])
    w.add_array("tokenizer.ggml.token_type", [1, 1, 1, 3])
    w.add_key_value("test.nested", [[1, 2], [[3.5]], ["x"]], V.ARRAY)
    w.add_float32("gpt2.attention.layer_norm_epsilon", 9.9999997e-06)
    w.add_bool("test.bool", True)
    w.add_tensor("token_embd.weight", rng.standard_normal((4, 8)).astype(np.float32))
    finish(w)
    w = gguf.GGUFWriter(os.path.join(folder, "aligned1.gguf"), "qwen2")
    w.add_custom_alignment(1)
    w.add_tensor("a", rng.standard_normal(3).astype(np.float16))
    w.add_tensor("b", rng.integers(-5, 5, 3, dtype=np.int8))
    finish(w)
    # Version 2 (gguf-py writes version 3; the two differ only in the version field since 64-bit counts).
    with open(os.path.join(folder, "type-q8_0.gguf"), "rb") as f:
        v2 = bytearray(f.read())
    v2[4:8] = struct.pack("<I", 2)
    with open(os.path.join(folder, "version2.gguf"), "wb") as f:
        f.write(v2)


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def dump(path):
    r = gguf.GGUFReader(path)
    metadata = []
    for key, field in r.fields.items():
        if key.startswith("GGUF."):
            continue
        types = [t.name for t in field.types]
        main = field.types[0]
        if main == V.ARRAY:
            leaf = field.types[-1]
            value = [canonical(v, leaf) for v in field.contents()]
        else:
            value = canonical(field.contents(), main)
        metadata.append({"key": key, "offset": field.offset, "types": types, "value": value})
    tensors = [{
        "name": t.name,
        "type": int(t.tensor_type),
        "type_name": t.tensor_type.name,
        "dims": [int(d) for d in t.shape],
        "n_elements": int(t.n_elements),
        "n_bytes": int(t.n_bytes),
        "data_offset": int(t.data_offset),
        "info_offset": int(t.field.offset),
        "sha256": hashlib.sha256(r.data[t.data_offset:t.data_offset + t.n_bytes].tobytes()).hexdigest(),
    } for t in r.tensors]
    return {"version": int(r.fields["GGUF.version"].parts[0][0]), "alignment": int(r.alignment),
            "data_offset": int(r.data_offset), "metadata": metadata, "tensors": tensors}


def write_model(path, rng):
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    # Scales spread over decades, so that blocks differ in range (the quantisers' interesting cases).
    def weights(shape, dtype=np.float32):
        scale = 10.0 ** rng.uniform(-3, 1, size=(shape[0],) + (1,) * (len(shape) - 1))
        return (rng.standard_normal(shape) * scale).astype(dtype)
    w.add_tensor("token_embd.weight", weights((48, 64)))
    w.add_tensor("blk.0.attn_norm.weight", weights((64,)))
    w.add_tensor("blk.0.attn_q.weight", weights((64, 64)))
    w.add_tensor("blk.0.attn_q.bias", weights((64,)))
    w.add_tensor("blk.0.attn_k.weight", weights((32, 64), np.float16))
    w.add_tensor("blk.0.ffn_down.weight", weights((64, 96)))
    w.add_tensor("blk.0.attn_v.weight", gguf.quants.quantize(weights((32, 64)), Q.Q4_1), raw_dtype=Q.Q4_1)
    w.add_tensor("blk.0.attn_output.weight", gguf.quants.quantize(weights((64, 64)), Q.Q8_0), raw_dtype=Q.Q8_0)
    w.add_tensor("blk.0.ffn_norm.weight", weights((64,)))
    w.add_tensor("output_norm.weight", weights((64,)))
    finish(w)


def write_odd_rows(path, rng):
    w = gguf.GGUFWriter(path, "llama")
    w.add_tensor("blk.0.attn_q.weight", rng.standard_normal((64, 64)).astype(np.float32))
    w.add_tensor("blk.0.attn_v.weight", rng.standard_normal((4, 48)).astype(np.float32))
    finish(w)


def encode(path, type_name):
    r = gguf.GGUFReader(path)
    target = Q[type_name.upper()]
    block = GGML_QUANT_SIZES[target][0]
    out = {}
    for t in r.tensors:
        if t.tensor_type in (Q.I8, Q.I16, Q.I32, Q.I64):
            continue
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        if values.shape[-1] % block:
            out[t.name] = None
            continue
        out[t.name] = hashlib.sha256(gguf.quants.quantize(values, target).tobytes()).hexdigest()
    return out


def llama_permute(weights, n_head):
    # convert_hf_to_gguf.py's LlamaModel.permute: per head, rotate_half's halves interleaved.
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def load_folder(folder):
    """Every tensor of a folder's .safetensors files, widened to f32 through PyTorch (NumPy has no bf16)."""
    from safetensors import safe_open
    tensors, dtypes = {}, {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(folder, f), framework="pt") as st:
                for k in st.keys():
                    t = st.get_tensor(k)
                    tensors[k], dtypes[k] = t.float().numpy(), str(t.dtype).replace("torch.", "")
    return tensors, dtypes


def same_values(a, b):
    def strip(name):
        for prefix in ("bert.", "transformer."):
            if name.startswith(prefix):
                return name[len(prefix):]
        return name
    ta, _ = load_folder(a)
    tb, dtypes = load_folder(b)
    ta = {strip(k): v for k, v in ta.items()}
    tb = {strip(k): v for k, v in tb.items()}
    common = sorted(set(ta) & set(tb))
    differ = [k for k in common if ta[k].shape != tb[k].shape or ta[k].tobytes() != tb[k].tobytes()]
    return {"compared": len(common), "differ": differ, "only_a": sorted(set(ta) - set(tb)),
            "only_b": sorted(set(tb) - set(ta)), "dtypes_b": {strip(k): v for k, v in dtypes.items()}}


def from_hf(folder, path):
    config = json.load(open(os.path.join(folder, "config.json")))
    model_type = config["model_type"]
    arch = {"llama": gguf.MODEL_ARCH.LLAMA, "mistral": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2,
            "gpt2": gguf.MODEL_ARCH.GPT2, "bert": gguf.MODEL_ARCH.BERT}[model_type]
    n_blocks = config.get("num_hidden_layers", config.get("n_layer"))
    names = gguf.get_tensor_name_map(arch, n_blocks)
    expected = {}
    tensors, _ = load_folder(folder)
    for name, data in tensors.items():
        # What llama.cpp's converter drops (GPT-2's mask buffers) and renames (BertModel strips "bert.").
        if name.endswith((".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq")):
            continue
        if arch == gguf.MODEL_ARCH.BERT and name.startswith("bert."):
            name = name[5:]
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            continue
        data = data.astype(np.float32)
        if arch == gguf.MODEL_ARCH.LLAMA and name.endswith(("q_proj.weight", "q_proj.bias")):
            data = llama_permute(data, config["num_attention_heads"])
        if arch == gguf.MODEL_ARCH.LLAMA and name.endswith(("k_proj.weight", "k_proj.bias")):
            data = llama_permute(data, config.get("num_key_value_heads") or config["num_attention_heads"])
        if arch == gguf.MODEL_ARCH.GPT2 and name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            data = data.T
        expected[new] = np.ascontiguousarray(data)
    r = gguf.GGUFReader(path)
    out = {"expected": {}, "written": {}, "types": {}, "unwritten": sorted(set(expected) - {t.name for t in r.tensors})}
    for t in r.tensors:
        raw = r.data[t.data_offset:t.data_offset + t.n_bytes].tobytes()
        out["written"][t.name] = hashlib.sha256(raw).hexdigest()
        out["types"][t.name] = t.tensor_type.name
        if t.name in expected:
            encoded = gguf.quants.quantize(expected[t.name], t.tensor_type)
            out["expected"][t.name] = hashlib.sha256(encoded.tobytes()).hexdigest()
    return out


def llama3_factors(theta, dim, factor, low, high, original):
    """Llama 3.1's rotary scaling as llama.cpp stores it: per rotary pair, the divisor of the inverse frequency
    (Meta's published apply_scaling, in float64: wavelengths under original/high kept, over original/low
    divided by factor, a linear blend of the two in between), rounded to f32 at the end."""
    inv = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    wavelength = 2 * np.pi / inv
    smooth = (original / wavelength - low) / (high - low)
    blended = 1.0 / ((1 - smooth) / factor + smooth)
    out = np.where(wavelength < original / high, 1.0, np.where(wavelength > original / low, factor, blended))
    return out.astype(np.float32)


def rope_header(path, arch, dim, theta, extra=lambda w: None, freqs=None):
    """A two-head, one-layer model's metadata (and rope_freqs.weight when given), without weights."""
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(1)
    w.add_context_length(131072)
    w.add_embedding_length(2 * dim)
    w.add_feed_forward_length(4 * dim)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_rope_freq_base(theta)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(16)
    w.add_rope_dimension_count(dim)
    extra(w)
    if freqs is not None:
        w.add_tensor("rope_freqs.weight", freqs)
    finish(w)


def llama3_expected(factor, low, high, original):
    return {"rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
            "original_max_position_embeddings": original}


def write_rope(folder):
    out = {}

    def case(name, arch, dim, theta, expected=None, refused=None, extra=lambda w: None, freqs=None):
        path = os.path.join(folder, name + ".gguf")
        rope_header(path, arch, dim, theta, extra, freqs)
        out[name] = {"file": path, "rope_scaling": expected, "refused": refused}

    def linear(factor):
        return lambda w: (w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR), w.add_rope_scaling_factor(factor))

    case("linear", "llama", 8, 10000.0, {"rope_type": "linear", "factor": 4.0}, extra=linear(4.0))
    case("linear_qwen2", "qwen2", 8, 10000.0, {"rope_type": "linear", "factor": 2.5}, extra=linear(2.5))
    # Before rope.scaling.type, llama.cpp wrote a linear factor as rope.scale_linear.
    case("scale_linear", "llama", 8, 10000.0, {"rope_type": "linear", "factor": 2.0},
         extra=lambda w: w.add_float32("llama.rope.scale_linear", 2.0))
    case("none", "llama", 8, 10000.0, None,
         extra=lambda w: (w.add_rope_scaling_type(gguf.RopeScalingType.NONE), w.add_rope_scaling_factor(1.0)))
    # Llama 3.1 8B (head size 128, rope_theta 500000) and Llama 3.2 1B (head size 64): the published values.
    case("llama31", "llama", 128, 500000.0, llama3_expected(8.0, 1.0, 4.0, 8192),
         freqs=llama3_factors(500000.0, 128, 8.0, 1.0, 4.0, 8192))
    case("llama32", "llama", 64, 500000.0, llama3_expected(32.0, 1.0, 4.0, 8192),
         freqs=llama3_factors(500000.0, 64, 32.0, 1.0, 4.0, 8192))
    # Other low/high factors, found from the blended elements.
    case("llama3_fitted", "llama", 128, 500000.0, llama3_expected(16.0, 2.0, 8.0, 8192),
         freqs=llama3_factors(500000.0, 128, 16.0, 2.0, 8.0, 8192))
    # The original context from rope.scaling.original_context_length (llama.cpp's converter does not write it).
    case("llama3_context", "llama", 8, 10000.0, llama3_expected(8.0, 1.0, 4.0, 64),
         extra=lambda w: w.add_rope_scaling_orig_ctx_len(64), freqs=llama3_factors(10000.0, 8, 8.0, 1.0, 4.0, 64))
    # Factors that are 1 everywhere change nothing.
    case("ones", "llama", 8, 10000.0, None, freqs=np.ones(4, dtype=np.float32))
    # Divisors no llama3 parameters give (not monotonic in the wavelength).
    case("unmatched", "llama", 8, 10000.0, refused="tensor 'rope_freqs.weight'",
         freqs=np.array([1.0, 3.0, 1.5, 2.0], dtype=np.float32))
    case("yarn", "llama", 8, 10000.0, refused="key 'llama.rope.scaling.type'",
         extra=lambda w: (w.add_rope_scaling_type(gguf.RopeScalingType.YARN), w.add_rope_scaling_factor(4.0),
                          w.add_rope_scaling_orig_ctx_len(4096)))
    case("longrope", "llama", 8, 10000.0, refused="key 'llama.rope.scaling.type'",
         extra=lambda w: w.add_rope_scaling_type(gguf.RopeScalingType.LONGROPE))
    return out


def write_scaled_model(src, kind, path):
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(path, "llama")
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        main = field.types[0]
        if main == V.ARRAY:
            w.add_key_value(key, list(field.contents()), V.ARRAY, sub_type=field.types[-1])
        else:
            w.add_key_value(key, field.contents(), main)
    if kind == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(4.0)
    else:
        dim = int(r.fields["llama.rope.dimension_count"].contents())
        theta = float(r.fields["llama.rope.freq_base"].contents())
        w.add_rope_scaling_orig_ctx_len(64)
        w.add_tensor("rope_freqs.weight", llama3_factors(theta, dim, 8.0, 1.0, 4.0, 64))
    for t in r.tensors:
        w.add_tensor(t.name, np.asarray(t.data).reshape([int(d) for d in reversed(t.shape)]), raw_dtype=t.tensor_type)
    finish(w)


def rope_freqs(path, params):
    r = gguf.GGUFReader(path)
    written = next((t for t in r.tensors if t.name == "rope_freqs.weight"), None)
    expected = llama3_factors(params["theta"], params["dim"], params["factor"], params["low_freq_factor"],
                              params["high_freq_factor"], params["original_max_position_embeddings"])
    return {"written": None if written is None else [float(x) for x in np.asarray(written.data, dtype=np.float64)],
            "type": None if written is None else written.tensor_type.name,
            "expected": [float(x) for x in expected]}


def main():
    command = sys.argv[1]
    if command == "write":
        folder = sys.argv[2]
        rng = np.random.default_rng(11)
        files = {"all_types": "all_types.gguf", "aligned": "aligned64.gguf", "metadata_only": "metadata_only.gguf"}
        write_all_types(os.path.join(folder, files["all_types"]), rng)
        write_aligned(os.path.join(folder, files["aligned"]), rng)
        write_metadata_only(os.path.join(folder, files["metadata_only"]))
        nested = {k: canonical_nested(v) for k, v in NESTED.items()}
        print(json.dumps({"files": files, "nested": nested}))
    elif command == "seeds":
        write_seeds(sys.argv[2], np.random.default_rng(12))
    elif command == "dump":
        print(json.dumps(dump(sys.argv[2])))
    elif command == "model":
        folder = sys.argv[2]
        rng = np.random.default_rng(12)
        files = {"model": "model.gguf", "odd_rows": "odd_rows.gguf"}
        write_model(os.path.join(folder, files["model"]), rng)
        write_odd_rows(os.path.join(folder, files["odd_rows"]), rng)
        print(json.dumps({"files": files}))
    elif command == "encode":
        print(json.dumps(encode(sys.argv[2], sys.argv[3])))
    elif command == "from-hf":
        print(json.dumps(from_hf(sys.argv[2], sys.argv[3])))
    elif command == "rope":
        print(json.dumps(write_rope(sys.argv[2])))
    elif command == "scaled-model":
        write_scaled_model(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "rope-freqs":
        print(json.dumps(rope_freqs(sys.argv[2], json.load(sys.stdin))))
    elif command == "same-values":
        print(json.dumps(same_values(sys.argv[2], sys.argv[3])))
    elif command == "types":
        print(json.dumps([{"id": int(q), "name": q.name, "block_size": b, "bytes_per_block": s}
                          for q, (b, s) in GGML_QUANT_SIZES.items()]))
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()

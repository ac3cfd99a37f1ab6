#!/usr/bin/env python3
"""GGUF tokenizer fixtures written with gguf-py, and encodings compared with Hugging Face `tokenizers`.

  gguf_tokenizers.py write DIR       writes small GGUF files holding only tokenizer.ggml.* metadata, each
                                     with the tokenizer.json it should read back as; prints JSON
                                     {"NAME": {"gguf": path, "reference": path}, ...}
  gguf_tokenizers.py compare REF CANDIDATE
                                     encodes the exactness corpus (tools/tokenizer_corpus.py: the lines of
                                     /usr/share/common-licenses/*, pydoc_data.topics, digits, scripts, white
                                     space runs, special tokens...) with both tokenizer.json files (padding
                                     and truncation off, special tokens added); prints JSON
                                     {"entries": n, "tokens": n, "differing": n, "examples": [...]}
  gguf_tokenizers.py presplit CANDIDATE
                                     pre-tokenizes the corpus with CANDIDATE's pre-tokenizer and with llama.cpp's
                                     default split (tokenizer.ggml.pre "default" or missing) written here with
                                     the `regex` module; prints {"entries", "pieces", "differing", "examples"}

The metadata is what llama.cpp's convert_hf_to_gguf.py writes for each tokenizer (get_vocab_base,
BertModel.set_vocab, gguf-py's SpecialVocab), written here from its published description:

  gpt2-bpe   fixtures/tokenizers/gpt2-bpe, model gpt2, pre gpt-2
  llama3     the same vocabulary and merges under Llama 3's pre-tokenizer (the Split regex transformers'
             GGUF loader gives llama-bpe, ignore_merges) and its BOS-first post-processor (with
             <|endoftext|> as BOS), pre llama-bpe, add_bos_token true
  qwen2      the same under Qwen2's (NFC, transformers' Qwen2 PRETOKENIZE_REGEX), pre qwen2
  llama-spm  fixtures/tokenizers/llama-bpe (SentencePiece BPE, byte fallback), model llama, with
             SentencePiece-style scores (-id for normal tokens, 0 for control and byte tokens) and no merges;
             its reference takes the merges transformers' generate_merges derives from those scores
  bert       all-MiniLM-L6-v2's WordPiece (tools/models.py minilm), model bert, tokens respelled as
             BertModel.set_vocab does (##x -> x, x -> U+2581 x, control tokens kept)
"""
import json
import os
import sys

import gguf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_json(value, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False)


def vocabulary(tok):
    """(tokens by id, token types) as get_vocab_base lists them."""
    by_id = {i: t for t, i in tok["model"]["vocab"].items()}
    added = {a["id"]: a for a in tok.get("added_tokens", [])}
    for i, a in added.items():
        by_id[i] = a["content"]
    tokens, types = [], []
    for i in range(max(by_id) + 1):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            types.append(CONTROL if added[i]["special"] else USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(NORMAL)
    return tokens, types


def added_id(tok, content):
    return next((a["id"] for a in tok.get("added_tokens", []) if a["content"] == content), None)


def writer(path):
    w = gguf.GGUFWriter(path, "llama")
    return w


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def byte_level_gguf(tok, pre, path, add_bos=None):
    tokens, types = vocabulary(tok)
    w = writer(path)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tok["model"]["merges"]])
    eot = added_id(tok, "<|endoftext|>")
    if eot is not None:
        w.add_bos_token_id(eot)
        w.add_eos_token_id(eot)
    if add_bos is not None:
        w.add_add_bos_token(add_bos)
    finish(w)


def split_variant(tok, normalizer, regex, ignore_merges, trim_offsets, bos=None):
    """`tok` under a Split-regex pre-tokenizer; with `bos`, a post-processor that puts it first, as Llama 3's does."""
    out = json.loads(json.dumps(tok))
    if bos is not None:
        bos_id = added_id(tok, bos)
        out["post_processor"] = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}]}
    out["normalizer"] = normalizer
    out["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": trim_offsets, "use_regex": False}]}
    out["model"]["ignore_merges"] = ignore_merges
    return out


def llama_spm(tok, dir):
    """SentencePiece-style scores and types for the llama-bpe fixture, and the reference whose merges
    transformers derives from those scores."""
    from transformers.tokenization_utils_base import generate_merges

    tokens, _ = vocabulary(tok)
    special = {a["id"] for a in tok["added_tokens"] if a["special"]}
    unk = tok["model"]["unk_token"]
    types, scores = [], []
    for i, t in enumerate(tokens):
        if t == unk:
            types.append(UNKNOWN)
        elif i in special:
            types.append(CONTROL)
        elif len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            types.append(BYTE)
        else:
            types.append(NORMAL)
        scores.append(-float(i) if types[-1] == NORMAL else 0.0)
    path = os.path.join(dir, "llama-spm.gguf")
    w = writer(path)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(tokens.index("<s>"))
    w.add_eos_token_id(tokens.index("</s>"))
    w.add_unk_token_id(tokens.index(unk))
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    finish(w)
    reference = json.loads(json.dumps(tok))
    merges = generate_merges({t: i for i, t in enumerate(tokens)}, dict(zip(tokens, scores)))
    reference["model"]["merges"] = [list(m) for m in merges]
    ref_path = os.path.join(dir, "llama-spm.json")
    save_json(reference, ref_path)
    return {"gguf": path, "reference": ref_path}


def bert(dir):
    import subprocess
    folder = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "models.py"), "minilm"],
                            check=True, capture_output=True, text=True).stdout.strip()
    ref_path = os.path.join(folder, "tokenizer.json")
    tok = load_json(ref_path)
    tokens, types = vocabulary(tok)
    spelled = [t if k == CONTROL else t[2:] if t.startswith("##") else "\u2581" + t for t, k in zip(tokens, types)]
    config = load_json(os.path.join(folder, "tokenizer_config.json"))
    path = os.path.join(dir, "bert.gguf")
    w = writer(path)
    w.add_token_type_count(2)
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list(spelled)
    w.add_token_types(types)
    # SpecialVocab: bos falls back to cls, eos to sep; ids of the added tokens with that content.
    ids = {k: added_id(tok, config[f"{k}_token"]) for k in ("cls", "sep", "unk", "pad", "mask")}
    w.add_bos_token_id(ids["cls"])
    w.add_eos_token_id(ids["sep"])
    w.add_unk_token_id(ids["unk"])
    w.add_sep_token_id(ids["sep"])
    w.add_pad_token_id(ids["pad"])
    w.add_mask_token_id(ids["mask"])
    finish(w)
    return {"gguf": path, "reference": ref_path}


def write(dir):
    from transformers.integrations.gguf.gguf_tokenizer_mapping import _LLAMA3_SPLIT
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX as QWEN2_SPLIT

    os.makedirs(dir, exist_ok=True)
    out = {}
    gpt2_ref = os.path.join(ROOT, "fixtures", "tokenizers", "gpt2-bpe", "tokenizer.json")
    gpt2 = load_json(gpt2_ref)
    byte_level_gguf(gpt2, "gpt-2", os.path.join(dir, "gpt2-bpe.gguf"))
    out["gpt2-bpe"] = {"gguf": os.path.join(dir, "gpt2-bpe.gguf"), "reference": gpt2_ref}
    variants = {
        "llama3": ("llama-bpe", True, split_variant(gpt2, None, _LLAMA3_SPLIT, True, True, bos="<|endoftext|>")),
        "qwen2": ("qwen2", None, split_variant(gpt2, {"type": "NFC"}, QWEN2_SPLIT, False, False)),
    }
    for name, (pre, add_bos, tok) in variants.items():
        ref = os.path.join(dir, f"{name}.json")
        save_json(tok, ref)
        byte_level_gguf(tok, pre, os.path.join(dir, f"{name}.gguf"), add_bos)
        out[name] = {"gguf": os.path.join(dir, f"{name}.gguf"), "reference": ref}
    out["llama-spm"] = llama_spm(load_json(os.path.join(ROOT, "fixtures", "tokenizers", "llama-bpe", "tokenizer.json")), dir)
    out["bert"] = bert(dir)
    print(json.dumps(out))


def load(path):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.no_truncation()
    return tok


def compare(ref_path, candidate_path):
    from tokenizer_corpus import corpus
    texts = corpus()
    ref, cand = load(ref_path), load(candidate_path)
    a = ref.encode_batch(texts, add_special_tokens=True)
    b = cand.encode_batch(texts, add_special_tokens=True)
    differing = [i for i, (x, y) in enumerate(zip(a, b)) if x.ids != y.ids]
    examples = [{"text": texts[i], "reference": a[i].ids, "candidate": b[i].ids} for i in differing[:3]]
    print(json.dumps({"entries": len(texts), "tokens": sum(len(x.ids) for x in a), "differing": len(differing),
                      "examples": examples}))


# llama.cpp's split when tokenizer.ggml.pre is "default" or missing (src/llama-vocab.cpp, the default case of
# llm_tokenizer_bpe): each regex in turn isolates its matches inside the pieces the ones before left.
LLAMA_CPP_DEFAULT = [r"[\p{P}\$\+<=>\^~\|]+", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
                     r"\p{N}+", r"[0-9][0-9][0-9]"]


def llama_cpp_default_split(text):
    import regex
    pieces = [text]
    for expression in LLAMA_CPP_DEFAULT:
        out = []
        for piece in pieces:
            position = 0
            for m in regex.finditer(expression, piece):
                if m.start() > position:
                    out.append(piece[position:m.start()])
                if m.end() > m.start():
                    out.append(m.group())
                position = m.end()
            if position < len(piece):
                out.append(piece[position:])
        pieces = out
    return pieces


def presplit(candidate_path):
    """The pre-tokenizer of CANDIDATE against llama.cpp's default split written with the `regex` module."""
    from tokenizer_corpus import corpus
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    spelling = bytes_to_unicode()
    tok = load(candidate_path)
    texts = corpus()
    differing = []
    pieces = 0
    for text in texts:
        want = ["".join(spelling[b] for b in p.encode("utf-8")) for p in llama_cpp_default_split(text)]
        got = [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(text)]
        pieces += len(want)
        if got != want:
            differing.append({"text": text, "llama.cpp": want, "candidate": got})
    print(json.dumps({"entries": len(texts), "pieces": pieces, "differing": len(differing), "examples": differing[:3]}))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "presplit":
        presplit(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

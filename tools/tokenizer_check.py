#!/usr/bin/env python3
"""Cross-checks for Recast's tokenizer components, with Hugging Face `tokenizers` as the reference.

  tokenizer_check.py train KIND OUT.json   trains a small tokenizer on the licence texts in
                                           /usr/share/common-licenses and writes its tokenizer.json.
      KIND: bytelevel-bpe (GPT-2 style), wordpiece (BERT style), bytefallback-bpe (Llama 2 style,
      with <0xNN> tokens), suffix-bpe (continuing_subword_prefix "##" and end_of_word_suffix "</w>").
  tokenizer_check.py run TOKENIZER.json    reads {"texts": [...], "pairs": [[a, b], ...], "decode": [[ids], ...]}
                                           on stdin and prints the encodings (offsets in UTF-8 bytes) and
                                           decoded texts (with and without special tokens).
"""
import glob
import json
import sys

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers


def corpus():
    lines = []
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        try:
            with open(path, encoding="utf-8") as f:
                lines += [l.rstrip("\n") for l in f if l.strip()]
        except (UnicodeDecodeError, IsADirectoryError):
            pass
    lines += ["naïve café résumé über straße", "東京 北京 서울", "emoji 👍🏽 👨‍👩‍👧", "Привет мир", "مرحبا שלום"] * 3
    return lines


def train(kind):
    if kind == "bytelevel-bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=True)
        trainer = trainers.BpeTrainer(vocab_size=600, min_frequency=2, special_tokens=["<|endoftext|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    elif kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=30))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=500, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    elif kind == "suffix-bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>", continuing_subword_prefix="##", end_of_word_suffix="</w>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>"], continuing_subword_prefix="##",
                                      end_of_word_suffix="</w>")
    elif kind == "bytefallback-bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
        trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=60)
    else:
        sys.exit(f"unknown kind {kind}")
    tok.train_from_iterator(corpus(), trainer)
    data = json.loads(tok.to_str())
    if kind == "bytefallback-bpe":
        # Llama 2 keeps the 256 byte tokens right after the specials.
        old = data["model"]["vocab"]
        order = sorted(old, key=old.get)
        specials = order[:3]
        rest = [t for t in order[3:]]
        new = {}
        for t in specials + [f"<0x{b:02X}>" for b in range(256)] + rest:
            if t not in new:
                new[t] = len(new)
        data["model"]["vocab"] = new
        for a in data["added_tokens"]:
            a["id"] = new[a["content"]]
        data["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [new["<s>"]], "tokens": ["<s>"]}},
        }
    return data


def byte_offsets(text, offsets):
    starts = [0]
    for ch in text:
        starts.append(starts[-1] + len(ch.encode("utf-8")))
    return [[starts[a], starts[b]] for a, b in offsets]


def encoding(e, text, pair=None):
    if pair is None:
        offsets = byte_offsets(text, e.offsets)
    else:
        # Offsets of a pair refer to the sequence each token came from.
        offsets = []
        for (a, b), seq in zip(e.offsets, e.sequence_ids):
            offsets += byte_offsets(pair if seq == 1 else text, [(a, b)])
    return {"ids": e.ids, "tokens": e.tokens, "offsets": offsets, "type_ids": e.type_ids,
            "special_tokens_mask": e.special_tokens_mask}


def run(path):
    tok = Tokenizer.from_file(path)
    request = json.load(sys.stdin)
    out = {"encodings": [], "plain": [], "pairs": [], "decoded": []}
    for t in request.get("texts", []):
        out["encodings"].append(encoding(tok.encode(t), t))
        out["plain"].append(encoding(tok.encode(t, add_special_tokens=False), t))
    for a, b in request.get("pairs", []):
        out["pairs"].append(encoding(tok.encode(a, b), a, b))
    for ids in request.get("decode", []):
        out["decoded"].append({"skip": tok.decode(ids, skip_special_tokens=True),
                               "keep": tok.decode(ids, skip_special_tokens=False)})
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        with open(sys.argv[3], "w", encoding="utf-8") as f:
            json.dump(train(sys.argv[2]), f, ensure_ascii=False)
    elif sys.argv[1] == "run":
        run(sys.argv[2])
    else:
        sys.exit(__doc__)

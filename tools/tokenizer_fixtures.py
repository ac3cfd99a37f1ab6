#!/usr/bin/env python3
"""The tokenizers the exactness tests compare Recast against, built with the `tokenizers` library.

    python3 tools/tokenizer_fixtures.py trained          # (re)writes fixtures/tokenizers/{gpt2-bpe,llama-bpe}/
    python3 tools/tokenizer_fixtures.py train KIND OUT   # a small tokenizer.json for the component tests

`trained` trains two small tokenizers (vocabulary about 2,000) on the texts in /usr/share/common-licenses,
single-threaded, so a rerun writes the same bytes:

  gpt2-bpe   a GPT-2-style byte-level BPE: ByteLevel pre-tokenizer (GPT-2 regex), decoder and
             post-processor (trim_offsets on, unlike GPT-2's, so offset trimming is exercised),
             `<|endoftext|>` as its special token.
  llama-bpe  a Llama-2-style SentencePiece BPE: the normalizer Sequence[Prepend("▁"), Replace(" ", "▁")]
             and no pre-tokenizer, as Llama 2's tokenizer.json has; byte_fallback with the 256 `<0xNN>`
             tokens at ids 3…258; decoders Replace("▁", " "), ByteFallback, Fuse, Strip(start 1);
             `<unk>` `<s>` `</s>` at ids 0, 1, 2; TemplateProcessing adding `<s>`.

`train` trains a smaller tokenizer (vocabulary 500 or 600) on the non-blank licence lines plus a few
non-English lines, and writes its tokenizer.json to OUT; the Swift component tests edit it. KIND:

  bytelevel-bpe     GPT-2 style: ByteLevel pre-tokenizer, decoder and post-processor (trim_offsets on)
  wordpiece         BERT style: BertNormalizer, BertPreTokenizer, WordPiece decoder
  bytefallback-bpe  Llama 2 style, with the 256 <0xNN> tokens after <unk> <s> </s>
  space-bpe         no pre-tokenizer: whole lines are words, so tokens hold real spaces
  suffix-bpe        continuing_subword_prefix "##" and end_of_word_suffix "</w>"

The real tokenizers the tests also use come from tools/models.py (`minilm`, and `smollm2`, whose
tokenizer.json is built from the GGUF's `tokenizer.ggml.*`).
"""
import glob
import json
import os
import sys

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, \
    processors, trainers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures", "tokenizers")
LICENSES = "/usr/share/common-licenses"
VOCAB_SIZE = 2000


def license_lines():
    """The lines of every licence text, each file once (GPL is a link to GPL-3), in name order."""
    seen, lines = set(), []
    for path in sorted(glob.glob(os.path.join(LICENSES, "*"))):
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        with open(real, encoding="utf-8") as f:
            lines += [line.rstrip("\n") for line in f]
    return lines


def gpt2_bpe():
    """A GPT-2-style byte-level BPE trained on the licence texts."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(license_lines(), trainer=trainer)
    return tok


def llama_bpe():
    """A Llama-2-style SentencePiece BPE with byte fallback trained on the licence texts.

    Trained with a Metaspace pre-tokenizer (so no token spans a word boundary, as with SentencePiece),
    then rebuilt with Llama 2's layout: specials, the 256 byte tokens, then the learned pieces."""
    specials = ["<unk>", "<s>", "</s>"]
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE - 256, special_tokens=specials, show_progress=False,
                                  limit_alphabet=100)
    trainer_tok.train_from_iterator(license_lines(), trainer=trainer)
    trained = trainer_tok.get_vocab()
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)
              for m in _model_field(trainer_tok, "merges")]
    vocab = {t: i for i, t in enumerate(specials)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(trained.items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(content=" ", left=1, right=0)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return tok


def training_lines():
    """The non-blank licence lines, and a few lines in other scripts (so their characters are in the vocabulary)."""
    extra = ["naïve café résumé über straße", "東京 北京 서울", "emoji 👍🏽 👨‍👩‍👧", "Привет мир", "مرحبا שלום"]
    return [line for line in license_lines() if line.strip()] + extra * 3


def train(kind):
    """A small tokenizer of the given kind (see the module doc), as a tokenizer.json dictionary."""
    if kind == "bytelevel-bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=True)
        trainer = trainers.BpeTrainer(vocab_size=600, min_frequency=2, special_tokens=["<|endoftext|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    elif kind == "space-bpe":
        tok = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=500, min_frequency=2, special_tokens=["<|endoftext|>"],
                                      show_progress=False)
    elif kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=30))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=500, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                            show_progress=False)
    elif kind == "suffix-bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>", continuing_subword_prefix="##", end_of_word_suffix="</w>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>"], continuing_subword_prefix="##",
                                      end_of_word_suffix="</w>", show_progress=False)
    elif kind == "bytefallback-bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
        trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=60,
                                      show_progress=False)
    else:
        sys.exit(f"unknown kind {kind}\n\n{__doc__}")
    tok.train_from_iterator(training_lines(), trainer)
    data = json.loads(tok.to_str())
    if kind == "bytefallback-bpe":
        # Llama 2 keeps the 256 byte tokens right after the specials.
        old = data["model"]["vocab"]
        order = sorted(old, key=old.get)
        new = {}
        for t in order[:3] + [f"<0x{b:02X}>" for b in range(256)] + order[3:]:
            new.setdefault(t, len(new))
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


def _model_field(tok, key):
    return json.loads(tok.to_str())["model"][key]


def write(tok, folder):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "tokenizer.json")
    tmp = path + ".partial"
    tok.save(tmp, pretty=True)
    os.replace(tmp, path)
    return path


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "trained":
        print(write(gpt2_bpe(), os.path.join(FIXTURES, "gpt2-bpe")))
        print(write(llama_bpe(), os.path.join(FIXTURES, "llama-bpe")))
    elif what == "train" and len(sys.argv) == 4:
        data = train(sys.argv[2])
        tmp = sys.argv[3] + ".partial"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The tokenizers the exactness tests compare Recast against, built with the `tokenizers` library.

    python3 tools/tokenizer_fixtures.py trained   # (re)writes fixtures/tokenizers/{gpt2-bpe,llama-bpe}/

`trained` trains two small tokenizers (vocabulary about 2,000) on the texts in /usr/share/common-licenses,
single-threaded, so a rerun writes the same bytes:

  gpt2-bpe   a GPT-2-style byte-level BPE: ByteLevel pre-tokenizer (GPT-2 regex), decoder and
             post-processor (trim_offsets on, unlike GPT-2's, so offset trimming is exercised),
             `<|endoftext|>` as its special token.
  llama-bpe  a Llama-2-style SentencePiece BPE: the normalizer Sequence[Prepend("▁"), Replace(" ", "▁")]
             and no pre-tokenizer, as Llama 2's tokenizer.json has; byte_fallback with the 256 `<0xNN>`
             tokens at ids 3…258; decoders Replace("▁", " "), ByteFallback, Fuse, Strip(start 1);
             `<unk>` `<s>` `</s>` at ids 0, 1, 2; TemplateProcessing adding `<s>`.

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
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference results of Hugging Face `tokenizers` normalizers and pre-tokenizers, for the Swift tests.

Usage: text_reference.py SPEC.json
SPEC: {"normalizer": {...} | null, "pre_tokenizer": {...} | null, "texts": [...], "per_scalar": bool}
The components are tokenizer.json objects, loaded through a tiny tokenizer.json so that `tokenizers`
itself parses them. Prints {"results": [{"normalized": str, "pieces": [[text, start, end], ...]}]} where
start/end are UTF-8 byte offsets into the input text. With "per_scalar", the normalized text is cut into
single scalars (so each piece's offsets are that scalar's alignment) instead of being pre-tokenized.
"""
import json
import sys

from tokenizers import PreTokenizedString, Tokenizer


def main():
    spec = json.load(open(sys.argv[1], encoding="utf-8"))
    doc = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": spec.get("normalizer"), "pre_tokenizer": spec.get("pre_tokenizer"),
        "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"},
    }
    tok = Tokenizer.from_str(json.dumps(doc))
    results = []
    for text in spec["texts"]:
        pts = PreTokenizedString(text)
        if tok.normalizer is not None:
            pts.normalize(lambda ns: tok.normalizer.normalize(ns))
        normalized = "".join(s for s, _, _ in pts.get_splits())
        if spec.get("per_scalar"):
            pts.split(lambda i, ns: [ns[j:j + 1] for j in range(len(ns.normalized))])
        elif tok.pre_tokenizer is not None:
            tok.pre_tokenizer.pre_tokenize(pts)
        pieces = [[s, a, b] for s, (a, b), _ in pts.get_splits(offset_referential="original", offset_type="byte")]
        results.append({"normalized": normalized, "pieces": pieces})
    json.dump({"results": results}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The tokenizer exactness corpus, and what Hugging Face `tokenizers` makes of it.

    python3 tools/tokenizer_corpus.py corpus [OUT]                     # the corpus as JSON lines (one string each)
    python3 tools/tokenizer_corpus.py expected TOKENIZER_JSON OUT [--pairs N]
    python3 tools/tokenizer_corpus.py encode TOKENIZER_JSON TEXTS_JSON [--no-special-tokens]
    python3 tools/tokenizer_corpus.py decode TOKENIZER_JSON 1,2,3
    python3 tools/tokenizer_corpus.py run TOKENIZER_JSON < REQUEST_JSON

The corpus is deterministic (seeded, no network) and has about 12,000 entries. An entry is one
sequence; some hold line breaks (\\n, \\r\\n, \\r), so the corpus is stored as JSON lines of strings:

  prose      the lines of /usr/share/common-licenses/* and of Python's pydoc_data.topics, some joined into
             paragraphs with \\n or \\r\\n
  code       Python source lines from the standard library (indentation, operators, strings)
  numbers    integers, decimals, digit runs up to 60 long, dates, hex, grouped thousands, Arabic-Indic digits
  space      runs of spaces and tabs, blank lines, \\r\\n, leading and trailing space, Unicode spaces
  accents    accented words in NFC and NFD, Vietnamese, Polish, Turkish dotted I, Greek sigma, ligatures,
             full-width forms, stacked combining marks
  scripts    Chinese, Japanese, Korean (syllables and decomposed jamo), CJK extension B, Arabic and Hebrew
             with their marks and direction marks, Thai, Devanagari, Cyrillic
  emoji      skin tones, ZWJ families, flags, keycaps, variation selectors
  odd        valid but odd UTF-8: noncharacters (U+FDD0, U+FFFE, U+10FFFF), private use, U+FEFF, lone
             combining marks, C0/C1 controls, U+0000, zero-width characters
  special    every tested tokenizer's special tokens as literal text, whole, partial, adjacent, in lower case
  mixed      seeded random mixtures of all of the above

`expected` encodes every entry with the given tokenizer.json (padding and truncation off, special tokens
added), in one process, and writes one JSON object:

  {"texts": [str], "ids": [[int]], "offsets": [[[start, end]]], "decoded": [str], "decoded_all": [str],
   "pairs": [{"a": i, "b": j, "ids": [int], "type_ids": [int], "offsets": [[s, e]]}]}

Offsets are UTF-8 byte offsets into the entry (`tokenizers` gives character offsets; they are converted
here), each into its own sequence for pairs. `decoded` is decode(ids) skipping special tokens,
`decoded_all` keeps them. --pairs N adds N pairs of neighbouring entries.

`encode` prints what `recast tokenize --json` prints, from `tokenizers`, for the texts of a JSON file
(an array whose elements are a string, or [text, pair]); `decode` prints {"text": decode(ids)}.

`run` is the component tests' reference: it reads {"texts": [...], "pairs": [[a, b], ...], "decode": [[ids], ...]}
on stdin and prints {"encodings": [...], "plain": [...], "pairs": [...], "decoded": [{"skip": str, "keep": str}]}:
each text encoded with and without special tokens, each pair, and each id list decoded skipping and keeping
special tokens. An encoding is {"ids", "tokens", "offsets" (UTF-8 bytes), "type_ids", "special_tokens_mask"}.
Like everything here it turns padding and truncation off (Recast applies them only when asked).
"""
import json
import os
import random
import sys
import unicodedata

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from tokenizer_fixtures import license_lines  # noqa: E402

SPECIAL_TOKENS = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "<|endoftext|>", "<s>", "</s>", "<unk>",
                  "<|im_start|>", "<|im_end|>", "<repo_name>", "<file_sep>", "<empty_output>"]

STDLIB_MODULES = ["textwrap", "json.decoder", "json.encoder", "string", "heapq", "bisect", "fractions",
                  "difflib", "shlex", "colorsys", "base64", "csv"]

ACCENTED = ["café", "naïve", "résumé", "Ångström", "façade", "jalapeño", "Zürich", "Straße", "crème brûlée",
            "Tiếng Việt có dấu", "Zażółć gęślą jaźń", "İstanbul ve ılık", "Σίσυφος ΣΊΣΥΦΟΣ", "Ελληνικά",
            "ﬁnancial ﬂow", "ＡＢＣ１２３ｘｙｚ", "x² + y³ = z⁴", "Ⅻ Ⅳ ⅻ", "K Å ℃ ㎏", "Ǆemal ǅ ǆ",
            "Ça va? Où êtes-vous?", "Hoàng Thị Ánh", "Øresund Æble", "ß ẞ ŉ ǰ", "Mañana, señor"]

SCRIPTS = ["我们今天去公园散步，天气很好。", "漢字と平仮名とカタカナが混ざった日本語の文です。",
           "ｶﾀｶﾅ ﾊﾝｶｸ", "한국어 문장입니다. 안녕하세요!", "𠀀𠀁𠮷野家 𪚲", "中文English混合text测试123",
           "مرحبا بالعالم، كيف حالك؟", "اَلْعَرَبِيَّةُ لُغَةٌ جَمِيلَةٌ", "٠١٢٣٤٥٦٧٨٩ رقم ١٢٣",
           "שלום עולם, מה שלומך?", "בְּרֵאשִׁית בָּרָא אֱלֹהִים", "\u200fעברית\u200f and English \u200emixed",
           "สวัสดีครับ ภาษาไทย", "नमस्ते दुनिया, हिन्दी", "Привет, мир! Ёжик в тумане.", "Ελληνικά γράμματα",
           "ქართული ენა", "Հայերեն", "አማርኛ", "ᚠᚢᚦᚨᚱᚲ"]

EMOJI = ["👍", "👍🏽", "👍🏿", "👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "🏴‍☠️", "🇫🇷🇯🇵🇺🇸", "1️⃣ #️⃣", "❤️", "❤",
         "🧑🏻‍🤝‍🧑🏿", "😀😃😄😁", "🙂‍↔️", "☺︎ ☺️", "🫠🫶🏼", "⌚⌛"]

ODD = ["\ufdd0\ufdef", "\ufffe\uffff", "\U0010ffff", "\U0001fffe", "\ue000\uf8ff", "\U000f0000\U00100000",
       "\ufeffstart", "mid\ufeffdle", "\u0301lone acute", "\u0308\u0308\u0308", "Z\u0334\u0321\u032a\u035a\u0330\u0347\u033d\u0306\u0350\u0345",
       "a\u200bb\u200cc\u200dd", "\u2060word\u2060", "ctl\x01\x02\x1f end", "nul\x00here", "del\x7f",
       "c1\x85\x9f", "\u2028line sep\u2029para sep", "\ufffd replacement", "\u00ad soft hyphen",
       "\u034f cgj", "e\u0301\u0327", "\U0001d400\U0001d7ff math", "\u0e01\u0e31\u0e01", "\ud7a3\u1100\u1161"]

SPACES = ["  ", "   ", "\t", "\t\t", " \t ", "\n", "\n\n", "\r\n", "\r\n\r\n", "\r", "\u00a0", "\u2003", "\u3000",
          "\u2009", "\u202f", " " * 17, "\t" * 5, "\x0b", "\x0c"]


def prose():
    lines = [line for line in license_lines() if line.strip()]
    from pydoc_data import topics
    topic_lines = []
    for key in sorted(topics.topics):
        topic_lines += [line for line in topics.topics[key].split("\n") if line.strip()]
    lines += topic_lines[:3000]
    # Paragraphs: groups of 3 lines joined by \n or \r\n.
    paragraphs = []
    for i in range(0, 1200, 3):
        paragraphs.append(("\n" if i % 2 else "\r\n").join(lines[i:i + 3]))
    return lines + paragraphs


def code():
    import importlib
    out = []
    for name in STDLIB_MODULES:
        path = importlib.import_module(name).__file__
        with open(path, encoding="utf-8") as f:
            out += [line.rstrip("\n") for line in f if line.strip()][:220]
    return out


def numbers(rng):
    # Words longer than WordPiece's max_input_chars_per_word (100) become [UNK].
    out = ["7" * 101, "1234567890" * 12, "x" * 150 + " short", "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3]
    for _ in range(400):
        kind = rng.randrange(8)
        if kind == 0:
            out.append(str(rng.randrange(10 ** rng.randrange(1, 19))))
        elif kind == 1:
            out.append(f"{rng.uniform(-1e6, 1e6):.{rng.randrange(0, 8)}f}")
        elif kind == 2:
            out.append("".join(rng.choice("0123456789") for _ in range(rng.randrange(10, 61))))
        elif kind == 3:
            out.append(f"{rng.randrange(1900, 2100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
                       f"{rng.randrange(24):02d}:{rng.randrange(60):02d}")
        elif kind == 4:
            out.append(f"0x{rng.randrange(1 << 32):08X} 0b{rng.randrange(256):b}")
        elif kind == 5:
            out.append(f"{rng.randrange(10 ** 9):,} and {rng.randrange(100)}% of 1e-{rng.randrange(30)}")
        elif kind == 6:
            out.append(f"v{rng.randrange(10)}.{rng.randrange(100)}.{rng.randrange(1000)} (+1 555-{rng.randrange(10000):04d})")
        else:
            out.append("".join(chr(0x660 + rng.randrange(10)) for _ in range(rng.randrange(1, 12))) + " ١٢٣ ۴۵۶")
    return out


def whitespace(rng):
    out = ["", " ", "\n", "\r\n", "\t", "   leading", "trailing   ", "  both  ", "a  b   c    d", "\n\nafter blank",
           "before blank\n\n", "line one\r\nline two\r\n", "tab\tseparated\tvalues", "    indented code",
           "\t\tdouble tab", "x\u00a0y\u2003z\u3000w", "\r\r\r", " \n \n ", "end with newline\n"]
    words = ["alpha", "beta", "gamma", "δ", "word", "the", "is", "12", "x"]
    for _ in range(400):
        parts = []
        for _ in range(rng.randrange(1, 8)):
            parts.append(rng.choice(SPACES) * rng.randrange(1, 4))
            parts.append(rng.choice(words))
        if rng.random() < 0.3:
            parts.append(rng.choice(SPACES))
        out.append("".join(parts))
    return out


def accents():
    out = []
    for w in ACCENTED:
        out += [w, unicodedata.normalize("NFD", w), unicodedata.normalize("NFKC", w), w.upper(), w.lower()]
    return out


def special(rng):
    out = []
    for t in SPECIAL_TOKENS:
        out += [t, f"{t} hello", f"hello {t}", f"a{t}b", f"{t}{t}", f" {t} ", t.lower(), t[:-1], t[1:],
                f"<<{t}>>", f"{t}\n{t}", f"{t} 12 {t}"]
    out += ["<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>",
            "[CLS] the cat [SEP] the dog [SEP]", "<s>[INST] hi [/INST]</s>", "<|endoftext|><|endoftext|>x"]
    for _ in range(200):
        out.append(" ".join(rng.choice(SPECIAL_TOKENS + ["word", "über", "你好", "12", "👍🏽"])
                            for _ in range(rng.randrange(2, 7))))
    return out


def mixed(rng, pools):
    flat = [x for pool in pools for x in pool if x]
    out = []
    for _ in range(1500):
        out.append(rng.choice(["", " ", "\n", "\t", "  "]).join(rng.choice(flat) for _ in range(rng.randrange(2, 5))))
    return out


def corpus():
    """The entries, in a fixed order."""
    rng = random.Random(10)
    small = [accents(), SCRIPTS, EMOJI, ODD]
    entries = prose() + code() + numbers(rng) + whitespace(rng) + small[0] + SCRIPTS + EMOJI + ODD + special(rng)
    entries += [f"{e} {o}" for e in EMOJI for o in ["and", "ok", "👍"]]
    entries += [f"{o}{s}{o}" for o in ODD for s in [" ", "x", "é"]]
    entries += mixed(rng, small + [numbers(rng)[:100], SPACES, SPECIAL_TOKENS])
    return entries


def char_to_byte(text):
    """byte offset of each character index (and of len(text))."""
    table, b = [0], 0
    for c in text:
        b += len(c.encode("utf-8"))
        table.append(b)
    return table


def byte_offsets(encoding, texts):
    """The encoding's character offsets as UTF-8 byte offsets into their own sequence (texts[seq])."""
    tables = [char_to_byte(t) for t in texts]
    out = []
    for (s, e), seq in zip(encoding.offsets, encoding.sequence_ids):
        t = tables[seq or 0]
        out.append([t[s], t[e]])
    return out


def expected(tokenizer_json, out_path, pairs):
    tok = load(tokenizer_json)
    texts = corpus()
    encodings = tok.encode_batch(texts)
    ids = [e.ids for e in encodings]
    result = {
        "texts": texts,
        "ids": ids,
        "offsets": [byte_offsets(e, [t]) for e, t in zip(encodings, texts)],
        "decoded": tok.decode_batch(ids, skip_special_tokens=True),
        "decoded_all": tok.decode_batch(ids, skip_special_tokens=False),
        "pairs": [],
    }
    chosen = [(i, i + 1) for i in range(0, min(2 * pairs, len(texts) - 1), 2)]
    for (a, b), e in zip(chosen, tok.encode_batch([(texts[a], texts[b]) for a, b in chosen])):
        result["pairs"].append({"a": a, "b": b, "ids": e.ids, "type_ids": e.type_ids,
                                "offsets": byte_offsets(e, [texts[a], texts[b]])})
    tmp = out_path + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
    os.replace(tmp, out_path)


def load(tokenizer_json):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer_json)
    tok.no_padding()
    tok.no_truncation()
    return tok


def encode(tokenizer_json, texts_json, special):
    """`recast tokenize --json`'s object, computed by `tokenizers`."""
    tok = load(tokenizer_json)
    with open(texts_json, encoding="utf-8") as f:
        inputs = json.load(f)
    sequences = []
    for item in inputs:
        texts = [item] if isinstance(item, str) else item
        e = tok.encode(*texts, add_special_tokens=special)
        sequence = {"ids": e.ids, "tokens": e.tokens, "offsets": byte_offsets(e, texts)}
        if len(texts) == 2:
            sequence["type_ids"] = e.type_ids
        sequences.append(sequence)
    json.dump({"tokenizer": tokenizer_json, "sequences": sequences}, sys.stdout, ensure_ascii=False)


def run():
    """The component tests' reference (see the module doc)."""
    tok = load(sys.argv[2])
    request = json.load(sys.stdin)

    def encoding(e, texts):
        return {"ids": e.ids, "tokens": e.tokens, "offsets": byte_offsets(e, texts), "type_ids": e.type_ids,
                "special_tokens_mask": e.special_tokens_mask}

    out = {"encodings": [], "plain": [], "pairs": [], "decoded": []}
    for t in request.get("texts", []):
        out["encodings"].append(encoding(tok.encode(t), [t]))
        out["plain"].append(encoding(tok.encode(t, add_special_tokens=False), [t]))
    for a, b in request.get("pairs", []):
        out["pairs"].append(encoding(tok.encode(a, b), [a, b]))
    for ids in request.get("decode", []):
        out["decoded"].append({"skip": tok.decode(ids, skip_special_tokens=True),
                               "keep": tok.decode(ids, skip_special_tokens=False)})
    json.dump(out, sys.stdout, ensure_ascii=False)


def main():
    args = sys.argv[1:]
    if args[:1] == ["corpus"]:
        out = open(args[1], "w", encoding="utf-8") if len(args) > 1 else sys.stdout
        for entry in corpus():
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
    elif args[:1] == ["expected"] and len(args) >= 3:
        pairs = int(args[args.index("--pairs") + 1]) if "--pairs" in args else 0
        expected(args[1], args[2], pairs)
    elif args[:1] == ["encode"] and len(args) >= 3:
        encode(args[1], args[2], "--no-special-tokens" not in args)
    elif args[:1] == ["decode"] and len(args) == 3:
        ids = [int(i) for i in args[2].split(",")]
        json.dump({"text": load(args[1]).decode(ids)}, sys.stdout, ensure_ascii=False)
    elif args[:1] == ["run"] and len(args) == 2:
        run()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

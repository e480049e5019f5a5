"""Vocabularies: character round trips in any script, word tokenization rules, <unk> cut-off, JSON, PTB."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unroll.data import text as textio
from unroll.data.vocab import UNK, CharVocab, WordVocab, detokenize, tokenize, vocab_from_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MIXED = "naïve café 中文字符\nÀ bientôt — «ça va?»\n"


# ---------------------------------------------------------------------------------------------- chars

def test_char_vocab_is_sorted_code_points_and_round_trips():
    v = CharVocab.from_text(MIXED)
    assert list(v.tokens) == sorted(set(MIXED)) and len(v) == len(set(MIXED))
    assert "中" in v and v.index("符") == len(v) - 1                # U+7B26, the highest code point, sorts last
    ids = v.encode(MIXED)
    assert ids.dtype == np.int32 and ids.shape == (len(MIXED),)
    assert [v.tokens[i] for i in ids] == list(MIXED)               # one id per code point, not per byte
    assert v.decode(ids) == MIXED and v.decode(ids.tolist()) == MIXED
    assert v.encode("") .shape == (0,) and v.decode([]) == ""


def test_char_vocab_hello_from_the_seed():
    v = CharVocab.from_text("hello")
    assert v.tokens == ("e", "h", "l", "o")
    np.testing.assert_array_equal(v.encode("hell"), [1, 0, 2, 2])


def test_char_vocab_unknown_character_names_it_and_its_position():
    v = CharVocab.from_text("abc def")
    with pytest.raises(ValueError, match=r"character 'X' at position 4 is not in the vocabulary of 7 characters"):
        v.encode("abc Xd")
    with pytest.raises(ValueError, match=r"character '\\n' at position 1"):
        v.encode("a\nb")
    with pytest.raises(ValueError, match="character 'z' is not in the vocabulary"):
        v.index("z")


def test_char_vocab_json_round_trip_through_json_text():
    v = CharVocab.from_text(MIXED)
    d = json.loads(json.dumps(v.to_json()))
    assert CharVocab.from_json(d) == v and vocab_from_json(d) == v
    assert d["kind"] == "char"


def test_decode_rejects_out_of_range_and_float_ids():
    v = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"ids must lie in \[0, V\) = \[0, 3\), got 3 at position 1"):
        v.decode([0, 3])
    with pytest.raises(ValueError, match="ids must be integers"):
        v.decode(np.array([0.0, 1.0]))


def test_bad_vocab_json_and_entries():
    with pytest.raises(ValueError, match="kind 'char' or 'word', got 'bytes'"):
        vocab_from_json({"kind": "bytes", "tokens": []})
    with pytest.raises(ValueError, match="must have kind 'word'"):
        WordVocab.from_json({"kind": "char", "tokens": ["a"]})
    with pytest.raises(ValueError, match="single characters, got 'ab'"):
        CharVocab(["a", "ab"])
    with pytest.raises(ValueError, match="character 'a' appears twice"):
        CharVocab(["a", "b", "a"])
    with pytest.raises(ValueError, match="first token must be '<unk>'"):
        WordVocab(["the", UNK])


@given(st.text(min_size=1, max_size=200))
@settings(max_examples=200, deadline=None)
def test_char_round_trip_on_any_text(s):
    v = CharVocab.from_text(s)
    assert v.decode(v.encode(s)) == s


# ---------------------------------------------------------------------------------------------- words

def test_punct_tokenizer_rules():
    assert tokenize("Hello, world.\nHow are you? I'm fine (thanks)!") == [
        "Hello", ",", "world", ".", "\n", "How", "are", "you", "?", "I'm", "fine", "(", "thanks", ")", "!"]
    assert tokenize("after-dinner  don’t\t\"so\"") == ["after-dinner", "don’t", '"', "so", '"']
    assert tokenize("a <unk> b<unk>c") == ["a", UNK, "b", UNK, "c"]
    assert tokenize("x\r\ny") == ["x", "\n", "y"]
    assert tokenize("naïve café 中文字符，好！") == ["naïve", "café", "中文字符", "，", "好", "！"]


@pytest.mark.parametrize("s", [
    "Hello, world.\nHow are you? I'm fine (thanks)!",
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
    "He said \" yes \"; then - after-dinner - left [at 5].",
    "naïve café 中文字符\n",
])
def test_punct_decode_is_the_inverse_on_conventional_text(s):
    v = WordVocab.from_text(s)
    assert v.decode(v.encode(s)) == s


def test_exact_tokenizer_is_lossless():
    s = "  Two  spaces,\ttabs\r\nand  <unk> too!\n"
    v = WordVocab.from_text(s, tokenizer="exact")
    assert v.decode(v.encode(s)) == s
    assert " " in v and "\t" in v and "\r" in v and "\n" in v


@given(st.text(alphabet=st.sampled_from("ab cé中\n,.!?()'-\"<>unk\t"), max_size=80),
       st.sampled_from(["punct", "space", "exact"]))
@settings(max_examples=300, deadline=None)
def test_decoded_text_re_tokenizes_to_the_same_tokens(s, tokenizer):
    toks = tokenize(s, tokenizer)
    assert tokenize(detokenize(toks, tokenizer), tokenizer) == toks


def test_word_vocab_order_min_count_and_unk():
    s = "the cat . the dog . the cat sat .\n"
    counts = {}
    for token in re.findall(r"\n|\S+", s):                     # this text has spaces around every token
        counts[token] = counts.get(token, 0) + 1
    by_rule = sorted(counts, key=lambda t: (-counts[t], t))     # <unk> first, then -count, then by code point
    v = WordVocab.from_text(s, min_count=2)
    assert v.tokens == (UNK, *[t for t in by_rule if counts[t] >= 2]) == (UNK, ".", "the", "cat")
    assert v.unk_id == 0
    np.testing.assert_array_equal(v.encode("the dog sat ."), [2, 0, 0, 1])
    assert v.decode(v.encode("the dog sat .")) == "the <unk> <unk>."
    assert v.encode("zebra").tolist() == [0]                   # unknown words encode to <unk>
    full = WordVocab.from_text(s)
    assert full.tokens == (UNK, *by_rule) == (UNK, ".", "the", "cat", "\n", "dog", "sat")
    with pytest.raises(ValueError, match="min_count must be an integer >= 1"):
        WordVocab.from_text(s, min_count=0)


def test_word_vocab_json_round_trip():
    v = WordVocab.from_text(MIXED, tokenizer="space")
    d = json.loads(json.dumps(v.to_json()))
    assert d["kind"] == "word" and d["tokenizer"] == "space"
    w = vocab_from_json(d)
    assert w == v and w.tokenizer == "space"
    np.testing.assert_array_equal(w.encode(MIXED), v.encode(MIXED))


def test_unk_in_the_text_is_the_unk_token():
    v = WordVocab.from_text("a <unk> b <unk> a\n")
    assert v.tokens == (UNK, "a", "\n", "b")                   # counted once, kept at id 0
    np.testing.assert_array_equal(v.encode("<unk> a"), [0, 1])
    assert "<" not in v and "unk" not in v


def test_word_level_timemachine():
    corpus = textio.read_text(FIXTURES / "timemachine.txt")
    v = WordVocab.from_text(corpus, min_count=3)
    ids = v.encode(corpus)
    # The most frequent tokens, counted here with plain string and regex operations, not the tokenizer:
    # newlines, commas, "the" as a whole word, full stops; then "I" (contractions make its count tokenizer-bound)
    counts = {"\n": corpus.count("\n"), ",": corpus.count(","), "the": len(re.findall(r"\bthe\b", corpus)),
              ".": corpus.count(".")}
    assert counts["\n"] == len(corpus.splitlines())
    expected = sorted(counts, key=lambda t: (-counts[t], t))
    assert v.tokens[:6] == (UNK, *expected, "I")
    np.testing.assert_array_equal(np.bincount(ids, minlength=len(v))[1:5], [counts[t] for t in expected])
    assert "\n" in v and "Traveller" in v
    first = corpus.split("\n\n\n\n\n")[0]                      # "The Time Machine, by H. G. Wells [1898]"
    assert v.decode(v.encode(first)) == "The Time Machine, by <unk>. <unk>. <unk> <unk> <unk> <unk>"
    full = WordVocab.from_text(corpus)
    assert full.decode(full.encode(first)) == first and len(full) > len(v)
    bincounts = np.bincount(ids, minlength=len(v))
    assert bincounts[1:].min() >= 3 and bincounts[0] > 0             # rarer words went to <unk>
    assert ids.size == len(tokenize(corpus))


def ptb_style_lines(count: int, seed: int = 0) -> list[str]:
    """Lines shaped like Mikolov's PTB: lower-case words, N for numbers, <unk> for rare words, no punctuation."""
    rng = np.random.default_rng(seed)
    words = ["the", "consumers", "may", "want", "to", "move", "their", "telephones", "a", "little", "closer",
             "N", "<unk>", "'s", "u.s.", "$", "co.", "n't"]
    return [" " + " ".join(rng.choice(words, size=rng.integers(3, 15))) + " \n" for _ in range(count)]


def test_ptb_lines_end_in_newline_tokens_and_unk_stays_whole():
    lines = ptb_style_lines(50)
    corpus = "".join(lines)
    v = WordVocab.from_text(corpus, tokenizer="space")
    toks = v.tokenize(corpus)
    assert toks.count("\n") == 50 and toks[-1] == "\n"
    assert toks[:5] == lines[0].split()[:5]
    assert "<" not in v and ">" not in v and "unk" not in v
    ids = v.encode(corpus)
    assert (ids == v.unk_id).sum() == corpus.count("<unk>") > 0
    assert v.decode(v.encode(lines[1])) == lines[1].strip() + "\n"
    assert sum(len(line.split()) for line in lines) + 50 == ids.size

# ------------------------------------------------------------------------------------------ one Vocab

def test_the_three_vocabularies_are_configurations_of_one_vocab():
    from unroll.data.vocab import PairVocab, Vocab, tokens_of
    char, word = CharVocab.from_text("ab a"), WordVocab.from_text("the cat, the dog")
    pair = PairVocab.build(["go now", "go"], "word")
    assert all(isinstance(v, Vocab) for v in (char, word, pair))
    assert [(v.level, v.tokenizer, v.specials, v.unk) for v in (char, word, pair)] == [
        ("char", None, (), None), ("word", "punct", (UNK,), UNK), ("word", "space", ("<pad>", "<bos>", "<eos>"), None)]
    assert pair.tokens == ("<pad>", "<bos>", "<eos>", "go", "now")
    assert pair.encode("now go").tolist() == [4, 3] and pair.decode([1, 4, 3, 2, 0]) == "now go"
    with pytest.raises(ValueError, match=r"^word '<eos>' at position 1 is not in the vocabulary of 5 tokens$"):
        pair.encode("go <eos>")                               # a declared special is never read from text
    assert word.encode("the <unk> bird").tolist() == [word.index("the"), 0, 0]
    assert word.decode([0, word.index("cat")]) == "<unk> cat"    # <unk> is kept, the pair specials are not
    assert tokens_of("don't stop!", "word") == ["don't", "stop", "!"] == word.tokenize("don't stop!")
    assert tokens_of("don't stop!", "word", "space") == ["don't", "stop!"] == pair.tokenize("don't stop!")
    assert tokens_of("ab", "char") == ["a", "b"]
    with pytest.raises(ValueError, match="level must be one of char, word, got 'byte'"):
        tokens_of("ab", "byte")


def test_vocab_json_reads_every_form_run_folders_store():
    """config.json of format 2/3 runs: the LM's {"kind": ...} (with the run's "level" beside it) and the
    seq2seq sides' {"level", "tokens"}; each configuration writes the form it always wrote."""
    from unroll.data.vocab import PairVocab
    stored = json.loads((FIXTURES / "format2-lm" / "config.json").read_text())["vocab"]
    lm = vocab_from_json(stored)
    assert isinstance(lm, CharVocab) and lm.tokens == tuple(stored["tokens"])
    assert lm.to_json() == {"kind": "char", "tokens": stored["tokens"]}
    word = {"kind": "word", "tokenizer": "space", "tokens": [UNK, "a"]}
    assert vocab_from_json(word).to_json() == word and vocab_from_json(word) == WordVocab([UNK, "a"], "space")
    side = {"level": "char", "tokens": ["<pad>", "<bos>", "<eos>", "1", "2"]}
    assert vocab_from_json(side) == PairVocab.from_json(side) and PairVocab.from_json(side).to_json() == side
    assert vocab_from_json(side).encode("21").tolist() == [4, 3]

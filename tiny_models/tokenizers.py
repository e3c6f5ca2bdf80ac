"""Tokenizers trained here, offline and deterministically, for the tiny test models.

Real tokenizers live on the model hub, which these machines cannot reach; the tiny models only need
tokenizers of the right kind (T5's unigram, CLIP's byte-level BPE) that load with the transformers
classes the pipelines use, and that come out byte-identical on every build so cached fixtures are stable.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter

WORDS = (
    "a an the red blue green golden small large tiny happy quiet bright dark panda cat dog fox bird car "
    "city forest river ocean mountain street sky sun moon rain snow light night day camera video frame "
    "walks runs flies swims plays sits jumps dances looks waves rides drives over under through in on at "
    "with and of to slowly quickly gently playing guitar wooden jacket hat bamboo grass flower water "
    "cinematic detailed blurry low quality motion scene close up wide shot"
).split()


def corpus(lines: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) for _ in range(lines)]


def build_t5_tokenizer(out_dir: str, vocab_size: int = 100) -> str:
    """A T5 tokenizer (unigram, pad=0, eos=1, unk=2) trained with sentencepiece on a generated corpus."""
    import sentencepiece as spm
    from transformers import T5Tokenizer

    os.makedirs(out_dir, exist_ok=True)
    text_path = os.path.join(out_dir, "corpus.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus()))
    prefix = os.path.join(out_dir, "spiece")
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram", pad_id=0, eos_id=1,
        unk_id=2, bos_id=-1, num_threads=1, seed_sentencepiece_size=10000, shuffle_input_sentence=False,
        minloglevel=2, hard_vocab_limit=False,
    )
    processor = spm.SentencePieceProcessor(model_file=prefix + ".model")
    vocab = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    for leftover in (text_path, prefix + ".model", prefix + ".vocab"):
        os.remove(leftover)
    # transformers 5 builds T5Tokenizer from the (piece, score) list; extra_ids as the real T5 has.
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=10)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def _learn_merges(words: Counter, count: int, end_of_word: bool = True) -> list[tuple[str, str]]:
    """Plain BPE with ties broken by the pair itself, so every run learns the same merges (the tokenizers
    library's trainer breaks ties differently from run to run). end_of_word: CLIP's "</w>" marker on each
    word's last symbol; GPT-2-style byte-level BPE (Qwen2) has none."""
    splits = {word: list(word[:-1]) + [word[-1] + "</w>"] if end_of_word else list(word) for word in words}
    merges = []
    for _ in range(count):
        pairs: Counter = Counter()
        for word, freq in words.items():
            symbols = splits[word]
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += freq
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for word in words:
            symbols, merged, i = splits[word], [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            splits[word] = merged
    return merges


def build_clip_tokenizer(out_dir: str, merges: int = 150) -> str:
    """A CLIP tokenizer (byte-level BPE, bos/eos, 77 tokens) from a vocab.json and merges.txt made here."""
    from transformers import CLIPTokenizer

    os.makedirs(out_dir, exist_ok=True)
    byte_chars = list(_bytes_to_unicode().values())
    words = Counter(word for line in corpus() for word in line.split())
    learned = _learn_merges(words, merges)
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(pair) for pair in learned]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    vocab_path, merges_path = os.path.join(out_dir, "vocab.json"), os.path.join(out_dir, "merges.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(merges_path, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in learned) + "\n")
    tokenizer = CLIPTokenizer(vocab_path, merges_path, model_max_length=77)
    os.remove(vocab_path)
    os.remove(merges_path)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_llama_tokenizer(out_dir: str, vocab_size: int = 1000, special_tokens: tuple[str, ...] = (),
                          extra_text: tuple[str, ...] = ()) -> str:
    """A Llama tokenizer (sentencepiece BPE with byte fallback; unk=0, bos=1, eos=2, pad=3, right padding).

    `special_tokens` stay single tokens (e.g. Llama-3's chat headers, which prompt templates are built from);
    `extra_text` is trained on besides the generated corpus, so a template's words are whole pieces too.
    """
    import sentencepiece as spm
    from transformers import LlamaTokenizer
    from transformers.convert_slow_tokenizer import SentencePieceExtractor

    os.makedirs(out_dir, exist_ok=True)
    text_path = os.path.join(out_dir, "corpus.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus() + [line for line in extra_text if line.strip()]))
    prefix = os.path.join(out_dir, "llama")
    # Identity normalisation and kept whitespace, as Llama's tokenizer has (no normaliser in transformers).
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=prefix, vocab_size=vocab_size, model_type="bpe", byte_fallback=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=3, user_defined_symbols=list(special_tokens),
        normalization_rule_name="identity", remove_extra_whitespaces=False, split_digits=True,
        character_coverage=1.0, num_threads=1, shuffle_input_sentence=False, minloglevel=2, hard_vocab_limit=False,
    )
    parts = SentencePieceExtractor(prefix + ".model").extract(None)
    parts.pop("_spm_precompiled_charsmap", None)
    for leftover in (text_path, prefix + ".model", prefix + ".vocab"):
        os.remove(leftover)
    tokenizer = LlamaTokenizer(**parts, pad_token="<pad>", padding_side="right", add_bos_token=True,
                               add_eos_token=False)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_t5_text_side(umt5: bool = False):
    """(tokenizer, text encoder) of the T5 families' tiny models (CogVideoX, Mochi, LTX-Video; UMT5 for Wan):
    the locally trained tokenizer and a 2-layer, 32-wide encoder seeded with 0, in eval mode."""
    import tempfile

    import torch
    from transformers import T5Config, T5EncoderModel, T5Tokenizer, UMT5Config, UMT5EncoderModel

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = T5Tokenizer.from_pretrained(build_t5_tokenizer(os.path.join(tmp, "tokenizer")))
    config_cls, model_cls = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    torch.manual_seed(0)
    text_encoder = model_cls(config_cls(vocab_size=len(tokenizer), d_model=32, d_ff=37, d_kv=8, num_layers=2,
                                        num_heads=4, relative_attention_num_buckets=8)).eval()
    return tokenizer, text_encoder

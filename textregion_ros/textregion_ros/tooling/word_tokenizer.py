"""A small word-level Hugging Face tokenizer on disk, for models whose tokenizer is a Hugging Face one
(SigLIP2) when no real tokenizer files are at hand (tests, the CUDA dry run: random weights, offline)."""
from __future__ import annotations

import json
from pathlib import Path


def build_word_tokenizer(directory: Path) -> Path:
    """A small word-level tokenizer saved as tokenizer.json + tokenizer_config.json in `directory`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from ..engine.templates import IMAGENET_TEMPLATES

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [t.format("red mug table desk chair floor wall sky background person") for t in IMAGENET_TEMPLATES]
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"]))
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>", "eos_token": "<eos>",
        "bos_token": "<bos>", "unk_token": "<unk>", "model_max_length": 64,
    }))
    return directory

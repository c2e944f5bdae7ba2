"""Text analysis over tokenized cases: the fork worker pool, tokenization at load, theme/cause/emotion tagging and the incremental analyze, plus topic suggestions."""

"""Japanese text, no I/O: normalization, tokenization (fugashi + unidic-lite), personal-data masking and shared vocabulary.

The lowest layer: imports nothing else from pipelines."""

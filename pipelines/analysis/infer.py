"""Inferred (推定) themes: a classifier trained on the store's own rule-tagged cases proposes themes for
the cases no rule tags, with the words that drove each proposal.

The model is a multinomial naive Bayes on the set of lemmas of each case (case_terms, the fugashi
lemmas stored at load: nothing is tokenized again and nothing is downloaded). Naive Bayes, in numpy:
training is two GROUP BYs in DuckDB and a log, prediction a gather and a sum per case, so a million
cases cost seconds; a linear model is also what can be explained word by word (scikit-learn would add
nothing the store needs here).

- Trained on at most Settings.max_train rule-tagged cases (a fixed sample by hash of case_id), on the
  lemmas seen in at least min_df of them; proper nouns, numerals and masked personal data
  (〔氏名〕…) are left out, so a product's or a person's name never drives a theme.
- Intent themes (お褒め, 要望: Settings.skip_themes) are never inferred: they rest on a sentence's
  polarity or intent, not on its words (issue 14, item 2).
- A proposal is stored only when the posterior reaches Settings.threshold and the case has at least
  min_words known lemmas; below that the classifier abstains.
- `words`: the case's lemmas whose log-likelihood ratio for the theme (against the other themes'
  mean) is highest — what a lead reads to judge the proposal, and what accept_words() adds to a rule.

Stored in case_inferred_themes, apart from the rule tags in case_themes (which the summaries and
every "tagged" count read). refresh() runs inside analyze()'s transaction, after rule tagging, and
does nothing when neither the cases, their rule tags nor the model settings changed since last time.

    python -m pipelines analyze          # rule tags, then inferred themes
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.rules import themes as th

INFER_VERSION = "nb-1"
META_KEY = "inferred_inputs"      # store_meta: what the stored inferred themes were computed from
INFERRED_LABEL = "推定"


@dataclass(frozen=True)
class Settings:
    """How the classifier is trained and when it abstains."""

    max_train: int = 20_000      # rule-tagged cases the model learns from (a bounded sample)
    min_df: int = 3              # a lemma is a feature when at least this many training cases have it
    min_theme_cases: int = 20    # a theme is learned when at least this many training cases carry it
    alpha: float = 0.5           # additive smoothing
    threshold: float = 0.9       # posterior needed to propose a theme; below it, abstain
    min_words: int = 3           # known lemmas a case needs before anything is proposed
    top_words: int = 4           # driving words kept per proposal
    skip_themes: tuple[str, ...] = ("praise", "request")
    chunk: int = 20_000          # cases predicted at a time (bounds the memory of the gather)

    def key(self) -> str:
        return f"{INFER_VERSION}|{self.max_train}|{self.min_df}|{self.min_theme_cases}|{self.alpha}|" \
               f"{self.threshold}|{self.min_words}|{self.top_words}|{','.join(self.skip_themes)}"


DEFAULT = Settings()

# Terms that say nothing about a theme or must never drive one: names and numbers (UniDic POS) and the
# masks put in place of personal data.
_FEATURE_FILTER = """
    t.pos NOT LIKE '名詞-固有名詞%' AND t.pos NOT LIKE '名詞-数詞%' AND t.lemma NOT LIKE '〔%'
    AND (length(t.lemma) > 1 OR regexp_matches(t.lemma, '^[一-龥]$'))"""


@dataclass
class Model:
    """A trained classifier: theme ids, vocabulary, log prior and log P(lemma | theme)."""

    theme_ids: tuple[str, ...]
    vocabulary: tuple[str, ...]
    log_prior: np.ndarray          # (K,)
    log_prob: np.ndarray           # (V, K) float32
    lift: np.ndarray               # (V, K) float32: log_prob against the mean over themes (the explanation)
    trained_on: int = 0
    theme_cases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposal:
    case_id: str
    theme_id: str
    confidence: float
    words: tuple[str, ...]


def train(con, settings: Settings = DEFAULT, exclude: str | None = None, theme_ids: tuple[str, ...] | None = None
          ) -> Model | None:
    """A model from the rule-tagged cases of the store on `con`; None when too few are tagged.

    `exclude`: a query (ours) of case_ids kept out of training (the held-out cases of evaluate()).
    `theme_ids`: the themes to learn, in order (default: the themes table, less skip_themes).
    """
    if theme_ids is None:
        theme_ids = tuple(r[0] for r in con.execute("SELECT theme_id FROM themes ORDER BY position").fetchall())
    theme_ids = tuple(t for t in theme_ids if t not in settings.skip_themes)
    if not theme_ids:
        return None
    keep_out = f"AND case_id NOT IN ({exclude})" if exclude else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE kk_infer_train AS
        SELECT case_id, row_number() OVER (ORDER BY hash(case_id), case_id) - 1 AS doc
        FROM (SELECT DISTINCT case_id FROM case_themes WHERE TRUE {keep_out})
        ORDER BY hash(case_id), case_id LIMIT ?""", [settings.max_train])
    docs = con.execute("SELECT count(*) FROM kk_infer_train").fetchone()[0]
    if docs == 0:
        return None
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE kk_infer_doc_terms AS
        SELECT DISTINCT s.doc, t.lemma FROM kk_infer_train s JOIN case_terms t USING (case_id)
        WHERE {_FEATURE_FILTER}""")
    vocabulary = tuple(r[0] for r in con.execute(
        "SELECT lemma FROM kk_infer_doc_terms GROUP BY lemma HAVING count(*) >= ? ORDER BY lemma",
        [settings.min_df]).fetchall())
    if not vocabulary:
        return None
    con.register("kk_infer_vocab_frame", pa.table({"lemma": list(vocabulary),
                                                   "feat": list(range(len(vocabulary)))}))
    con.register("kk_infer_theme_frame", pa.table({"theme_id": list(theme_ids), "k": list(range(len(theme_ids)))}))
    try:
        pairs = con.execute("""
            SELECT v.feat, y.k, count(*) FROM kk_infer_doc_terms d JOIN kk_infer_vocab_frame v USING (lemma)
            JOIN kk_infer_train s USING (doc) JOIN case_themes ct USING (case_id)
            JOIN kk_infer_theme_frame y USING (theme_id) GROUP BY ALL""").fetchnumpy()
        per_theme = dict(con.execute("""
            SELECT y.k, count(DISTINCT s.doc) FROM kk_infer_train s JOIN case_themes ct USING (case_id)
            JOIN kk_infer_theme_frame y USING (theme_id) GROUP BY ALL""").fetchall())
    finally:
        con.unregister("kk_infer_vocab_frame")
        con.unregister("kk_infer_theme_frame")
    learned = [k for k in range(len(theme_ids)) if per_theme.get(k, 0) >= settings.min_theme_cases]
    if len(learned) < 2:
        return None
    counts = np.zeros((len(vocabulary), len(theme_ids)), dtype=np.float64)
    np.add.at(counts, (pairs["feat"].astype(np.int64), pairs["k"].astype(np.int64)),
              pairs["count_star()"].astype(np.float64))
    counts = counts[:, learned]
    doc_counts = np.array([per_theme[k] for k in learned], dtype=np.float64)
    log_prob = np.log(counts + settings.alpha) - np.log(counts.sum(axis=0) + settings.alpha * len(vocabulary))
    log_prior = np.log(doc_counts / doc_counts.sum())
    lift = log_prob - log_prob.mean(axis=1, keepdims=True)
    ids = tuple(theme_ids[k] for k in learned)
    return Model(ids, vocabulary, log_prior, log_prob.astype(np.float32), lift.astype(np.float32), docs,
                 {theme_ids[k]: per_theme[k] for k in learned})


def predict(con, model: Model, targets: str, settings: Settings = DEFAULT) -> list[Proposal]:
    """Proposals for the cases of `targets` (a query of case_ids, ours), at or above the threshold."""
    con.register("kk_infer_vocab_frame", pa.table({"lemma": list(model.vocabulary),
                                                   "feat": list(range(len(model.vocabulary)))}))
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE kk_infer_targets AS
            SELECT case_id, row_number() OVER (ORDER BY case_id) - 1 AS n FROM ({targets}) q""")
        # One pass over case_terms for every target; the chunks then read this small table.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE kk_infer_feats AS
            SELECT DISTINCT g.n, v.feat FROM kk_infer_targets g JOIN case_terms t USING (case_id)
            JOIN kk_infer_vocab_frame v ON v.lemma = t.lemma WHERE {_FEATURE_FILTER}""")
        total = con.execute("SELECT count(*) FROM kk_infer_targets").fetchall()[0][0]
        proposals: list[Proposal] = []
        for lo in range(0, total, settings.chunk):
            rows = con.execute("SELECT n, feat FROM kk_infer_feats WHERE n >= ? AND n < ? ORDER BY n, feat",
                               [lo, lo + settings.chunk]).fetchnumpy()
            if len(rows["n"]) == 0:
                continue
            ids = [r[0] for r in con.execute("SELECT case_id FROM kk_infer_targets WHERE n >= ? AND n < ? ORDER BY n",
                                             [lo, lo + settings.chunk]).fetchall()]
            proposals += _propose(model, rows["n"].astype(np.int64) - lo, rows["feat"].astype(np.int64), ids,
                                  settings)
    finally:
        con.unregister("kk_infer_vocab_frame")
    return proposals


def _propose(model: Model, case_no: np.ndarray, feat: np.ndarray, case_ids: list[str], settings: Settings
             ) -> list[Proposal]:
    """Posterior per case (rows sorted by case), the best theme where it reaches the threshold, and the
    case's words that favour that theme most."""
    starts = np.flatnonzero(np.r_[True, case_no[1:] != case_no[:-1]])
    cases = case_no[starts]
    sizes = np.diff(np.r_[starts, len(case_no)])
    scores = np.add.reduceat(model.log_prob[feat], starts, axis=0) + model.log_prior   # (cases, K)
    scores -= scores.max(axis=1, keepdims=True)
    posterior = np.exp(scores)
    posterior /= posterior.sum(axis=1, keepdims=True)
    best = posterior.argmax(axis=1)
    confidence = posterior[np.arange(len(best)), best]
    chosen = np.flatnonzero((confidence >= settings.threshold) & (sizes >= settings.min_words))
    out = []
    for i in chosen.tolist():
        lo, hi = starts[i], starts[i] + sizes[i]
        k = best[i]
        lift = model.lift[feat[lo:hi], k]
        order = np.argsort(-lift, kind="stable")[:settings.top_words]
        words = tuple(model.vocabulary[feat[lo + j]] for j in order.tolist() if lift[j] > 0)
        out.append(Proposal(case_ids[cases[i]], model.theme_ids[k], float(confidence[i]), words))
    return out


# ------------------------------------------------------------------------- in analyze()

def inputs_fingerprint(con, rules_hash: str, settings: Settings = DEFAULT) -> str:
    """What inferred themes depend on: every case's text, every rule tag, the rules and the settings."""
    cases, tags = con.execute("""
        SELECT (SELECT coalesce(sum(hash(case_id, text_hash)), 0) FROM cases),
               (SELECT coalesce(sum(hash(case_id, theme_id)), 0) FROM case_themes)""").fetchone()
    return hashlib.sha256(f"{cases}|{tags}|{rules_hash}|{settings.key()}".encode()).hexdigest()[:16]


def refresh(con, rules_hash: str, settings: Settings = DEFAULT) -> int | None:
    """Inside the caller's transaction: replace case_inferred_themes with proposals for every case no
    rule tags. Returns how many were stored, or None when nothing it depends on changed."""
    fingerprint = inputs_fingerprint(con, rules_hash, settings)
    row = con.execute("SELECT value FROM store_meta WHERE key = ?", [META_KEY]).fetchone()
    if row and row[0] == fingerprint:
        return None
    con.execute("DELETE FROM case_inferred_themes")
    model = train(con, settings)
    stored = 0
    if model is not None:
        proposals = predict(con, model, "SELECT case_id FROM cases WHERE case_id NOT IN "
                                        "(SELECT case_id FROM case_themes)", settings)
        stored = _store(con, proposals)
    con.execute("DELETE FROM store_meta WHERE key = ?", [META_KEY])
    con.execute("INSERT INTO store_meta VALUES (?, ?)", [META_KEY, fingerprint])
    return stored


def _store(con, proposals: list[Proposal]) -> int:
    if not proposals:
        return 0
    table = pa.table({"case_id": [p.case_id for p in proposals], "theme_id": [p.theme_id for p in proposals],
                      "confidence": [p.confidence for p in proposals],
                      "words": [list(p.words) for p in proposals]},
                     schema=pa.schema([("case_id", pa.string()), ("theme_id", pa.string()),
                                       ("confidence", pa.float64()), ("words", pa.list_(pa.string()))]))
    con.register("kk_infer_out", table)
    try:
        con.execute("INSERT INTO case_inferred_themes SELECT * FROM kk_infer_out")
    finally:
        con.unregister("kk_infer_out")
    return len(proposals)


# ------------------------------------------------------------------------- measuring it

@dataclass(frozen=True)
class HoldOut:
    """How well the classifier recovers the rule tags of rule-tagged cases it did not learn from."""

    held_out: int          # rule-tagged cases kept out of training
    proposed: int          # of those, cases it proposed a theme for (did not abstain)
    correct: int           # proposals that are among the case's rule tags
    per_theme: dict[str, tuple[int, int]]   # theme_id → (proposed, correct)

    @property
    def precision(self) -> float:
        return self.correct / self.proposed if self.proposed else 0.0

    @property
    def coverage(self) -> float:
        return self.proposed / self.held_out if self.held_out else 0.0


def evaluate(con, settings: Settings = DEFAULT, every: int = 5) -> HoldOut:
    """Hold out one rule-tagged case in `every` (by hash of case_id), train on the others, and measure
    whether the proposals for the held-out cases are among their rule tags."""
    held = f"SELECT DISTINCT case_id FROM case_themes WHERE hash(case_id) % {int(every)} = 0"
    model = train(con, settings, exclude=held)
    if model is None:
        return HoldOut(0, 0, 0, {})
    proposals = predict(con, model, held, settings)
    tags: dict[str, set[str]] = {}
    for case_id, theme_id in con.execute(f"SELECT case_id, theme_id FROM case_themes WHERE case_id IN ({held})").fetchall():
        tags.setdefault(case_id, set()).add(theme_id)
    per_theme: dict[str, list[int]] = {}
    for p in proposals:
        counts = per_theme.setdefault(p.theme_id, [0, 0])
        counts[0] += 1
        counts[1] += p.theme_id in tags.get(p.case_id, ())
    correct = sum(c for _, c in per_theme.values())
    return HoldOut(len(tags), len(proposals), correct, {k: (v[0], v[1]) for k, v in per_theme.items()})


# ------------------------------------------------------------------------- accepting into a rule

def accept_words(theme_id: str, words: list[str] | tuple[str, ...], note: str = "", path: str | Path | None = None
                 ) -> th.RuleSet:
    """Add `words` to theme `theme_id`'s rule as one new line of alternatives (`語 | 語`), with a
    comment saying where they came from; returns the saved rules. RuleError (Japanese) when the theme
    is not in the file or no usable word is left."""
    path = Path(path) if path else th.rules_path()
    rules = th.load_rules(path)
    theme = next((t for t in rules.themes if t.theme_id == theme_id), None)
    if theme is None:
        raise th.RuleError(f"テーマ [{theme_id}] がテーマ辞書にありません。ページを再読み込みしてください。",
                           f"Theme [{theme_id}] is not in the rules file {path}.")
    usable = [w.strip() for w in dict.fromkeys(words) if _usable_word(w)]
    if not usable:
        raise th.RuleError("ルールに加えられる語がありません（記号や空白だけの語は加えられません）。",
                           "No usable word to add to the rule.")
    comment = f"# {INFERRED_LABEL}から採用{('（' + note + '）') if note else ''}"
    source = f"{theme.source.rstrip()}\n{comment}\n{' | '.join(usable)}"
    updated = th.make_theme(theme.theme_id, theme.name, theme.color, source, origin=path.name)
    rules = rules.with_theme(updated)
    th.save_rules(rules, path)
    return rules


def _usable_word(word: str) -> bool:
    """A lemma the rule language reads as one word: no operator characters, not empty."""
    word = word.strip()
    return bool(word) and not any(ch in word for ch in "|&()!,\"/#:* \u3000") and word.lower() not in ("not", "near", "seq")

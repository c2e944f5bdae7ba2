"""The theme matcher: a RuleSet compiled once, evaluated over each case's stored terms.

Matching runs on `CaseDoc.terms`, so re-tagging never re-tokenizes. Also here: the candidate test a
preview runs in SQL first (Prefilter), previews and hand-labelled evaluation, and the rules text
to and from a RuleSet (a RuleSet pickles as its text).
"""
from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, replace

from pipelines.nlp.text import CaseDoc, Term, normalize
from pipelines.rules.themes.guards import (
    NOT_COMPLAINTS,
    PRAISE,
    REQUEST,
    NameGuard,
    name_terms,
    praise_holds,
    request_holds,
)
from pipelines.rules.themes.parser import RuleError, format_rules_text, parse_expression, parse_rules_text
from pipelines.rules.themes.syntax import DEFAULT_POLARITY, SPARE_COLORS, And, Atom, Near, Node, Not, Or, Theme

# Bump when matching semantics change, so stored tags are recomputed even if no rule changed.
ENGINE_VERSION = "1"
_TEXT_ORDER = 1_000_000  # raw-text evidence sorts after term evidence


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class ThemeHit:
    theme_id: str
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PreviewHit:
    case_id: str
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Coverage:
    cases: int
    tagged: int
    by_theme: dict[str, int]

    @property
    def share(self) -> float:
        return self.tagged / self.cases if self.cases else 0.0


@dataclass(frozen=True, slots=True)
class Score:
    """One theme on a hand-labelled set: cases it tagged, of those correctly, and cases labelled with it."""

    predicted: int
    correct: int
    labelled: int

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.labelled if self.labelled else 0.0


# ---------------------------------------------------------------------------------------------
# Rule sets


@dataclass(frozen=True)
class RuleSet:
    """Themes in display order, compiled once for fast tagging."""

    themes: tuple[Theme, ...]
    preamble: str = ""            # comment lines before the first theme, kept on save
    names: tuple[str, ...] = ()   # names whose words never trigger a theme (guards.NameGuard; see with_names)

    def __post_init__(self) -> None:
        seen_ids: dict[str, str] = {}
        seen_colors: dict[str, str] = {}
        for theme in self.themes:
            if theme.theme_id in seen_ids:
                raise RuleError(f"テーマID [{theme.theme_id}] が2つあります (「{seen_ids[theme.theme_id]}」と「{theme.name}」)。"
                                "IDはテーマごとに変えてください。",
                                f"Theme ID [{theme.theme_id}] is used twice; IDs must be unique.")
            if theme.color in seen_colors:
                raise RuleError(f"色 {theme.color} が「{seen_colors[theme.color]}」と「{theme.name}」で重なっています。"
                                "グラフで区別できるよう別の色にしてください。",
                                f"Colour {theme.color} is used by two themes; give each theme its own colour.")
            seen_ids[theme.theme_id] = theme.name
            seen_colors[theme.color] = theme.name
        object.__setattr__(self, "_compiled", _Compiled(self.themes))
        object.__setattr__(self, "_guard", NameGuard(self.names))

    def __reduce__(self) -> tuple:
        # Compiled closures do not pickle; a spawned worker re-reads the rules text instead.
        return _restore, (dumps_rules(self), self.names)

    def with_names(self, names: Iterable[str]) -> RuleSet:
        """A copy that never lets a word of these names trigger a theme (the export's product,
        department … values). Only names with a rule word among their terms are kept: the others
        cannot change a tag, and each kept name costs a little on every case."""
        index = self._compiled.index   # type: ignore[attr-defined]

        def has_rule_word(name: str) -> bool:
            for surface, lemma in name_terms(name):
                for key in (surface, lemma):
                    entry = index.get(key)
                    if entry is not None and (any(entry[0]) or entry[1] or entry[2]):
                        return True
            return False
        normalized = {normalize(n).strip() for n in names if n}
        return replace(self, names=tuple(sorted(n for n in normalized if n and has_rule_word(n))))

    def theme(self, theme_id: str) -> Theme:
        return next(t for t in self.themes if t.theme_id == theme_id)

    def with_theme(self, theme: Theme) -> RuleSet:
        """A copy with `theme` replacing the one with its ID, or appended when the ID is new."""
        ids = [t.theme_id for t in self.themes]
        themes = [theme if t.theme_id == theme.theme_id else t for t in self.themes]
        return replace(self, themes=tuple(themes if theme.theme_id in ids else themes + [theme]))

    def without(self, theme_id: str) -> RuleSet:
        return replace(self, themes=tuple(t for t in self.themes if t.theme_id != theme_id))

    def spare_color(self) -> str:
        """A colour no theme uses yet, for a theme added in the editor."""
        used = {t.color for t in self.themes}
        return next((c for c in SPARE_COLORS if c not in used), "#333333")

    def hash(self) -> str:
        """Changes when matching can change (IDs, expressions, engine); not on renames, colours or comments,
        nor on the guarded names: analyze() re-tags the cases that hold a name newly guarded (or no longer)."""
        digest = hashlib.sha256(f"engine={ENGINE_VERSION};default={DEFAULT_POLARITY}".encode())
        for theme in self.themes:
            digest.update(f"\n{theme.theme_id}\t{theme.expression.source()}".encode())
        # Rule words are read with the tokenizer: a dictionary that spells them differently matches differently.
        atoms = self._compiled.atoms   # type: ignore[attr-defined]
        spellings = sorted({s for atom in atoms for segment in atom.segments for s in segment})
        digest.update("\t".join(spellings).encode())

        return digest.hexdigest()[:16]

    def tag(self, doc: CaseDoc) -> list[ThemeHit]:
        """The themes of one case, in rule order, each with the words that made it true (after the
        precision guards: see guards.py)."""
        return _guarded_tag(self._compiled, self._guard, doc)   # type: ignore[attr-defined]

    def theme_rows(self) -> list[tuple[str, str, str, int]]:
        """(theme_id, name, color, position) rows for the `themes` table."""
        return [(t.theme_id, t.name, t.color, k) for k, t in enumerate(self.themes)]

    def tag_many(self, docs: Iterable[CaseDoc]) -> Iterator[tuple[str, str, tuple[str, ...]]]:
        """(case_id, theme_id, evidence) rows for case_themes."""
        compiled, guard = self._compiled, self._guard   # type: ignore[attr-defined]
        for doc in docs:
            for hit in _guarded_tag(compiled, guard, doc):
                yield doc.case_id, hit.theme_id, hit.evidence

    def coverage(self, docs: Iterable[CaseDoc]) -> Coverage:
        """How many cases get at least one theme, and how many get each."""
        by_theme = {t.theme_id: 0 for t in self.themes}
        cases = tagged = 0
        for doc in docs:
            hits = self.tag(doc)
            cases += 1
            tagged += bool(hits)
            for hit in hits:
                by_theme[hit.theme_id] += 1
        return Coverage(cases, tagged, by_theme)


def _guarded_tag(compiled: _Compiled, guard: NameGuard, doc: CaseDoc) -> list[ThemeHit]:
    """Tag `doc` with names masked, then keep praise and request only where their intent holds."""
    doc = guard.apply(doc)
    hits = compiled.tag(doc)
    if not hits or not any(h.theme_id == PRAISE or h.theme_id == REQUEST for h in hits):
        return hits
    complaint = {piece for h in hits if h.theme_id not in NOT_COMPLAINTS for piece in h.evidence}
    kept = []
    for hit in hits:
        if hit.theme_id == PRAISE or hit.theme_id == REQUEST:
            evidence = (praise_holds(doc.text, hit.evidence, complaint) if hit.theme_id == PRAISE
                        else request_holds(doc.text, hit.evidence))
            if not evidence:
                continue
            hit = ThemeHit(hit.theme_id, evidence)
        kept.append(hit)
    return kept


def _restore(text: str, names: tuple[str, ...]) -> RuleSet:
    return replace(loads_rules(text, "pickled rules"), names=names)


def loads_rules(text: str, origin: str = "themes.txt") -> RuleSet:
    """A RuleSet from the text of a rules file."""
    return RuleSet(*parse_rules_text(text, origin))


def dumps_rules(rules: RuleSet) -> str:
    """The text of a rules file; loads_rules(dumps_rules(r)) gives the same themes and hash."""
    return format_rules_text(rules.themes, rules.preamble)


def docs_from_rows(rows: Iterable[tuple]) -> Iterator[CaseDoc]:
    """CaseDocs from stored rows (case_id, text, idx, surface, lemma, pos, negated), ordered by case_id, idx.

    A case without terms comes as one row with idx NULL (a LEFT JOIN of cases to case_terms):

        SELECT c.case_id, c.text, t.idx, t.surface, t.lemma, t.pos, t.negated
        FROM cases c LEFT JOIN case_terms t USING (case_id) ORDER BY c.case_id, t.idx
    """
    case_id, text, terms = None, "", []
    for row_case, row_text, idx, surface, lemma, pos, negated in rows:
        if row_case != case_id:
            if case_id is not None:
                yield CaseDoc(case_id, text, tuple(terms))
            case_id, text, terms = row_case, row_text or "", []
        if idx is not None:
            terms.append(Term(idx, surface, lemma, pos, bool(negated)))
    if case_id is not None:
        yield CaseDoc(case_id, text, tuple(terms))


def evaluate(rules: RuleSet, labelled: Iterable[tuple[CaseDoc, Collection[str]]]) -> tuple[dict[str, Score], Coverage]:
    """Per-theme precision/recall and coverage of `rules` on (doc, theme IDs) pairs labelled by hand."""
    counts = {t.theme_id: [0, 0, 0] for t in rules.themes}
    cases = tagged = 0
    for doc, gold in labelled:
        found = {hit.theme_id for hit in rules.tag(doc)}
        cases += 1
        tagged += bool(found)
        for theme_id, count in counts.items():
            count[0] += theme_id in found
            count[1] += theme_id in found and theme_id in gold
            count[2] += theme_id in gold
    scores = {theme_id: Score(*count) for theme_id, count in counts.items()}
    return scores, Coverage(cases, tagged, {theme_id: s.predicted for theme_id, s in scores.items()})


def preview(expression: str, docs: Iterable[CaseDoc], limit: int | None = None) -> list[PreviewHit]:
    """Cases an expression (being edited) would tag, with evidence; RuleError if it does not parse."""
    rules = RuleSet((Theme("preview", "preview", "#000000", expression, parse_expression(expression)),))
    hits: list[PreviewHit] = []
    for doc in docs:
        found = rules.tag(doc)
        if found:
            hits.append(PreviewHit(doc.case_id, found[0].evidence))
            if limit is not None and len(hits) >= limit:
                break
    return hits


@dataclass(frozen=True, slots=True)
class Prefilter:
    """What a case must contain for `rules` to possibly tag it, so a preview over stored terms can
    skip the other cases in SQL and build documents only for these.

    Each rule line needs one word (or text atom) of its trigger set, one word of each further set it
    needs (near(a, b): one a and one b), and one string of each literal set its regexes need. Words
    are keyed by number: a stored term present as `keys` says (its surface or lemma, and whether it
    must be negated, not negated, or either), or a word the tokenizer split (`pairs`: the term, "\\0",
    the next term's first character — ログ + イ for ログイン); `literals` are strings in the text. A
    case is a candidate when some line has every set met (`admits`); `everything` when a regex with no
    literal it must contain triggers a line on its own. Polarity is checked only where a single term
    decides it, so this is a superset of what `tag` finds, never less.
    """

    keys: tuple[tuple[str, int, str], ...]            # (surface or lemma, key, "any" | "pos" | "neg" | "neg_or_noun")
    pairs: tuple[tuple[str, int], ...]                # (term + "\\0" + next term's first character, key)
    literals: tuple[tuple[str, int], ...]             # (substring of the text, key)
    lines: tuple[tuple[frozenset[int], ...], ...]     # per line: key sets, each needing one key present
    everything: bool

    def admits(self, present: Collection[int]) -> bool:
        """True when the keys present in a case meet every set of some line."""
        present = present if isinstance(present, (set, frozenset)) else set(present)
        return self.everything or any(all(not one_of.isdisjoint(present) for one_of in line) for line in self.lines)


# When a single term spelling a word makes it present (see _HIT_SLOTS): `neg` words inside a clause
# may also be nouns whose predicate is negated (_clause_negated), which the stored flag does not say.
_TERM_NEEDS = {("any", False): "any", ("any", True): "any", ("pos", False): "pos", ("pos", True): "pos",
               ("neg", False): "neg", ("neg", True): "neg_or_noun"}


def prefilter(rules: RuleSet) -> Prefilter:
    """The candidate test for `rules` (see Prefilter), read from the compiled rules: the words each
    line is triggered by and needs, and the literals its text atoms and regexes need."""
    compiled = rules._compiled   # type: ignore[attr-defined]
    keys: set[tuple[str, int, str]] = set()
    pairs: set[tuple[str, int]] = set()
    for no, atom in enumerate(compiled.atoms):
        if atom.kind != "word":
            continue
        single = len(atom.segments) == 1
        for spelling in atom.segments[0]:   # a phrase starts where its first segment does
            keys.add((spelling, no, _TERM_NEEDS[atom.polarity, atom.clause] if single else "any"))
            pairs.update((f"{spelling[:k]}\0{spelling[k]}", no) for k in range(1, len(spelling)))
    literal_keys: dict[str, int] = {}

    def literal_key(literal: str) -> int:
        return literal_keys.setdefault(literal, len(compiled.atoms) + len(literal_keys))

    literals = {(literal, no) for no in compiled.eager for literal in (compiled.text_atoms[no][1] or ((),))[0]}
    lines: list[tuple[frozenset[int], ...]] = []
    triggers: dict[tuple[int, int], set[int]] = {}
    for no, refs in compiled.lines_by_atom.items():
        for ref in refs:
            triggers.setdefault(ref, set()).add(no)
    for (theme, line), trigger in sorted(triggers.items()):
        needs, line_literals = ((), ()) if line < 0 else compiled.lines[theme][line][1:]
        lines.append((frozenset(trigger), *needs,
                      *(frozenset(literal_key(lit) for lit in one_of) for one_of in line_literals)))
    literals.update(literal_keys.items())
    return Prefilter(tuple(sorted(keys)), tuple(sorted(pairs)), tuple(sorted(literals)), tuple(lines),
                     bool(compiled.eager_always))


# ---------------------------------------------------------------------------------------------
# Compiled evaluation
#
# Per case: one pass over the terms looks each surface and lemma up in one dict, which yields the
# words present (a handful per case). A rule line is evaluated only when a word it needs is present.
# text:/regex atoms cost a scan of the text, so a line that also needs a word is triggered by the
# word and its regex runs only then ("lazy"); only regexes that are a line's sole trigger run for
# every case, and only when a literal they need is in the text. A match is (first idx, last idx,
# order, evidence); order is the term position, so evidence reads in order.

_Match = tuple[int, int, int, str]
_Matches = dict[int, list[_Match]]               # atom number -> its matches in one case
_Eval = Callable[[_Matches], "list[_Match] | None"]
_Need = tuple[frozenset[int], ...]               # for each set, one of its atoms must be present
# Per key: the one-term words it spells, by when they count (see match_atoms); the words it may begin,
# keyed by the next character of the spelling (ログ begins ログイン under イ); the "a b" phrases it may begin.
# Hits: (atoms when the term is negated, when it is not, and when it is not but its clause may be:
# those for an affirmative clause, those for a negated one).
_Hits = tuple[list[int], list[int], list[int], list[int]]
_Entry = tuple[_Hits, dict[str, list[tuple[int, str]]], list[int]]
_HIT_SLOTS = {("any", False): (0, 1), ("any", True): (0, 1), ("pos", False): (1,), ("neg", False): (0,),
              ("pos", True): (2,), ("neg", True): (0, 3)}
# Reserved keys of a case's matches: its text, and the lazy text atoms already found absent.
_TEXT, _ABSENT = -1, -2
_ORDER = operator.itemgetter(2)


class _Compiled:
    def __init__(self, themes: tuple[Theme, ...]) -> None:
        self.atoms: list[Atom] = []
        self.atom_no: dict[Atom, int] = {}
        self.index: dict[str, _Entry] = {}
        # text:/regex atoms: (literal or compiled regex, literal sets it needs — see _required_literals)
        self.text_atoms: dict[int, tuple[str | re.Pattern[str], tuple[tuple[str, ...], ...]]] = {}
        self.eager: set[int] = set()
        self.ids = [t.theme_id for t in themes]
        # Each theme's top-level alternatives (its lines): closure, the word sets and the literal sets
        # (of its lazy regexes) to check before calling it.
        # atom -> [(theme, line)], where a negative line -1 - atom means the line is that atom alone.
        self.lines: list[list[tuple[_Eval, _Need, tuple[tuple[str, ...], ...]]]] = []
        self.lines_by_atom: dict[int, list[tuple[int, int]]] = {}
        for number, theme in enumerate(themes):
            self.compile_theme(theme.expression, number)
        self.index_eager_text()

    # -- building --

    def compile_theme(self, expression: Node, theme: int) -> None:
        lines: list[tuple[_Eval, _Need, tuple[tuple[str, ...], ...]]] = []
        for alternative in _alternatives(expression):
            if isinstance(alternative, Atom):
                no = self.add_atom(alternative)
                self.lines_by_atom.setdefault(no, []).append((theme, -1 - no))
                if no in self.text_atoms:
                    self.eager.add(no)
                continue
            fn, need = self.compile(alternative)
            trigger = need[0]   # parse_expression guarantees every alternative needs some atom
            self.eager.update(no for no in trigger if no in self.text_atoms)
            for no in trigger:
                self.lines_by_atom.setdefault(no, []).append((theme, len(lines)))
            lines.append((fn, self.checkable(need[1:]), self.line_literals(alternative)))
        self.lines.append(lines)

    def line_literals(self, line: Node) -> tuple[tuple[str, ...], ...]:
        """Literal sets a line's regexes need (word & /regex/, word & (/a/ | /b/)).

        Most cases that have the word lack a literal the regex needs, so these are checked before any
        closure is called.
        """
        if not isinstance(line, And):
            return ()
        out: list[tuple[str, ...]] = []
        for child in line.children:
            if isinstance(child, Atom) and child.kind != "word":
                out += self.text_atoms[self.add_atom(child)][1]
            elif isinstance(child, Or) and all(isinstance(c, Atom) and c.kind != "word" for c in child.children):
                firsts = [self.text_atoms[self.add_atom(c)][1] for c in child.children]
                if all(firsts):
                    out.append(tuple(dict.fromkeys(lit for sets in firsts for lit in sets[0])))
        return tuple(out)

    def add_atom(self, atom: Atom) -> int:
        no = self.atom_no.get(atom)
        if no is None:
            no = self.atom_no[atom] = len(self.atoms)
            self.atoms.append(atom)
            if atom.kind == "text":
                self.text_atoms[no] = (atom.value, ((atom.value,),))
            elif atom.kind == "regex":
                self.text_atoms[no] = (re.compile(atom.value), _required_literals(atom.value))
            else:
                self.index_word(atom, no)
        return no

    def index_word(self, atom: Atom, no: int) -> None:
        first = atom.segments[0]
        if len(atom.segments) > 1:
            for key in {s[:k] for s in first for k in range(1, len(s) + 1)}:
                self.entry(key)[2].append(no)
            return
        for spelling in first:
            # A term spelling the whole word is a hit; a term spelling a proper prefix may start a
            # run (ログ + イン = ログイン), whatever split the tokenizer chose in that sentence.
            hits = self.entry(spelling)[0]
            for slot in _HIT_SLOTS[atom.polarity, atom.clause]:
                hits[slot].append(no)
            for k in range(1, len(spelling)):
                self.entry(spelling[:k])[1].setdefault(spelling[k], []).append((no, spelling[k:]))

    def entry(self, key: str) -> _Entry:
        return self.index.setdefault(key, (([], [], [], []), {}, []))

    def index_eager_text(self) -> None:
        """Literal index of the text atoms that trigger a line on their own (looked for in every case)."""
        self.literals_by_char: dict[str, list[str]] = {}
        self.atoms_by_literal: dict[str, list[int]] = {}
        self.eager_always = [no for no in self.eager if not self.text_atoms[no][1]]
        for no in sorted(self.eager):
            sets = self.text_atoms[no][1]
            for literal in sets[0] if sets else ():
                if literal not in self.atoms_by_literal:
                    self.literals_by_char.setdefault(literal[0], []).append(literal)
                self.atoms_by_literal.setdefault(literal, []).append(no)
        # A character class of the literals' first characters: findall walks the text in C and
        # allocates only the characters that start some literal (iterating a str allocates each one).
        self.first_chars = re.compile("[" + "".join(map(re.escape, self.literals_by_char)) + "]") \
            if self.literals_by_char else None

    def order(self, need: _Need) -> _Need:
        """Word-only sets first: the first set is the trigger, and words are found for free."""
        return tuple(sorted(need, key=lambda one_of: any(no in self.text_atoms for no in one_of)))

    def checkable(self, need: _Need) -> _Need:
        """The sets worth checking against a case's matches: lazy text atoms are not there yet."""
        return tuple(one_of for one_of in need if not any(no in self.text_atoms for no in one_of))

    def compile(self, node: Node) -> tuple[_Eval, _Need]:
        """A closure evaluating `node` on a case's matches, and the atoms it needs (trigger first)."""
        if isinstance(node, Atom):
            no = self.add_atom(node)
            if no in self.text_atoms:
                return self.text_closure(no), (frozenset((no,)),)
            return (lambda m: m.get(no)), (frozenset((no,)),)
        if isinstance(node, Not):
            child, _ = self.compile(node.child)
            return (lambda m: [] if child(m) is None else None), ()
        if isinstance(node, And):
            compiled = [self.compile(c) for c in node.children]
            # Cheap word-only children first, so a missing word skips the regexes after it.
            compiled.sort(key=lambda fn_need: not fn_need[1] or fn_need[1] != self.checkable(fn_need[1]))
            parts = [fn for fn, _ in compiled]

            def all_of(m: _Matches) -> list[_Match] | None:
                out: list[_Match] = []
                for part in parts:
                    found = part(m)
                    if found is None:
                        return None
                    out += found
                return out
            return all_of, self.order(_needs(*(need for _, need in compiled)))
        if isinstance(node, Or):
            return self.compile_or(node)
        return self.compile_near(node)

    def text_closure(self, no: int) -> _Eval:
        """A text:/regex atom: found by match_text when eager, else searched when first needed."""
        eager = self.eager
        target, sets = self.text_atoms[no]
        first, others = (sets[0], sets[1:]) if sets else ((), ())

        def lazy(m: _Matches) -> list[_Match] | None:
            found = m.get(no)
            if found is not None or no in eager:
                return found
            absent: set[int] = m[_ABSENT]   # type: ignore[assignment]
            if no in absent:
                return None
            found = _search(target, first, others, m[_TEXT])   # type: ignore[arg-type]
            if found is None:
                absent.add(no)
            else:
                m[no] = found
            return found
        return lazy

    def compile_or(self, node: Or) -> tuple[_Eval, _Need]:
        word_atoms = [c for c in node.children if isinstance(c, Atom) and c.kind == "word"]
        atom_nos = frozenset(self.add_atom(c) for c in word_atoms)
        parts = [self.compile(c) for c in node.children if c not in word_atoms]
        # Some child must hold, so one atom from the union of each child's first need must be present.
        need: _Need = () if any(not n for _, n in parts) else (atom_nos.union(*(n[0] for _, n in parts)),)
        checks = [(fn, self.checkable(n)) for fn, n in parts]

        def any_atom(m: _Matches) -> list[_Match] | None:
            out: list[_Match] | None = None
            for no in atom_nos.intersection(m):   # m holds only the atoms present: a handful
                out = m[no] if out is None else out + m[no]
            return out
        if not parts:
            return any_atom, need

        def any_of(m: _Matches) -> list[_Match] | None:
            out = any_atom(m)
            for part, part_need in checks:
                if _all_present(part_need, m):
                    found = part(m)
                    if found is not None:
                        out = found if out is None else out + found
            return out
        return any_of, need

    def compile_near(self, node: Near) -> tuple[_Eval, _Need]:
        (left, need_a), (right, need_b) = self.compile(node.a), self.compile(node.b)
        distance, ordered = node.distance, node.ordered
        if _atoms_only(node.a) and _atoms_only(node.b):
            # The common shape near(word | word…, word | word…): no closure calls, no list building
            # unless both sides are present.
            side_a, side_b = need_a[0], need_b[0]

            def left(m: _Matches) -> list[_Match] | None:
                return _gather(side_a, m)

            def right(m: _Matches) -> list[_Match] | None:
                return _gather(side_b, m)

        def near(m: _Matches) -> list[_Match] | None:
            a_matches = left(m)
            b_matches = right(m) if a_matches else None
            if not b_matches:
                return None
            out: list[_Match] = []
            for a in a_matches:
                for b in b_matches:
                    if 0 < b[0] - a[1] <= distance or not ordered and 0 < a[0] - b[1] <= distance:
                        span = (min(a[0], b[0]), max(a[1], b[1]))
                        out += ((*span, a[2], a[3]), (*span, b[2], b[3]))
            return out or None
        return near, _needs(need_a, need_b)

    # -- matching one case --

    def match_atoms(self, doc: CaseDoc) -> _Matches:
        terms, text = doc.terms, doc.text
        get = self.index.get
        found: list[tuple[int, _Entry]] = []
        for i, term in enumerate(terms):
            # Most terms are in no rule: one or two dict misses, nothing else.
            surface, lemma = term.surface, term.lemma
            entry = get(surface)
            if entry is not None:
                found.append((i, entry))
            if lemma != surface:
                entry = get(lemma)
                if entry is not None:
                    found.append((i, entry))
        m: _Matches = {}
        starts: list[tuple[int, _Entry]] = []
        for i, entry in found:
            # entry[0]: the atoms this term is, when negated / not / by its clause (see _HIT_SLOTS).
            when_negated, when_affirmative, clause_pos, clause_neg = entry[0]
            term = terms[i]
            if term.negated:
                nos = when_negated
            elif clause_pos or clause_neg:
                nos = when_affirmative + (clause_neg if _clause_negated(terms, i, text) else clause_pos)
            else:
                nos = when_affirmative
            if nos:
                match = (term.idx, term.idx, term.idx, term.surface)
                for no in nos:
                    hits = m.get(no)
                    if hits is None:
                        m[no] = [match]
                    elif hits[-1] != match:
                        hits.append(match)
            if entry[1] or entry[2]:
                starts.append((i, entry))
        if starts:
            self.match_runs(terms, text, starts, m)
        if self.eager:
            self.match_text(text, m)
        return m

    def match_runs(self, terms: tuple[Term, ...], text: str, starts: list[tuple[int, _Entry]], m: _Matches) -> None:
        """Words spelled by several consecutive terms, and "a b" phrases."""
        n = len(terms)
        for i, (_, runs, phrases) in starts:
            for no in phrases:
                end = _run_end(self.atoms[no].segments, terms, i)
                if end is not None:
                    self.add_run(no, terms, text, i, end, m)
            nxt = i + 1
            if not runs or nxt == n or terms[nxt].idx != terms[i].idx + 1:
                continue
            after = terms[nxt]
            candidates = runs.get(after.surface[:1], [])
            if after.lemma[:1] != after.surface[:1]:
                candidates = candidates + runs.get(after.lemma[:1], [])
            for no, rest in candidates:
                end = _spell(rest, terms, nxt)
                if end is not None:
                    self.add_run(no, terms, text, i, end, m)

    def match_text(self, text: str, m: _Matches) -> None:
        """The eager text atoms: those whose first literal set has a member in the text are searched."""
        by_char, by_literal = self.literals_by_char, self.atoms_by_literal
        chars = set(self.first_chars.findall(text)) if self.first_chars else ()
        todo = {no for ch in chars for lit in by_char[ch] if lit in text for no in by_literal[lit]}
        todo.update(self.eager_always)
        for no in todo:
            target, sets = self.text_atoms[no]
            found = _search(target, (), sets[1:], text)
            if found is not None:
                m[no] = found

    def add_run(self, no: int, terms: tuple[Term, ...], text: str, i: int, end: int, m: _Matches) -> None:
        atom = self.atoms[no]
        run = terms[i:end + 1]
        negated = any(t.negated for t in run) or atom.clause and _clause_negated(terms, end, text)
        if atom.polarity == "pos" and negated or atom.polarity == "neg" and not negated:
            return
        match = (terms[i].idx, terms[end].idx, terms[i].idx, "".join(t.surface for t in run))
        found = m.setdefault(no, [])
        if match not in found:
            found.append(match)

    def tag(self, doc: CaseDoc) -> list[ThemeHit]:
        m = self.match_atoms(doc)
        if not m:
            return []
        todo: set[tuple[int, int]] = set()
        get = self.lines_by_atom.get
        for no in m:
            lines = get(no)
            if lines:
                todo.update(lines)
        text = m[_TEXT] = doc.text   # type: ignore[assignment]  # for lazy text atoms
        m[_ABSENT] = set()         # type: ignore[assignment]
        hits: list[ThemeHit] = []
        current, found = -1, []
        for theme, line in sorted(todo):   # by theme, then line
            if theme != current:
                if found:
                    hits.append(ThemeHit(self.ids[current], _evidence(found)))
                current, found = theme, []
            if line < 0:
                found += m[-1 - line]
                continue
            fn, need, literals = self.lines[theme][line]
            # Inline rather than helper calls: this runs for ~10 lines per case.
            missing = False
            for one_of in need:
                if one_of.isdisjoint(m):
                    missing = True   # another word the line needs is absent
                    break
            if not missing:
                for one_of in literals:
                    for literal in one_of:
                        if literal in text:
                            break
                    else:
                        missing = True   # so is every literal one of its regexes needs
                        break
            if missing:
                continue
            line_found = fn(m)
            if line_found:
                found += line_found
        if found:
            hits.append(ThemeHit(self.ids[current], _evidence(found)))
        return hits


def _gather(atom_nos: frozenset[int], m: _Matches) -> list[_Match] | None:
    present = atom_nos.intersection(m)
    if not present:
        return None
    if len(present) == 1:
        return m[next(iter(present))]
    out: list[_Match] = []
    for no in present:
        out += m[no]
    return out


def _all_present(need: _Need, m: _Matches) -> bool:
    for one_of in need:
        if one_of.isdisjoint(m):
            return False
    return True


def _all_in(literal_sets: tuple[tuple[str, ...], ...], text: str) -> bool:
    for one_of in literal_sets:
        for literal in one_of:
            if literal in text:
                break
        else:
            return False
    return True


def _search(target: str | re.Pattern[str], first: tuple[str, ...], others: tuple[tuple[str, ...], ...],
            text: str) -> list[_Match] | None:
    """A text atom in `text`, when some literal of `first` and of each of `others` is there."""
    if first and not _all_in((first,), text) or others and not _all_in(others, text):
        return None
    if isinstance(target, str):
        at = text.find(target)
        return [(-1, -1, _TEXT_ORDER + at, target)] if at >= 0 else None
    hit = target.search(text)
    return [(-1, -1, _TEXT_ORDER + hit.start(), hit.group(0))] if hit and hit.group(0) else None


def _clause_negated(terms: tuple[Term, ...], i: int, text: str) -> bool:
    """A noun that is the subject of a negated predicate: 異物は(特に)入っていません, エラーは出ていない.

    The stored flag marks a noun only through する・ある・できる (問題はない, 発送されていない). Here the
    next stored term decides when it is a negated verb or adjective at most a particle and adverbs
    away, and the particle is one that makes the noun its subject (は・が・も…), read from the text:
    「エラーで選べない」 is still an error.
    """
    term = terms[i]
    if not term.pos.startswith("名詞"):
        return False
    for nxt in terms[i + 1:i + 4]:
        if nxt.idx > term.idx + 4:
            return False
        if nxt.pos.startswith("副詞"):
            continue
        if not (nxt.negated and nxt.pos.startswith(("動詞", "形容詞"))):
            return False
        return _is_subject(term.surface, nxt.surface, text)
    return False


_SUBJECT_PARTICLES = ("は", "が", "も", "って", "なんて", "なんか", "など", "とか")


def _is_subject(noun: str, predicate: str, text: str) -> bool:
    """Somewhere in `text`, `noun` + は/が/も… and then `predicate` within the same clause."""
    start = 0
    while (at := text.find(noun, start)) >= 0:
        after = at + len(noun)
        if text.startswith(_SUBJECT_PARTICLES, after):
            window = text[after:after + 14]
            end = window.find(predicate)
            if end > 0 and not any(mark in window[:end] for mark in "。、!?"):
                return True
        start = at + 1
    return False


def _alternatives(node: Node) -> Iterator[Node]:
    """The or-ed parts of a theme, nested ors flattened: each is looked up from the atoms present."""
    if isinstance(node, Or):
        for child in node.children:
            yield from _alternatives(child)
    else:
        yield node


def _atoms_only(node: Node) -> bool:
    return isinstance(node, Atom) or isinstance(node, Or) and all(isinstance(c, Atom) for c in node.children)


def _needs(*needs: _Need) -> _Need:
    return tuple(dict.fromkeys(one_of for need in needs for one_of in need))


def _run_end(segments: tuple[tuple[str, ...], ...], terms: tuple[Term, ...], i: int) -> int | None:
    """The index of the last term of a run starting at terms[i] that spells every segment in order."""
    position = i
    for k, spellings in enumerate(segments):
        if k and (position + 1 >= len(terms) or terms[position + 1].idx != terms[position].idx + 1):
            return None
        start = position + 1 if k else position
        ends = [e for s in spellings if (e := _spell(s, terms, start)) is not None]
        if not ends:
            return None
        position = min(ends)
    return position


def _spell(rest: str, terms: tuple[Term, ...], i: int) -> int | None:
    """Consecutive terms from i whose surfaces or lemmas join to exactly `rest`; the last index."""
    term = terms[i]
    for piece in (term.surface, term.lemma):
        if rest == piece:
            return i
        if rest.startswith(piece) and i + 1 < len(terms) and terms[i + 1].idx == term.idx + 1:
            end = _spell(rest[len(piece):], terms, i + 1)
            if end is not None:
                return end
    return None


def _required_literals(pattern: str) -> tuple[tuple[str, ...], ...]:
    """Sets of strings such that `pattern` can only match if each set has one string in the text.

    Read from the parsed pattern: every item a match must contain (a literal run, or a group whose
    branches all start with a literal) gives a set. The most selective set comes first: it is the
    one looked up for every case; the others are checked only when it is present. () = none known.
    """
    try:
        from re import _parser  # private, but stable across 3.11–3.13; any surprise means "no prefilter"
        parsed = _parser.parse(pattern)
        if parsed.state.flags & re.IGNORECASE:
            return ()
        sets = list(dict.fromkeys(_mandatory_literals(list(parsed))))
    except Exception:   # noqa: BLE001 - an optimisation only; the regex itself was validated at parse
        return ()
    # Longer literals are rarer, and kanji rarer than kana: 「教えて」 before 「ます」.
    return tuple(sorted(sets, key=lambda lits: -min(len(x) + any(c > "ヿ" for c in x) for x in lits)))


def _mandatory_literals(items: list) -> Iterator[tuple[str, ...]]:
    from re import _constants as c  # local, like _parser: a Python without it gets no prefilter, not an ImportError
    run = ""
    for op, av in items + [(None, None)]:
        if op is c.LITERAL:
            run += chr(av)
            continue
        if run:
            yield (run,)
            run = ""
        if op is c.SUBPATTERN and not av[1] & re.IGNORECASE:
            yield from _mandatory_literals(list(av[3]))
        elif op is c.BRANCH:
            prefixes = [_leading_literal(list(branch)) for branch in av[1]]
            if all(prefixes):
                yield tuple(prefixes)
        elif op is c.MAX_REPEAT or op is c.MIN_REPEAT:
            if av[0] >= 1:
                yield from _mandatory_literals(list(av[2]))


def _leading_literal(items: list) -> str:
    from re import _constants as c  # local, like _parser: a Python without it gets no prefilter, not an ImportError
    out = ""
    for op, av in items:
        if op is not c.LITERAL:
            break
        out += chr(av)
    return out


def _evidence(found: list[_Match]) -> tuple[str, ...]:
    """Each matched piece once, in reading order."""
    if len(found) == 1:
        return (found[0][3],)
    return tuple(dict.fromkeys(match[3] for match in sorted(found, key=_ORDER)))

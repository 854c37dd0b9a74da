"""Typo tolerance: find vocabulary words one edit away (wrong, missing, extra or swapped letter).

A symmetric-delete index (the SymSpell idea): every vocabulary word is stored under itself and
each of its one-letter deletions; a query word's own deletions then meet every word within one
substitution, insertion, deletion or adjacent swap. Candidates are confirmed with the exact
optimal-string-alignment distance.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent transpositions)."""
    rows = len(a) + 1
    cols = len(b) + 1
    d = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        d[i][0] = i
    for j in range(cols):
        d[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


class Speller:
    """Corrects words of at least ``min_length`` letters against a vocabulary."""

    def __init__(self, vocabulary: Iterable[str], frequency: dict[str, float] | None = None, min_length: int = 5):
        self.min_length = min_length
        self.vocabulary = set(vocabulary)
        self.frequency = frequency or {}
        self._index: dict[str, list[str]] = defaultdict(list)
        for word in self.vocabulary:
            if len(word) < self.min_length - 1:
                continue
            self._index[word].append(word)
            for deleted in _deletes(word):
                self._index[deleted].append(word)

    def corrections(self, word: str) -> list[str]:
        """Vocabulary words within one edit of ``word``, most frequent first ([] if ``word`` is known)."""
        if len(word) < self.min_length or word in self.vocabulary:
            return []
        found: set[str] = set()
        for key in {word} | _deletes(word):
            for candidate in self._index.get(key, ()):
                if candidate not in found and osa_distance(word, candidate) == 1:
                    found.add(candidate)
        return sorted(found, key=lambda w: (-self.frequency.get(w, 0.0), w))

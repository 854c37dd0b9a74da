"""TF-IDF profiles of videos, performers and studios (scikit-learn), and the neighbour queries.

scikit-learn fits the profiles where the index is built (the worker, the CLI); the saved index
holds plain numpy / scipy data only, so the web processes that load it never import it.

A video's profile is built from weighted fields: title words, and studio / performer /
category names both as single entity tokens (``p:jane_doe``) and as plain words. Repeating a
token is how a field is weighted (term frequency, sublinear). A performer's or studio's
profile is the L2-normalised mean of its videos' profiles.

The index is persisted as one joblib file in ``DATA_DIR/index`` and stamped in the
``index_state`` table, so every process reloads it when a newer build appears.
"""

from __future__ import annotations

import logging
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

log = logging.getLogger(__name__)

# Field weights: how many times each token is repeated in a profile.
WEIGHT_TITLE = 2
WEIGHT_STUDIO = 3
WEIGHT_PERFORMER = 3
WEIGHT_CATEGORY = 2
WEIGHT_NAME_WORDS = 1

STOP_WORDS = frozenset(
    "a an and are as at be by for from has he in is it its of on or that the to was were will with "
    "vs feat ft part pt vol ep episode scene video clip mp4 mkv".split()
)
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower-case and strip accents ("Émile" -> "emile")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str | None) -> list[str]:
    """Searchable words of ``text``: folded, no stop words, no bare numbers, at least 2 letters."""
    if not text:
        return []
    return [w for w in _WORD.findall(fold(text)) if len(w) > 1 and not w.isdigit() and w not in STOP_WORDS]


def entity(prefix: str, name: str) -> str:
    """A whole name as one token: ``entity("p", "Jane Doe") == "p:jane_doe"``."""
    return prefix + ":" + "_".join(_WORD.findall(fold(name)))


def profile_tokens(title: str, studio: str | None, performers: Sequence[str], categories: Sequence[str]) -> list[str]:
    """The weighted token list of one video."""
    tokens = words(title) * WEIGHT_TITLE
    if studio:
        tokens += [entity("s", studio)] * WEIGHT_STUDIO + words(studio) * WEIGHT_NAME_WORDS
    for name in performers:
        tokens += [entity("p", name)] * WEIGHT_PERFORMER + words(name) * WEIGHT_NAME_WORDS
    for name in categories:
        tokens += [entity("c", name)] * WEIGHT_CATEGORY + words(name) * WEIGHT_NAME_WORDS
    return tokens


def _identity(tokens: list[str]) -> list[str]:
    return tokens


@dataclass
class FittedTerms:
    """What a fitted ``TfidfVectorizer`` knows that the queries need, as plain data: the term
    columns, their idf and how term frequencies are weighted and rows normalised (the same
    attribute names as sklearn's). The index keeps this instead of the vectorizer, so loading
    it needs numpy and scipy only: importing scikit-learn costs every web worker ~70 MB."""

    vocabulary_: dict[str, int]
    idf_: np.ndarray
    sublinear_tf: bool
    use_idf: bool
    norm: str | None
    dtype: Any  # of the rows (np.float32)

    @classmethod
    def of(cls, vectorizer: Any) -> "FittedTerms":
        """From a fitted ``TfidfVectorizer``."""
        v = vectorizer
        return cls(dict(v.vocabulary_), np.asarray(v.idf_), bool(v.sublinear_tf), bool(v.use_idf), v.norm, np.dtype(v.dtype).type)


@dataclass
class SimilarityIndex:
    """Everything the search and similarity endpoints need, loaded in memory."""

    hashes: list[str]
    position: dict[str, int]
    vectorizer: FittedTerms  # (a TfidfVectorizer in indexes saved before FittedTerms: they still load)
    matrix: Any  # CSR, one L2-normalised row per video
    matrix_t: Any  # CSR of the transpose: term -> videos, for fast neighbour scoring
    tie_rank: np.ndarray  # rank of each row's hash in sorted order, for stable tie-breaking
    groups: dict[str, "GroupProfiles"]
    built_version: int
    built_at: str
    vocabulary_words: list[str]

    # -- queries ------------------------------------------------------------------------
    def rows_of(self, hash_ints: np.ndarray) -> np.ndarray | None:
        """A boolean per row: is its hash among ``hash_ints`` (hashes as 64-bit integers)?
        None when some indexed hash is not 16 hex digits. Kept for the last array asked about."""
        cached = getattr(self, "_rows_of", None)
        if cached is not None and cached[0] is hash_ints:
            return cached[1]
        own = getattr(self, "_hash_ints", False)
        if own is False:
            from vidlib.library.videos import hash_int

            try:
                own = np.fromiter((hash_int(h) for h in self.hashes), dtype=np.uint64, count=len(self.hashes))
            except ValueError:
                own = None
            self._hash_ints = own
        if own is None:
            return None
        # np.isin sorts both arrays together (a few MB of temporaries); a sorted copy of the
        # visible hashes and a binary search per indexed hash need less.
        ordered = np.sort(hash_ints)
        places = np.searchsorted(ordered, own)
        places[places == len(ordered)] = 0
        mask = ordered[places] == own if len(ordered) else np.zeros(len(own), dtype=bool)
        del ordered, places
        self._rows_of = (hash_ints, mask)
        return mask

    def query_vector(self, text: str):
        """The L2-normalised TF-IDF vector of free text (plain words only).

        The same vector as ``self.vectorizer.transform([words(text)])``, built directly: for a
        query of a few words sklearn's input validation costs ~0.7 ms, more than the rest of
        the rerank (tests/test_search.py checks the two agree).
        """
        from scipy import sparse

        vec = self.vectorizer
        counts: dict[int, int] = {}
        for token in words(text):
            col = vec.vocabulary_.get(token)
            if col is not None:
                counts[col] = counts.get(col, 0) + 1
        cols = sorted(counts)
        tf = np.array([counts[c] for c in cols], dtype=np.float64)
        if vec.sublinear_tf:
            tf = np.log(tf) + 1.0
        values = tf * vec.idf_[cols] if vec.use_idf and cols else tf
        if vec.norm == "l2" and values.size:
            values = values / np.sqrt(np.dot(values, values))
        elif vec.norm == "l1" and values.size:
            values = values / np.abs(values).sum()
        return sparse.csr_matrix((values.astype(vec.dtype), cols, [0, len(cols)]), shape=(1, len(vec.vocabulary_)))

    def scores_for(self, hashes: Sequence[str], query_vec) -> dict[str, float]:
        """Cosine between ``query_vec`` and each known hash's profile.

        A query has a few terms: each term's postings (its row of ``matrix_t``: the videos
        that have it, in row order, and their weights) are looked up for the candidates by
        binary search, instead of slicing the candidates' rows out of ``matrix`` (scipy's
        fancy indexing and product: ~0.26 ms for 500 candidates; this 0.09 ms for a one-word
        query, 0.19 for three words, at 100,000 videos).
        """
        if query_vec.nnz == 0:
            return {}
        position = self.position
        known = [h for h in hashes if h in position]
        if not known:
            return {}
        rows = np.fromiter((position[h] for h in known), dtype=np.int64, count=len(known))
        postings = self.matrix_t
        if not getattr(self, "_postings_sorted", False):
            postings.sort_indices()  # canonical CSR (a no-op when the build made it so)
            self._postings_sorted = True
        values = np.zeros(len(known), dtype=np.float64)
        for term, weight in zip(query_vec.indices.tolist(), query_vec.data.tolist()):
            start, end = postings.indptr[term], postings.indptr[term + 1]
            if start == end:
                continue
            videos = postings.indices[start:end]
            places = np.searchsorted(videos, rows)
            np.minimum(places, end - start - 1, out=places)
            found = videos[places] == rows
            values += np.where(found, postings.data[start:end][places], 0.0) * weight
        return dict(zip(known, values.tolist()))

    def neighbours(self, video_hash: str, want: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Up to ``want`` most similar videos, best first; ties broken by hash (stable paging).

        ``allowed``: a boolean per row; rows that are False are never returned.
        """
        row = self.position.get(video_hash)
        if row is None:
            return []
        scores = self.matrix[row] @ self.matrix_t  # 1 x n sparse: only videos sharing a term
        idx, vals = scores.indices, scores.data
        keep = (idx != row) & (vals > 1e-9)
        if allowed is not None:
            keep &= allowed[idx]
        idx, vals = idx[keep], vals[keep]
        if len(idx) > want:
            # Everything scoring at least the want-th best (ties included), then an exact sort.
            threshold = np.partition(vals, len(vals) - want)[len(vals) - want]
            mask = vals >= threshold
            idx, vals = idx[mask], vals[mask]
        order = np.lexsort((self.tie_rank[idx], -np.round(vals, 6)))[:want]
        return [(self.hashes[i], float(vals[o])) for o, i in zip(order, idx[order])]


@dataclass
class GroupProfiles:
    """Profiles of performers or studios: normalised mean of their videos' rows."""

    names: list[str]
    position: dict[str, int]  # folded name -> row
    matrix: Any

    def similar(self, name: str, want: int) -> list[tuple[str, float]] | None:
        row = self.position.get(fold(name))
        if row is None:
            return None
        scores = self.matrix @ self.matrix[row].toarray().ravel()  # a dense product: much cheaper than sparse @ sparse
        scores[row] = -1.0
        candidates = np.flatnonzero(scores > 1e-9)
        if 0 < want < len(candidates):
            # Only names scoring within rounding distance of the want-th best can make the cut
            # (ties included); sorting just those by the exact key gives the same answer.
            threshold = np.partition(scores[candidates], len(candidates) - want)[len(candidates) - want]
            candidates = candidates[scores[candidates] >= threshold - 1e-6]
        order = sorted(candidates, key=lambda i: (-round(float(scores[i]), 6), fold(self.names[i])))[:want]
        return [(self.names[i], float(scores[i])) for i in order]


def _group_profiles(pairs: list[tuple[int, str]], matrix) -> GroupProfiles:
    """Profiles for names given as (video row, name) pairs; names compare case/accent-folded."""
    from scipy import sparse
    from sklearn.preprocessing import normalize

    display: dict[str, str] = {}
    for _, name in pairs:
        display.setdefault(fold(name), name)
    key_index = {k: i for i, k in enumerate(display)}
    rows = [key_index[fold(name)] for _, name in pairs]
    cols = [video_row for video_row, _ in pairs]
    membership = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(display), matrix.shape[0]))
    profiles = membership @ matrix
    if profiles.shape[0]:  # sklearn refuses an empty matrix (a library with no performers or studios)
        profiles = normalize(profiles, norm="l2", copy=False)
    profiles = profiles.tocsr()
    return GroupProfiles(names=list(display.values()), position=key_index, matrix=profiles)


def fit_vectorizer(videos: list[dict[str, Any]], max_df: float = 0.5) -> tuple[Any, Any]:
    """The fitted ``TfidfVectorizer`` and the profile matrix (CSR) of ``videos``, in the order
    given (dicts with title, studio, performers, categories)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    # Profiles are made one at a time as the vectorizer counts them: a list of every profile's
    # tokens would be ~100 MB more at the peak of a 100,000-video build.
    docs = (profile_tokens(v["title"], v.get("studio"), v.get("performers") or [], v.get("categories") or []) for v in videos)
    # max_df drops tokens in most profiles (they say nothing about similarity and make
    # neighbour scoring touch every row); only applied on libraries big enough for it to mean that.
    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, dtype=np.float32, max_df=max_df if len(videos) >= 50 else 1.0)
    try:
        matrix = vectorizer.fit_transform(docs).tocsr()
        vectorizer.stop_words_ = None  # the terms max_df dropped: introspection only (sklearn's advice)
    except ValueError:  # no profile has a token: an empty library, or nothing but punctuation
        vectorizer = TfidfVectorizer(analyzer=_identity, dtype=np.float32)
        vectorizer.fit([["empty"]])
        from scipy import sparse

        matrix = sparse.csr_matrix((len(videos), 1), dtype=np.float32)
    return vectorizer, matrix


def build_index(videos: list[dict[str, Any]], built_version: int, max_df: float = 0.5) -> SimilarityIndex:
    """Fit the vectorizer on ``videos`` (dicts with hash, title, studio, performers, categories)."""
    started = time.perf_counter()
    videos = sorted(videos, key=lambda v: v["hash"])
    vectorizer, matrix = fit_vectorizer(videos, max_df)
    hashes = [v["hash"] for v in videos]
    pairs_perf = [(i, name) for i, v in enumerate(videos) for name in (v.get("performers") or [])]
    pairs_studio = [(i, v["studio"]) for i, v in enumerate(videos) if v.get("studio")]
    index = SimilarityIndex(
        hashes=hashes,
        position={h: i for i, h in enumerate(hashes)},
        vectorizer=FittedTerms.of(vectorizer),
        matrix=matrix,
        matrix_t=matrix.T.tocsr(),
        tie_rank=np.arange(len(hashes)),
        groups={"performers": _group_profiles(pairs_perf, matrix), "studios": _group_profiles(pairs_studio, matrix)},
        built_version=built_version,
        built_at="",
        vocabulary_words=sorted(t for t in vectorizer.vocabulary_ if ":" not in t),
    )
    log.info("similarity index: %d videos, %d terms, built in %.2f s", len(hashes), matrix.shape[1], time.perf_counter() - started)
    return index


def save_index(index: SimilarityIndex, path: str) -> None:
    """Write the index atomically (temp file, then rename)."""
    import joblib

    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    joblib.dump(index, tmp)
    os.replace(tmp, path)


def load_index(path: str) -> SimilarityIndex:
    import joblib

    index = joblib.load(path)
    if not isinstance(index.vectorizer, FittedTerms):  # saved before FittedTerms (scikit-learn loaded it)
        index.vectorizer = FittedTerms.of(index.vectorizer)
    return index

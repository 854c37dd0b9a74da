"""The ``search`` blueprint: keyword search, autocomplete, similar videos / performers / studios."""

from __future__ import annotations

import logging

from flask import request
from flask.views import MethodView

from vidlib import jobs, state
from vidlib.cache import cached_get
from vidlib.errors import NotFound, VidlibError, abort_for
from vidlib.filters import visible_sql
from vidlib.routes import Blueprint, check_hash, page_size
from vidlib.schemas import (
    AutocompleteArgsSchema,
    SearchArgsSchema,
    SearchResultSchema,
    SimilarNamesArgsSchema,
    SimilarNamesSchema,
    SimilarVideosSchema,
    SuggestionSchema,
)
from vidlib.search import engine, similar

log = logging.getLogger(__name__)

blp = Blueprint("search", __name__, url_prefix="/search", description="Keyword search and similarity")


def _index():
    """The loaded similarity index; 503 (and a rebuild queued) when none was built yet."""
    st = state.current()
    index = st.similarity
    if index is None:
        try:
            jobs.enqueue_index_rebuild(delay=0)
        except jobs.QueueUnavailable:
            pass
        abort_for(VidlibError("the similarity index has not been built yet; try again shortly", status=503))
    return index


@blp.route("/search-videos")
class SearchVideos(MethodView):
    # Pages without search words (newest, A-Z, favourites, a performer's page) are the same
    # for every visitor until the library changes.
    @cached_get(when=lambda: not request.args.get("q", "").strip())
    @blp.arguments(SearchArgsSchema, location="query")
    @blp.response(200, SearchResultSchema)
    def get(self, args):
        """Keyword search with filters, sort, pagination and optional facets"""
        st = state.current()
        req = engine.SearchRequest(
            q=args["q"],
            raw=args["raw"],
            studios=args["studio"],
            performers=args["performer"],
            categories=args["category"],
            favourites=args["favourites"],
            min_duration=args["min_duration"],
            max_duration=args["max_duration"],
            min_height=args["min_height"],
            added_since=args["added_since"].isoformat() if args["added_since"] else None,
            sort=args["sort"],
            seed=args["seed"],
            page=args["page"],
            per_page=page_size(args["per_page"]),
            facets=args["facets"],
        )
        try:
            return engine.search(st.db, st.config, st.similarity, req)
        except VidlibError as exc:
            abort_for(exc)


@blp.route("/autocomplete")
class Autocomplete(MethodView):
    @blp.arguments(AutocompleteArgsSchema, location="query")
    @blp.response(200, SuggestionSchema(many=True))
    def get(self, args):
        """Suggestions for the search box: performers, studios, categories and titles"""
        return engine.autocomplete(state.current().db, args["q"], args["limit"])


def _int_arg(value: str, name: str, minimum: int, maximum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:
        abort_for(VidlibError(f"{name} must be an integer from {minimum} to {maximum}"))
    return number


@blp.route("/get-similar-videos/<video_hash>/<start_from>/<limit>")
class SimilarVideos(MethodView):
    @blp.response(200, SimilarVideosSchema)
    def get(self, video_hash, start_from, limit):
        """Videos most similar to this one (TF-IDF cosine), paged by start_from and limit"""
        from flask import current_app

        check_hash(video_hash)
        start = _int_arg(start_from, "start_from", 0, 100_000)
        count = _int_arg(limit, "limit", 1, current_app.config["MAX_PAGE_SIZE"])
        db = state.current().db
        if not db.execute(f"SELECT 1 FROM videos v WHERE v.hash = ? AND {visible_sql('v')}", [video_hash]).fetchone():
            abort_for(NotFound(f"no video with hash {video_hash}"))
        return similar.similar_videos(db, _index(), video_hash, start, count)


def _similar_names(kind: str, name: str, limit: int) -> dict:
    try:
        return similar.similar_names(state.current().db, _index(), kind, name, limit)
    except NotFound as exc:
        abort_for(exc)


@blp.route("/get-similar-performers/<path:performer>")
class SimilarPerformers(MethodView):
    @blp.arguments(SimilarNamesArgsSchema, location="query")
    @blp.response(200, SimilarNamesSchema)
    def get(self, args, performer):
        """Performers whose videos are most alike (cosine of mean profiles)"""
        return _similar_names("performers", performer, args["limit"])


@blp.route("/get-similar-studios/<path:studio>")
class SimilarStudios(MethodView):
    @blp.arguments(SimilarNamesArgsSchema, location="query")
    @blp.response(200, SimilarNamesSchema)
    def get(self, args, studio):
        """Studios whose videos are most alike (cosine of mean profiles)"""
        return _similar_names("studios", studio, args["limit"])

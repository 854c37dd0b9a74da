/** The search page's state, read from and written to the URL so every search can be bookmarked. */
import type { SearchQuery } from "$lib/api";

export const DURATIONS = [
  { id: "short", label: "Under 10 min", min: null, max: 600 },
  { id: "medium", label: "10–30 min", min: 600, max: 1800 },
  { id: "long", label: "30–60 min", min: 1800, max: 3600 },
  { id: "feature", label: "Over 1 h", min: 3600, max: null },
] as const;

const SORTS = ["relevance", "newest", "oldest", "longest", "shortest", "title", "random"];

export interface SearchState {
  q: string;
  studio: string[];
  performer: string[];
  category: string[];
  favourites: boolean;
  duration: string;
  sort: string;
  page: number;
}

export function readState(search: string): SearchState {
  const p = new URLSearchParams(search);
  const sort = p.get("sort") ?? "";
  const duration = p.get("duration") ?? "";
  return {
    q: (p.get("q") ?? "").trim(),
    studio: p.getAll("studio"),
    performer: p.getAll("performer"),
    category: p.getAll("category"),
    favourites: ["1", "true", "yes"].includes(p.get("favourites") ?? ""),
    duration: DURATIONS.some((d) => d.id === duration) ? duration : "",
    sort: SORTS.includes(sort) ? sort : "",
    page: Math.max(1, Math.min(1_000_000, Number(p.get("page")) || 1)),
  };
}

export function toUrl(s: SearchState): string {
  const p = new URLSearchParams();
  if (s.q) p.set("q", s.q);
  for (const v of s.studio) p.append("studio", v);
  for (const v of s.performer) p.append("performer", v);
  for (const v of s.category) p.append("category", v);
  if (s.favourites) p.set("favourites", "1");
  if (s.duration) p.set("duration", s.duration);
  if (s.sort) p.set("sort", s.sort);
  if (s.page > 1) p.set("page", String(s.page));
  const text = p.toString();
  return text ? `/search?${text}` : "/search";
}

export function toQuery(s: SearchState): SearchQuery {
  const d = DURATIONS.find((x) => x.id === s.duration);
  const query: SearchQuery = { q: s.q, page: s.page };
  if (s.studio.length) query.studio = s.studio;
  if (s.performer.length) query.performer = s.performer;
  if (s.category.length) query.category = s.category;
  if (s.favourites) query.favourites = true;
  if (d?.min != null) query.min_duration = d.min;
  if (d?.max != null) query.max_duration = d.max;
  if (s.sort) query.sort = s.sort as SearchQuery["sort"];
  return query;
}

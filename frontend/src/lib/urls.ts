/** The UI's own URLs (clean paths served by vidlib/routes/pages.py). */
export const watchUrl = (hash: string) => `/watch/${hash}`;
export const performerUrl = (name: string) => `/performer/${encodeURIComponent(name)}`;
export const studioUrl = (name: string) => `/studio/${encodeURIComponent(name)}`;
export const categoryUrl = (name: string) => `/search?category=${encodeURIComponent(name)}`;
export const searchUrl = (q: string) => `/search?q=${encodeURIComponent(q)}`;

/** The last path segment after `prefix` (e.g. the performer's name), decoded. */
export function pathParam(prefix: string): string {
  const path = location.pathname;
  const rest = path.startsWith(prefix) ? path.slice(prefix.length) : "";
  try {
    return decodeURIComponent(rest);
  } catch {
    return rest;
  }
}

/** A fresh random seed (a safe integer; the API takes 0 .. 2**63-1). */
export function newSeed(): number {
  return Math.floor(Math.random() * 2 ** 40);
}

/** Fired by the header search box on the search page each time ?q= changes as the user types. */
export const SEARCH_EVENT = "vidlib-search-input";

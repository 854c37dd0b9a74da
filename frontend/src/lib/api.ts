/**
 * The typed API client. Every request and response shape comes from api-types.ts, which is
 * generated from the app's own OpenAPI spec (`npm run gen:api`); nothing here hand-writes one.
 *
 * Admin rules: a request answered 401 (login needed) asks the user for the admin token (the dialog in
 * Shell.svelte), logs in with it (POST /api/login sets an HttpOnly session cookie) and retries once.
 * The page never keeps the token.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./api-types";
import { askForAdminToken, login } from "./admin.svelte";

export type Schemas = components["schemas"];
export type Video = Schemas["Video"];
export type ScoredVideo = Schemas["ScoredVideo"];
export type SearchResult = Schemas["SearchResult"];
export type NameCount = Schemas["NameCount"];
export type Suggestion = Schemas["Suggestion"];
export type MediaStatus = Schemas["MediaStatus"];
export type Folder = Schemas["Folder"];
export type ContentFilter = Schemas["ContentFilter"];
export type SearchQuery = NonNullable<paths["/search/search-videos"]["get"]["parameters"]["query"]>;
export type MediaKind = keyof Schemas["MediaMap"];

export const MEDIA_KINDS: MediaKind[] = ["poster", "preview_thumbnails", "seek_thumbnails", "teaser_small", "teaser_large"];
/** Job kinds with a status row: the preview kinds and the optional pre-transcode (docs/playback.md). */
export type JobKind = NonNullable<Schemas["Generate"]["kinds"]>[number];
export const JOB_KINDS: JobKind[] = [...MEDIA_KINDS, "transcode"];

/** An answer that was not a success: the HTTP status and the API's error message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Schemas["Error"] | null = null,
  ) {
    super(message);
  }

  /** True when the server could not be reached at all (offline, server down). */
  get unreachable(): boolean {
    return this.status === 0;
  }
}

function adminFetch(prompt: boolean) {
  return async (request: Request): Promise<Response> => {
    const spare = request.clone();
    const response = await fetch(request);
    if (response.status !== 401 || !prompt) return response;
    let reason = "This action needs the admin token.";
    for (;;) {
      const token = await askForAdminToken(reason);
      if (!token) return response;
      if (await login(token)) return fetch(spare);
      reason = "That admin token was not accepted.";
    }
  };
}

/** The client: asks for the admin token when the server wants one. */
export const api = createClient<paths>({ baseUrl: "", fetch: adminFetch(true) });
/** The same client that never asks (background calls such as prioritising a video's media). */
export const quietApi = createClient<paths>({ baseUrl: "", fetch: adminFetch(false) });

type Outcome<T> = { data?: T; error?: unknown; response: Response };

/** The data of a successful call; throws ApiError (status 0 when the server is unreachable). */
export async function ok<T>(call: Promise<Outcome<T>>): Promise<T> {
  let outcome: Outcome<T>;
  try {
    outcome = await call;
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, navigator.onLine ? "The server could not be reached." : "You are offline.");
  }
  const { data, error, response } = outcome;
  if (response.ok) return data as T;
  const body = (error && typeof error === "object" ? error : null) as Schemas["Error"] | null;
  throw new ApiError(response.status, body?.message || `${response.status} ${response.statusText}`, body);
}

/** True for an AbortError (a superseded request); such errors are ignored, not shown. */
export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}

/** The validation messages of a 400 answer, flattened ("path: must be absolute"). */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

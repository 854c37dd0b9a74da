/**
 * The dashboard login. The admin token is sent once, to POST /api/login, which answers with an
 * HttpOnly, SameSite=Strict session cookie: the browser sends it with every same-site request
 * and no script (this page's or an injected one) can read it. The token is never stored here.
 */
import createClient from "openapi-fetch";
import type { paths } from "./api-types";

const auth = createClient<paths>({ baseUrl: "" });

// Older builds kept the token itself in localStorage: forget it.
try {
  localStorage.removeItem("vidlib.adminToken");
} catch {
  /* storage unavailable */
}

/** How this browser is allowed to administer: "cookie" (logged in), "loopback", "token", or null. */
export const adminSession = $state({ via: null as string | null });

/** Ask the server how this browser may administer (after a reload, the cookie is invisible to scripts). */
export async function refreshSession(): Promise<void> {
  await askSession();
}

async function askSession(): Promise<boolean> {
  const { data } = await auth.GET("/api/session");
  adminSession.via = data?.via ?? null;
  return Boolean(data?.admin);
}

let askedOnce: Promise<boolean> | null = null;

/** Whether this browser may administer (asked once per page load): background calls that
 * need it (prioritising a video's media) are made only then, not sent to be refused. */
export function mayAdminister(): Promise<boolean> {
  askedOnce ??= askSession().catch(() => false);
  return askedOnce;
}

/** Log in with the admin token; true when the server accepted it (the cookie is then set). */
export async function login(token: string): Promise<boolean> {
  const { response } = await auth.POST("/api/login", { body: { token } });
  if (response.ok) adminSession.via = "cookie";
  return response.ok;
}

/** Log out: the server clears the session cookie. */
export async function logout(): Promise<void> {
  await auth.POST("/api/logout");
  adminSession.via = null;
}

/** What the token dialog shows; `resolve` answers the pending askForAdminToken calls. */
export const tokenPrompt = $state({ open: false, reason: "", waiting: [] as ((token: string | null) => void)[] });

/** Ask the user for the admin token (one dialog for every request waiting on it). */
export function askForAdminToken(reason: string): Promise<string | null> {
  return new Promise((resolve) => {
    tokenPrompt.waiting.push(resolve);
    tokenPrompt.reason = reason;
    tokenPrompt.open = true;
  });
}

/** Called by the dialog: release the waiting calls with the token (or null when cancelled). */
export function answerTokenPrompt(token: string | null): void {
  const waiting = tokenPrompt.waiting.splice(0);
  tokenPrompt.open = false;
  for (const resolve of waiting) resolve(token);
}

/** The admin token: kept in localStorage, asked for by the dialog in Shell.svelte when needed. */
const KEY = "vidlib.adminToken";

function read(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export const adminToken = $state({ value: read() });

/** Keep (or forget, with null) the admin token. */
export function setAdminToken(token: string | null): void {
  adminToken.value = token;
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch {
    /* private mode: keep it for this page only */
  }
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

/** Called by the dialog: store the token (or null when cancelled) and release the waiting calls. */
export function answerTokenPrompt(token: string | null): void {
  if (token) setAdminToken(token);
  const waiting = tokenPrompt.waiting.splice(0);
  tokenPrompt.open = false;
  for (const resolve of waiting) resolve(token);
}

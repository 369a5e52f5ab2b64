/** The signed-in token as pages see it, and the one wrapper every page's API call goes through. */
import { ApiError, explain } from '../api/graphql-client.js';
import type { Viewer } from '../api/operations.js';

export interface Auth {
  token: string;
  viewer: Viewer;
  /** Called on any 401: the token was revoked or expired while signed in. */
  signOut(notice?: string): void;
}

/** Runs an API call for a page; a 401 signs out with the reason, anything else is returned as text. */
export async function guarded<T>(
  auth: Auth,
  run: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: string; code: string }> {
  try {
    return { ok: true, value: await run() };
  } catch (e) {
    if (e instanceof ApiError && e.code === 'UNAUTHENTICATED') auth.signOut(explain(e));
    return { ok: false, error: explain(e), code: e instanceof ApiError ? e.code : 'INTERNAL' };
  }
}

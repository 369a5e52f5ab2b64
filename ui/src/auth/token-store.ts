/**
 * Where the signed-in token lives: sessionStorage only, so it is gone when the tab closes and never
 * written to disk by the console or sent anywhere but /graphql.
 */
const KEY = 'switchboard.token';

export function loadToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}

/** The API's scope rule, mirrored so the console hides what a token may not do (the API still decides). */
export type Ability = 'sessions:read' | 'sessions:disconnect' | 'audit:read' | 'admin';

/** `admin` implies every scope; `sessions:disconnect` implies `sessions:read`. */
export function can(scopes: readonly string[], needed: Ability): boolean {
  if (scopes.includes('admin') || scopes.includes(needed)) return true;
  return needed === 'sessions:read' && scopes.includes('sessions:disconnect');
}

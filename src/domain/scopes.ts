export const SCOPES = ['admin', 'sessions:read', 'sessions:disconnect', 'audit:read'] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** `admin` implies every scope; `sessions:disconnect` implies `sessions:read`. */
export function hasScope(granted: readonly Scope[], needed: Scope): boolean {
  if (granted.includes('admin') || granted.includes(needed)) return true;
  return needed === 'sessions:read' && granted.includes('sessions:disconnect');
}

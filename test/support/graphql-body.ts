/** A GraphQL response body without `locations`, re-serialised: equal strings mean equal content and key order. */
export function withoutLocations(json: unknown): string {
  return JSON.stringify(json, (key, value: unknown) => (key === 'locations' ? undefined : value));
}

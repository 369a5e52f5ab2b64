import { defaultUiDir } from '../api/static-files.js';

/** The line `start` and `demo` print about the operator console: where it is, or that it is not built. */
export function consoleLine(baseUrl: string): string {
  return defaultUiDir() === null
    ? 'Operator console: not built (run `npm run build`, then restart); the API works without it'
    : `Operator console: ${baseUrl}/ (sign in with an API token)`;
}

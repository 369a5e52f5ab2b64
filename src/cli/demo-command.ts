import { UsageError } from './usage-error.js';

export async function runDemo(_args: string[]): Promise<number> {
  throw new UsageError('demo is not available yet');
}

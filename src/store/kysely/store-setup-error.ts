/**
 * The store cannot be opened or prepared as configured (schema not migrated and not ours to migrate,
 * a runtime role that cannot be granted, …). Its message is one line that names the setting and the
 * fix; the CLI prints it without a stack and exits 1.
 */
export class StoreSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreSetupError';
  }
}

/** A setting's value is invalid in itself: the message is one line that starts with the setting's name. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

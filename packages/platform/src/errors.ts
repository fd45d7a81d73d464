/**
 * One error vocabulary for Badgestream. Callers decide by type and by `retriable`,
 * never by parsing messages.
 */
export class BadgestreamError extends Error {
  readonly retriable: boolean;
  readonly code: string;

  constructor(message: string, options: { code: string; retriable?: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retriable = options.retriable ?? false;
  }
}

/** Configuration is missing or malformed; the process should not start. */
export class ConfigError extends BadgestreamError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`, { code: 'CONFIG_INVALID' });
    this.problems = problems;
  }
}

/** A dependency (Kafka, the schema registry, MongoDB) cannot be reached right now. */
export class UnavailableError extends BadgestreamError {
  readonly dependency: string;
  constructor(dependency: string, message: string, cause?: unknown) {
    super(message, { code: 'DEPENDENCY_UNAVAILABLE', retriable: true, cause });
    this.dependency = dependency;
  }
}

export class NotFoundError extends BadgestreamError {
  constructor(message: string) {
    super(message, { code: 'NOT_FOUND' });
  }
}

export class ConflictError extends BadgestreamError {
  constructor(message: string) {
    super(message, { code: 'CONFLICT' });
  }
}

/** Input from a user or an operator is invalid; the message says what and where. */
export class InvalidInputError extends BadgestreamError {
  constructor(message: string) {
    super(message, { code: 'INVALID_INPUT' });
  }
}

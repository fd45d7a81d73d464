export * from './problems.js';
export * from './structure.js';
export * from './contexts.js';
export * from './learner.js';
export * from './envelope.js';
export * from './authorization.js';
export * from './schema-validation.js';
export * from './reporting-extension.js';

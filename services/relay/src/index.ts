export * from './config.js';
export * from './server.js';
export * from './badge-metadata.js';
export * from './circuit-breaker.js';
export * from './deliveries.js';
export * from './intake.js';

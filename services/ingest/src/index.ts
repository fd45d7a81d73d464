export * from './config.js';
export * from './app.js';
export * from './auth.js';
export * from './ingest-service.js';
export * from './metrics.js';
export * from './problem.js';
export * from './server.js';

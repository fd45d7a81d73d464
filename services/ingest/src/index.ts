export * from './config.js';
export * from './app.js';
export * from './ingest-service.js';
export * from './metrics.js';
export * from './server.js';

export * from './config.js';
export * from './server.js';
export * from './processor.js';
export * from './dispatcher.js';
export * from './badge-events.js';
export * from './active-criteria.js';
export * from './progress-routes.js';

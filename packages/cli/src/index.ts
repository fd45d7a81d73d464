export { buildProgram, main } from './main.js';
export { startBadgestream, banner, type RunningBadgestream } from './start.js';

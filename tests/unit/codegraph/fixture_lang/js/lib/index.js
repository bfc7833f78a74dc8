export * from './util.js';
export { default as greet } from './greet.js';

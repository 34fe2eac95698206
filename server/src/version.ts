// The version the build stamps in (esbuild's `define`), or "dev" when run unbundled.
declare const GAPO_VERSION: string | undefined;
export const version: string = typeof GAPO_VERSION === 'string' ? GAPO_VERSION : 'dev';

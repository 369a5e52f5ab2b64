/** See ensure-build.mjs: makes dist/ current in a source checkout; false when it could not be built. */
export function ensureBuild(options?: { ui?: boolean; force?: boolean }): boolean;

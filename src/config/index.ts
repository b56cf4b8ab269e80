/** The config module's public API: load once at start, pass the frozen Config down. */
export { EMBEDDED_DEFAULT_CONFIG_PATH, type LoadConfigOptions, loadConfig } from "./load.js";
export { envName, FIELDS, type FieldSpec, type Role, SOURCES_ENV } from "./schema.js";
export type * from "./types.js";
export { type ValidateInput, validateConfig } from "./validate.js";

/**
 * The shape of a config key in the schema table (schema.ts): its type with
 * the range checks that belong to it, its default, and the roles that need it.
 */
import type { Role, Section } from "./schema.js";

/** The type of a key, with the range checks that belong to the type. */
export type FieldType =
  | { readonly kind: "string" }
  | { readonly kind: "int"; readonly min: number; readonly max: number }
  | { readonly kind: "bool" }
  /** Milliseconds; `max` is MAX_TIMER_MS for values that feed a timer. */
  | { readonly kind: "duration"; readonly min: number; readonly max?: number }
  | {
      readonly kind: "size";
      readonly min: number;
      readonly max?: number;
      readonly powerOfTwo?: boolean;
    }
  /** A filesystem path, resolved to an absolute path at load time. */
  | { readonly kind: "path" }
  | { readonly kind: "list<string>" }
  | { readonly kind: "list<path>" }
  /** A command as an argv array (no shell), non-empty; env spells it as a JSON array. */
  | { readonly kind: "argv" }
  /** A command: an argv array, or the name of one in drills.verifyCommands. */
  | { readonly kind: "argv|name" }
  /** A mapping of names ([a-z0-9_-]+) to argv arrays; env spells it as a JSON object. */
  | { readonly kind: "map<argv>" }
  | { readonly kind: "enum"; readonly values: readonly string[] }
  /** `host:port`, split into api.host / api.port. */
  | { readonly kind: "listen" }
  /** An http:// or https:// base URL. */
  | { readonly kind: "url" };

/** One config key. */
export interface FieldSpec {
  readonly section: Section;
  /** Key inside the section; nested keys are dotted (`hooks.timeout`). */
  readonly key: string;
  readonly type: FieldType;
  /** Default as a user would write it in YAML; null means "none" (or "required"). */
  readonly default: string | number | boolean | null | readonly string[];
  /** Whether an explicit YAML `null` is allowed (optional files and commands). */
  readonly nullable?: boolean;
  /** Roles that must set it, or "section": required whenever its (optional) section is present. */
  readonly required?: readonly Role[] | "section";
  /** One line for humans: shown in docs and the commented default config. */
  readonly doc: string;
}

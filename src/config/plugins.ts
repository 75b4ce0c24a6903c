/**
 * Entries of `plugins`: built-in names (in the seed's dotted spelling too), module paths and URLs,
 * and, from embedders, plugin objects.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Plugin } from "../plugins/types.ts";
import { closest } from "./suggest.ts";

/** The names of the built-in plugins, as `plugins` writes them. */
export const BUILTIN_PLUGIN_NAMES: readonly string[] = [
  "auth_anonymous",
  "auth_file",
  "topic_acl",
  "topic_taboo",
  "broker_sys",
];

/**
 * The built-in name `name` spells (the seed writes `auth.anonymous` for `auth_anonymous`), or
 * undefined when it names no built-in.
 */
export function builtinName(name: string): string | undefined {
  const underscored = name.replaceAll(".", "_");
  return BUILTIN_PLUGIN_NAMES.includes(underscored) ? underscored : undefined;
}

const URL_SCHEME = /^(?:file|https?|data|npm|jsr|node):/i;
const MODULE_FILE = /\.(?:[cm]?[jt]s|tsx|jsx)$/;

/** Whether a `plugins` string is a module to import rather than a plugin name. */
export function isModuleSpecifier(spec: string): boolean {
  return URL_SCHEME.test(spec) || spec.startsWith("./") || spec.startsWith("../") ||
    isAbsolute(spec) || /^[A-Za-z]:[\\/]/.test(spec) || MODULE_FILE.test(spec);
}

/**
 * A module specifier as the plugin loader imports it: paths become absolute `file:` URLs
 * (relative ones against `baseDir`, the configuration file's folder); URLs are kept.
 */
export function moduleUrl(spec: string, baseDir: string): string {
  if (URL_SCHEME.test(spec)) return spec;
  return pathToFileURL(resolve(baseDir, spec)).href;
}

/** Why a `plugins` string is neither a built-in name nor a module, or undefined when it is fine. */
export function pluginSpecError(spec: string): string | undefined {
  if (builtinName(spec) !== undefined || isModuleSpecifier(spec)) return undefined;
  const guess = closest(spec, BUILTIN_PLUGIN_NAMES);
  const builtins = `built-ins: ${BUILTIN_PLUGIN_NAMES.join(", ")}`;
  return guess === undefined
    ? `${builtins}; write a module path as ./${spec}.ts`
    : `did you mean ${guess}? ${builtins}`;
}

/** Whether a value is a plugin object: an object with a non-empty string `name`. */
export function isPluginObject(value: unknown): value is Plugin {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    typeof (value as { name?: unknown }).name === "string" &&
    (value as { name: string }).name !== "";
}

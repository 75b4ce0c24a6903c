/**
 * The built-in plugins by name.
 *
 * @module
 */
import type { ResolvedConfig } from "../../config/types.ts";
import type { Plugin } from "../types.ts";
import { authAnonymous } from "./auth_anonymous.ts";
import { authFile } from "./auth_file.ts";
import { topicAcl } from "./topic_acl.ts";
import { topicTaboo } from "./topic_taboo.ts";

export { authAnonymous } from "./auth_anonymous.ts";
export { authFile, type AuthFilePlugin } from "./auth_file.ts";
export { topicAcl } from "./topic_acl.ts";
export { filtersOverlap, topicTaboo } from "./topic_taboo.ts";

/** Makes a plugin from the resolved configuration. */
export type PluginFactory = (config: ResolvedConfig) => Plugin | Promise<Plugin>;

/** The built-in plugins, by the names the configuration uses. */
export const BUILTIN_PLUGINS: Readonly<Record<string, PluginFactory>> = {
  auth_anonymous: authAnonymous,
  auth_file: authFile,
  topic_acl: topicAcl,
  topic_taboo: topicTaboo,
};

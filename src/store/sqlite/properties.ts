/**
 * MQTT 5 properties as JSON text for a store column; correlation data is bytes, which JSON has
 * not, so it goes as an array of numbers under a marker key.
 *
 * @module
 */
import type { Properties } from "../../protocol/properties.ts";

const BYTES = "$bytes";

/** JSON text for `properties`, or null for none. */
export function propertiesToJson(properties: Properties | undefined): string | null {
  if (!properties) return null;
  return JSON.stringify(
    properties,
    (_key, value) => value instanceof Uint8Array ? { [BYTES]: [...value] } : value,
  );
}

/** The properties that {@link propertiesToJson} wrote. */
export function propertiesFromJson(text: unknown): Properties | undefined {
  if (typeof text !== "string") return undefined;
  // The reviver costs a call per value: most properties have no bytes to revive.
  if (!text.includes(BYTES)) return JSON.parse(text);
  return JSON.parse(text, (_key, value) => {
    if (value && typeof value === "object" && Array.isArray(value[BYTES])) {
      return new Uint8Array(value[BYTES]);
    }
    return value;
  });
}

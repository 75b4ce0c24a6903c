/**
 * Password hashing and password files, for `auth_file` and `broker passwd`.
 *
 * @module
 */
export {
  decoyHash,
  type HashOptions,
  hashPassword,
  hashScheme,
  hashShape,
  type HashVerifier,
  hashVerifier,
  type PasswordScheme,
  verifyPassword,
} from "./hash.ts";
export { parsePasswordFile, PasswordFileError } from "./file.ts";
export { MOSQUITTO_DEFAULT_ITERATIONS } from "./mosquitto.ts";
export { shaCrypt } from "./sha_crypt.ts";

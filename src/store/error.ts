/**
 * A store that cannot be opened: the message names the file and what to do about it.
 *
 * @module
 */

/** Why a store could not be opened or written; `damaged` says it can be moved aside. */
export class StoreError extends Error {
  constructor(message: string, readonly file: string, readonly damaged = false) {
    super(message);
    this.name = "StoreError";
  }
}

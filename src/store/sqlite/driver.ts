/// <reference path="./node_sqlite.d.ts" />
/**
 * `node:sqlite`, with the declarations of the part the store uses for type checkers whose Node
 * types predate it.
 *
 * @module
 */
export {
  DatabaseSync,
  type SQLInputValue,
  type SQLOutputValue,
  type StatementSync,
} from "node:sqlite";

// The part of `node:sqlite` the store uses: the @types/node in use predates the module (Node
// 22.13 has it; Deno and Bun bring their own types).
declare module "node:sqlite" {
  type SQLInputValue = null | number | bigint | string | Uint8Array;
  type SQLOutputValue = null | number | bigint | string | Uint8Array;
  interface StatementSync {
    run(...params: SQLInputValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
    get(...params: SQLInputValue[]): Record<string, SQLOutputValue> | undefined;
    all(...params: SQLInputValue[]): Record<string, SQLOutputValue>[];
    /** Node 22.16 and later, Deno, Bun. */
    setReturnArrays?(enabled: boolean): void;
  }
  class DatabaseSync {
    constructor(path: string, options?: { open?: boolean; readOnly?: boolean });
    exec(sql: string): void;
    prepare(sql: string): StatementSync;
    close(): void;
    readonly isOpen: boolean;
  }
  export { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync };
}

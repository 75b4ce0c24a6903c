/**
 * Reading the files a configuration names, once each, with errors that say which key and path.
 *
 * @module
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

const REASONS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "it is a folder",
  ENOTDIR: "a parent is not a folder",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "the name is too long",
};

/** Why a file operation failed, in words a user acts on, with the system's code. */
export function describeFsError(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string") return `${REASONS[code] ?? "failed"} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** A file's text, or why it could not be read. */
export type ReadResult = { text: string; error?: undefined } | { text?: undefined; error: string };

/**
 * Reads text files by absolute path, each at most once: listeners that inherit the same `certfile`
 * from `default` share one read (and one error).
 */
export class FileReader {
  readonly #cache = new Map<string, Promise<ReadResult>>();

  /** The file's text, or `cannot read PATH: reason`. */
  read(path: string): Promise<ReadResult> {
    let result = this.#cache.get(path);
    if (result === undefined) {
      result = readFile(path, "utf8").then(
        (text): ReadResult => ({ text }),
        (error): ReadResult => ({ error: `cannot read ${path}: ${describeFsError(error)}` }),
      );
      this.#cache.set(path, result);
    }
    return result;
  }

  /**
   * The text of every regular file in a folder (following symbolic links, as OpenSSL's hashed
   * names are), sorted by name; one error for the folder, or one per unreadable file.
   */
  async readFolder(path: string): Promise<{ texts: string[]; errors: string[] }> {
    let names: string[];
    try {
      names = (await readdir(path)).sort();
    } catch (error) {
      return { texts: [], errors: [`cannot read folder ${path}: ${describeFsError(error)}`] };
    }
    const texts: string[] = [];
    const errors: string[] = [];
    for (const name of names) {
      const file = join(path, name);
      try {
        if (!(await stat(file)).isFile()) continue;
      } catch {
        // A dangling link in a certificate folder is common and harmless.
        continue;
      }
      const result = await this.read(file);
      if (result.error !== undefined) errors.push(result.error);
      else texts.push(result.text);
    }
    return { texts, errors };
  }
}

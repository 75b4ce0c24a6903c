/**
 * "Did you mean" suggestions for misspelt keys and plugin names.
 *
 * @module
 */

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps cost 1. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => {
    const row = new Array<number>(cols).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j < cols; j++) d[0][j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[rows - 1][cols - 1];
}

// Case and `_`/`-`/`.` are the commonest slips (`max_connections`, `sys-interval`, `auth.file`),
// so they are forgiven before distances are counted.
function fold(word: string): string {
  return word.toLowerCase().replace(/[-_.]/g, "-");
}

/**
 * The candidate closest to `word`, or undefined when none is close enough to be a likely typo
 * (one edit for words of up to 3 letters, else 2, or a third of the word for long ones).
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const folded = fold(word);
  const same = candidates.find((c) => fold(c) === folded);
  if (same !== undefined) return same;
  const limit = folded.length <= 3 ? 1 : Math.max(2, Math.floor(folded.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(folded, fold(candidate));
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

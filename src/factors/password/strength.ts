/**
 * An optional strength estimate: roughly how many guesses an attacker who knows the common
 * passwords, repeats and keyboard-free sequences would need, in the spirit of zxcvbn (Wheeler,
 * USENIX Security 2016) but much smaller. The password is split into the cheapest sequence of
 * pieces (a listed common password, a run of one character, an ascending or descending run, or
 * single characters guessed by brute force) and the guesses of the pieces are multiplied.
 *
 * It is a hint for a strength meter, not a rule: NIST SP 800-63B-4 asks for length and a
 * blocklist, which `checkNewPassword` enforces; apps that want a floor pass `minStrength`.
 *
 * @module latchkey/password
 */
import { commonRank, fold } from './blocklist.js';
import { normalisedText } from './normalise.js';

/** What {@link estimateStrength} returns. */
export interface PasswordStrength {
  /** log10 of the estimated number of guesses. */
  readonly guessesLog10: number;
  /** 0 (guessed at once) to 4 (beyond 10^10 guesses), zxcvbn's scale. */
  readonly score: 0 | 1 | 2 | 3 | 4;
  /**
   * The pieces the estimate found, in order, for feedback: their kind (`common`, `repeat`,
   * `sequence`, `brute-force`) and length in characters. No password text, so it may be logged.
   */
  readonly pieces: readonly { readonly kind: string; readonly length: number }[];
}

const MAX_WORD = 32;
// a small cost per piece: an attacker must also guess how the pieces are put together
const PIECE_PENALTY = Math.log10(2);

function bruteForce(char: string): number {
  if (/[0-9]/.test(char)) return 10;
  if (/[a-z]/.test(char)) return 26;
  if (/[A-Z]/.test(char)) return 26;
  if (/[\x20-\x7e]/.test(char)) return 33;
  return 100;
}

/**
 * Estimate how hard a password is to guess.
 *
 * @example
 * ```ts
 * import { estimateStrength } from 'latchkey/password';
 * estimateStrength('password123').score; // 0
 * estimateStrength('correct horse battery staple').score; // 4
 * ```
 */
export function estimateStrength(password: string): PasswordStrength {
  const chars = [...normalisedText(password)];
  const folded = chars.map((char) => fold(char));
  const n = chars.length;
  // best[i]: the cheapest estimate (log10 guesses) of the first i characters
  const best = new Array<number>(n + 1).fill(Number.POSITIVE_INFINITY);
  const step = new Array<{ from: number; kind: string }>(n + 1);
  best[0] = 0;
  const offer = (from: number, to: number, log10: number, kind: string): void => {
    const cost = (best[from] as number) + log10 + PIECE_PENALTY;
    if (cost < (best[to] as number)) {
      best[to] = cost;
      step[to] = { from, kind };
    }
  };
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(best[i] as number)) continue;
    offer(i, i + 1, Math.log10(bruteForce(chars[i] as string)), 'brute-force');
    let word = '';
    for (let j = i; j < Math.min(n, i + MAX_WORD); j++) {
      word += folded[j];
      if (j - i + 1 < 4) continue;
      const rank = commonRank(word);
      if (rank === undefined) continue;
      const piece = chars.slice(i, j + 1).join('');
      // capitals not at the start cost the attacker a little more
      const capitals = piece !== piece.toLowerCase() && piece.slice(1) !== piece.slice(1).toLowerCase() ? 1 : 0;
      offer(i, j + 1, Math.log10(rank) + capitals, 'common');
    }
    let run = i + 1;
    while (run < n && chars[run] === chars[i]) run++;
    for (let end = i + 3; end <= run; end++) {
      offer(i, end, Math.log10(bruteForce(chars[i] as string) * (end - i)), 'repeat');
    }
    const code = (k: number): number => (folded[k] as string).codePointAt(0) ?? 0;
    if (i + 1 < n) {
      const delta = code(i + 1) - code(i);
      if (delta === 1 || delta === -1) {
        let end = i + 2;
        while (end < n && code(end) - code(end - 1) === delta) end++;
        for (let to = i + 3; to <= end; to++) offer(i, to, Math.log10(26 * 2 * (to - i)), 'sequence');
      }
    }
  }
  const pieces: { kind: string; length: number }[] = [];
  for (let at = n; at > 0; ) {
    const s = step[at] as { from: number; kind: string };
    pieces.unshift({ kind: s.kind, length: at - s.from });
    at = s.from;
  }
  // merge runs of brute-forced characters into one piece for readable feedback
  const merged: { kind: string; length: number }[] = [];
  for (const piece of pieces) {
    const last = merged.at(-1);
    if (last !== undefined && last.kind === 'brute-force' && piece.kind === 'brute-force') last.length += piece.length;
    else merged.push({ ...piece });
  }
  const guessesLog10 = Math.round((best[n] as number) * 100) / 100;
  const score = guessesLog10 < 3 ? 0 : guessesLog10 < 6 ? 1 : guessesLog10 < 8 ? 2 : guessesLog10 < 10 ? 3 : 4;
  return Object.freeze({ guessesLog10, score, pieces: Object.freeze(merged.map((p) => Object.freeze(p))) });
}

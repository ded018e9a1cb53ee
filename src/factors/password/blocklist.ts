/**
 * The shipped list of common and breached passwords, as a lookup from a folded password (NFKC,
 * lower case) to its rank (1 = most common). Built on first use, not at import.
 *
 * @module latchkey/password
 */
import { COMMON_PASSWORDS } from './common-passwords.js';

let ranks: Map<string, number> | undefined;

/** The rank of a folded password in the shipped list, or undefined when it is not listed. */
export function commonRank(folded: string): number | undefined {
  if (ranks === undefined) {
    ranks = new Map();
    let rank = 0;
    for (const entry of COMMON_PASSWORDS.split('\n')) ranks.set(entry, ++rank);
  }
  return ranks.get(folded);
}

/** Fold a password for comparison with lists: NFKC, then lower case. */
export function fold(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

export {
  base64,
  base64url,
  concatBytes,
  equalBytes,
  fromBase64,
  fromBase64Any,
  fromBase64url,
  fromHex,
  fromUtf8,
  hex,
  toBytes,
  utf8,
  wipe,
} from './bytes.js';
export { type Clock, systemClock } from './clock.js';
export {
  ERROR_CODES,
  isLatchkeyError,
  LatchkeyError,
  type LatchkeyErrorCode,
  type LatchkeyErrorDetail,
  wrapError,
} from './errors.js';
export { abytes, aint, aoneOf, astring } from './guards.js';
export { DEFAULT_LIMITS, type Limits, resolveLimits } from './limits.js';
export { randomBytes, randomId, randomIntBetween } from './random.js';
export {
  type Aal,
  AMR_VALUES,
  type Amr,
  type Evidence,
  type FactorKind,
  type FactorName,
  type Subject,
} from './types.js';

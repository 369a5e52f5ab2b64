/**
 * What a string given to Switchboard may hold. One definition for every way in (the API's input gate,
 * the CLI, core's own checks), so every path refuses the same characters with the same words.
 *
 * - `line`: one line of text — ids, filters, names, URLs. No control character (C0, DEL, C1), no
 *   line or paragraph separator (U+2028, U+2029), no lone UTF-16 surrogate (no store can hold one:
 *   it would be saved as U+FFFD, a different string), and never U+0000 (PostgreSQL cannot store it).
 * - `text`: free text kept in the audit trail (a disconnect's `reason`): as `line`, but tab and
 *   newline are allowed — it is only ever shown inside JSON or a text field, never as a raw line.
 * - `name`: a name shown to people (token names, webhook descriptions): as `line`, and no bidi
 *   control either (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), which would make one name read
 *   as another in `switchboard token list` or the console; for the same reason no invisible
 *   character (soft hyphen U+00AD, U+180E, zero-width space U+200B, U+2060–U+2064, U+FEFF): `ad\u200Bmin`
 *   with one inside reads as `admin`. Zero-width (non-)joiners stay: scripts and emoji need them.
 * - `reported`: a name a gateway reports (a user name): whatever every store keeps as it is (no
 *   U+0000, no lone surrogate; see `storable`), control and bidi characters included. The record
 *   holds the daemon's name exactly, and the API must be able to name every name the record may
 *   hold: a block on `eve\u001b[31m` that the API refused to name could not be lifted. Such names
 *   are only compared, never run or written as a raw line; the console shows them marked.
 */
export type TextKind = 'line' | 'text' | 'name' | 'reported';

/** Characters a `name` refuses on top of a `line`'s: the Unicode bidi controls. */
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;
/** And invisible characters that are not joiners. */
const INVISIBLE = /[\u00AD\u180E\u200B\u2060-\u2064\uFEFF]/;
/** Either: what a `name` refuses on top of a `line`'s. */
const HIDDEN = new RegExp(`${BIDI.source}|${INVISIBLE.source}`);
/** C0, DEL, C1, the line/paragraph separators and lone surrogates. */
/* eslint-disable no-control-regex -- finding control characters is the point */
const LINE =
  /[\u0000-\u001F\u007F-\u009F\u2028\u2029]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/* eslint-enable no-control-regex */
/** As LINE, without tab and newline. */
/* eslint-disable no-control-regex -- finding control characters is the point */
const TEXT =
  /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u2028\u2029]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/* eslint-enable no-control-regex */

/** A refused character: what it is (for the message) and where (a UTF-16 index). */
export interface RefusedCharacter {
  index: number;
  /** `U+0000`, `U+202E`… */
  codePoint: string;
  what: 'control character' | 'line separator' | 'lone surrogate' | 'bidi control' | 'invisible character';
}

function describe(text: string, index: number, bidi: boolean): RefusedCharacter {
  const unit = text.charCodeAt(index);
  const codePoint = `U+${unit.toString(16).toUpperCase().padStart(4, '0')}`;
  if (bidi) return { index, codePoint, what: INVISIBLE.test(text[index]!) ? 'invisible character' : 'bidi control' };
  if (unit >= 0xd800 && unit <= 0xdfff) return { index, codePoint, what: 'lone surrogate' };
  if (unit === 0x2028 || unit === 0x2029) return { index, codePoint, what: 'line separator' };
  return { index, codePoint, what: 'control character' };
}

/** The first character `text` may not hold as a `kind`, or null when it is fine. */
export function refusedCharacter(text: string, kind: TextKind): RefusedCharacter | null {
  if (kind === 'reported') {
    const unstorable = storable(text) ? null : UNSTORABLE.exec(text);
    return unstorable ? describe(text, unstorable.index, false) : null;
  }
  const bad = (kind === 'text' ? TEXT : LINE).exec(text);
  const bidi = kind === 'name' ? (HIDDEN.exec(text) ?? null) : null;
  if (bad && (!bidi || bad.index <= bidi.index)) return describe(text, bad.index, false);
  if (bidi) return describe(text, bidi.index, true);
  return null;
}

/** The words of a refusal, e.g. `must not contain a control character (U+0000 at character 6)`. */
export function refusalText(refused: RefusedCharacter): string {
  return `must not contain a ${refused.what} (${refused.codePoint} at character ${refused.index + 1})`;
}

/**
 * U+0000 (PostgreSQL cannot store it in text or jsonb) and lone UTF-16 surrogates (SQLite keeps their
 * bytes as they are and gives back three U+FFFD, PostgreSQL's driver writes one U+FFFD): text that
 * no store keeps as it is, or that the two stores keep differently.
 */
/* eslint-disable no-control-regex -- finding U+0000 is the point */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/* eslint-enable no-control-regex */

/** U+0000 or any surrogate: the one-class scan that clears almost every text at once. */
/* eslint-disable no-control-regex -- finding U+0000 is the point */
const SUSPECT = /[\u0000\uD800-\uDFFF]/;
/* eslint-enable no-control-regex */

/**
 * Whether every store keeps `text` exactly as it is (see UNSTORABLE). Runs on every string of every
 * agent report: a scan for one character class first, the lookarounds only where it finds one.
 */
export function storable(text: string): boolean {
  return !SUSPECT.test(text) || !UNSTORABLE.test(text);
}

/** `text` with what no store keeps as it is (U+0000, lone surrogates) replaced by U+FFFD. */
export function madeStorable(text: string): string {
  return storable(text) ? text : text.replace(new RegExp(UNSTORABLE.source, 'g'), '\uFFFD');
}

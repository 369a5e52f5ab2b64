/**
 * Names that come from daemons and other people (user names above all: a certificate's common name,
 * a login an ocserv or IKEv2 client typed) shown as what they hold. A bidi control, an invisible
 * character or a control character would otherwise make one name read as another: `\u202Enimda` and
 * `ad\u200Bmin` both read as "admin" next to the real admin, and an operator would end the wrong
 * user's session. Each such character is shown as its code point, marked (`[U+202E]nimda`); the name
 * is isolated from the text around it (`<bdi>`), and a long one wraps instead of pushing the table's
 * other columns out of view. Only what is shown changes: filters, links and disconnects use the name
 * exactly as the API gave it.
 */

/* eslint-disable no-control-regex -- finding control characters is the point */
/**
 * C0 and C1 controls, DEL, soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width
 * space, the bidi marks, line and paragraph separators, bidi embeddings and overrides (U+202A–U+202E),
 * word joiner and invisible operators (U+2060–U+2064), bidi isolates (U+2066–U+2069), BOM.
 */
const HIDDEN =
  /([\u0000-\u001F\u007F-\u009F\u00AD\u061C\u180E\u200B\u200E\u200F\u2028-\u202E\u2060-\u2064\u2066-\u2069\uFEFF])/;
/* eslint-enable no-control-regex */

const codePoint = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** `text` with every hidden character written as `[U+XXXX]`: for labels, titles and other plain text. */
export function shownText(text: string): string {
  return text.replace(new RegExp(HIDDEN.source, 'g'), (c) => `[${codePoint(c)}]`);
}

/** `text` isolated, wrapping, each hidden character shown as a marked `[U+XXXX]`. */
export function Shown({ text }: { text: string }) {
  const parts = text.split(HIDDEN);
  return (
    <bdi className="shown">
      {parts.map((part, i) =>
        i % 2 === 0 ? (
          part
        ) : (
          <span key={i} className="hidden-char">
            [{codePoint(part)}]
          </span>
        ),
      )}
    </bdi>
  );
}

/**
 * The longest values Switchboard accepts, in characters (UTF-16 code units, as JavaScript and
 * GraphQL count them). A filter is capped like the values it matches: a longer one could match
 * nothing, and would only cost a query and an audit row.
 */

/** Every id: sessions (`sess_` + 12), tokens, webhooks, audit events, gateway slugs (63 at most). */
export const MAX_ID_CHARS = 64;
/**
 * A VPN user's name: the longest a gateway may report (agent reports, a WireGuard peer's `user` in the
 * gateway file) and so the longest the API takes as a filter, a block's user or an audit target. One
 * number for both: a name a gateway may report but the API refused could not be filtered, looked up
 * in History, or have its block lifted. Certificate common names are at most 64 characters (OpenVPN's
 * TLS_USERNAME_LEN); IKEv2 identities (a whole DN) and WireGuard peer names can be longer.
 */
export const MAX_USER_NAME_CHARS = 512;
/** A client's version or platform text as a gateway reports it (what the client said of itself). */
export const MAX_CLIENT_TEXT_CHARS = 256;
/** A token's name (shown by `switchboard token list` and the console). */
export const MAX_TOKEN_NAME_CHARS = 100;
/** A webhook's URL, as given and once normalised (percent-encoding can make it longer). */
export const MAX_WEBHOOK_URL_CHARS = 2000;
/** A webhook's description. */
export const MAX_WEBHOOK_DESCRIPTION_CHARS = 500;
/** Short codes and words: an audit action, a protocol, a scope, a lifetime such as `30d`. */
export const MAX_CODE_CHARS = 64;
/** A client IP as a filter (the longest IPv6 text with a zone is well below this). */
export const MAX_IP_CHARS = 64;
/** A request id (x-request-id): longer ones are replaced, so a filter this long matches nothing stored. */
export const MAX_REQUEST_ID_CHARS = 128;
/** An opaque page cursor (core/cursor.ts refuses longer ones with BAD_CURSOR). */
export const MAX_CURSOR_CHARS = 200;

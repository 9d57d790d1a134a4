/**
 * Text from outside trunks (a server's error answer, a library's message) made fit for an
 * error message: credentials masked. A server or a proxy in front of it may echo the
 * request it refused, headers and body included, so every backend that quotes such text
 * passes it through here with the credentials it sent (the one rule, kept in one place).
 */

/**
 * Shorter values are not masked: replacing every "ab" would mangle the message, and no
 * real credential is that short.
 */
const MIN_SECRET = 4;

/**
 * Credentials whatever their value, as an echoed request shows them: a bearer token
 * (Authorization), a session token (S3's header or query parameter).
 */
const BEARER = /\b(Bearer|x-amz-security-token)(\s*[:=]\s*|\s+)[A-Za-z0-9._~+/=%-]+/gi;

/** `text` with each secret (as given and URL-encoded) and any bearer or session token as `***`. */
export function scrubSecrets(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  // Longest first: a secret containing another is masked whole.
  const all = [...new Set([...secrets].filter((s): s is string => !!s && s.length >= MIN_SECRET))]
    .flatMap((s) => [s, encodeURIComponent(s)])
    .sort((a, b) => b.length - a.length);
  for (const s of all) out = out.split(s).join("***");
  return out.replace(BEARER, "$1$2***");
}

/**
 * Server text for one line of a message: whitespace collapsed, secrets masked, then cut
 * to `max` characters (masked before cutting, or a secret cut in half would show its
 * start).
 */
export function serverText(
  text: string,
  secrets: Iterable<string | undefined>,
  max = 200,
): string {
  // Masked before and after collapsing: a secret may hold a run of spaces or a newline.
  const list = [...secrets];
  const out = scrubSecrets(scrubSecrets(text, list).replace(/\s+/g, " ").trim(), list);
  return out.length > max ? `${out.slice(0, max - 3)}...` : out;
}

/**
 * Mask secrets in `e` and the errors it was caused by, in place: trunks keeps a library's
 * error as the `cause` of its own, and whoever prints that (console.error, an uncaught
 * error, a library user's log) prints the cause's message too.
 */
export function scrubCauses(e: unknown, secrets: Iterable<string | undefined>): void {
  const list = [...secrets];
  let x = e;
  for (let depth = 0; x instanceof Error && depth < 8; depth++, x = x.cause) {
    try {
      x.message = scrubSecrets(x.message, list);
      if (typeof x.stack === "string") x.stack = scrubSecrets(x.stack, list);
    } catch {
      // a frozen error: nothing to do but leave it
    }
  }
}

/**
 * `scheme://user:` and everything up to the last `@` of the word: the password of a URL
 * that does not parse, which may hold an unescaped `/`, `?` or `#` (a generated one often
 * does), so a URL parser's idea of where it ends is no guide.
 */
const LOOSE_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s"'/?#:@]*):[^\s"']*@/gi;

/** Text that may hold a URL that did not parse, its password (if any) as `***`. */
export function maskUrlPasswords(text: string): string {
  return text.replace(LOOSE_USERINFO, "$1:***@");
}

/**
 * The light S3 client's reading of S3's XML answers: a ListObjectsV2 page, and an error's
 * Code and Message. A page is read with `indexOf` and no regular expression (an up-to-date
 * fetch waits on it: four regular expressions per key cost 6 ms for a page of 330 keys in a
 * fresh process), and strictly: what the store answers is untrusted, so an answer that is
 * not a page (no root element, an unclosed element, a field holding markup, a bad entity,
 * a size that is not a whole number, a time that is not one) fails naming what is wrong
 * rather than listing less.
 */

export interface ListedObject {
  Key: string;
  Size?: number;
  LastModified?: Date;
  ETag?: string;
}

export interface ListPage {
  Contents: ListedObject[];
  IsTruncated: boolean;
  NextContinuationToken?: string;
}

/** A ListObjectsV2 answer that is not one. */
export class MalformedAnswer extends Error {
  override name = "MalformedAnswer";
  constructor(what: string) {
    super(`malformed ListObjectsV2 answer: ${what}`);
  }
}

const ROOT_OPEN = "<ListBucketResult";
const ROOT_CLOSE = "</ListBucketResult>";
const OPEN = "<Contents>";
const CLOSE = "</Contents>";

/** One page of a ListObjectsV2 answer, read whole; a malformed one throws MalformedAnswer. */
export function parseListPage(xml: string): ListPage {
  const root = skipProlog(xml);
  const c = xml.charCodeAt(root + ROOT_OPEN.length);
  if (
    !xml.startsWith(ROOT_OPEN, root) ||
    (c !== 62 && c !== 32 && c !== 9 && c !== 10 && c !== 13)
  ) {
    throw new MalformedAnswer("no <ListBucketResult> element");
  }
  const end = xml.lastIndexOf(ROOT_CLOSE);
  if (end < 0 || xml.slice(end + ROOT_CLOSE.length).trim() !== "") {
    throw new MalformedAnswer("unclosed <ListBucketResult>");
  }
  const rootTagEnd = xml.indexOf(">", root);
  const contents: ListedObject[] = [];
  // The page's own fields, read from the text between its entries (S3 puts them first).
  const own: Own = {};
  let at = rootTagEnd + 1;
  for (;;) {
    let open = xml.indexOf(OPEN, at);
    if (open < 0 || open > end) open = end;
    if (open > at) readOwn(xml, at, open, own);
    if (open === end) break;
    const start = open + OPEN.length;
    const close = xml.indexOf(CLOSE, start);
    if (close < 0 || close > end) throw new MalformedAnswer("unclosed <Contents>");
    contents.push(readObject(xml, start, close));
    at = close + CLOSE.length;
  }
  const truncated = own.IsTruncated;
  if (truncated !== undefined && truncated !== "true" && truncated !== "false") {
    throw new MalformedAnswer(`IsTruncated '${truncated.slice(0, 40)}' is neither true nor false`);
  }
  return {
    Contents: contents,
    IsTruncated: truncated === "true",
    ...(own.NextContinuationToken !== undefined
      ? { NextContinuationToken: own.NextContinuationToken }
      : {}),
  };
}

interface Own {
  IsTruncated?: string;
  NextContinuationToken?: string;
}

function readOwn(xml: string, from: number, to: number, own: Own): void {
  for (const tag of OWN) {
    const v = field(xml, from, to, tag);
    if (v === undefined) continue;
    const name = tag.name as keyof Own;
    if (own[name] !== undefined) throw new MalformedAnswer(`two <${name}>`);
    own[name] = v;
  }
}

function readObject(xml: string, start: number, close: number): ListedObject {
  const key = field(xml, start, close, KEY);
  if (key === undefined) throw new MalformedAnswer("a <Contents> without a <Key>");
  const out: ListedObject = { Key: key };
  const size = field(xml, start, close, SIZE);
  if (size !== undefined) {
    if (!isWhole(size)) {
      throw new MalformedAnswer(`Size '${size.slice(0, 40)}' of ${key} is not a whole number`);
    }
    out.Size = Number(size);
  }
  const modified = field(xml, start, close, MODIFIED);
  if (modified !== undefined) {
    const t = new Date(modified);
    if (Number.isNaN(t.getTime())) {
      throw new MalformedAnswer(`LastModified '${modified.slice(0, 40)}' of ${key} is not a time`);
    }
    out.LastModified = t;
  }
  const etag = field(xml, start, close, ETAG);
  if (etag !== undefined) out.ETag = etag;
  return out;
}

/** A field's opening and closing tags, made once (a fresh process reads 330 keys a page). */
class Tag {
  readonly open: string;
  readonly close: string;
  constructor(readonly name: string) {
    this.open = `<${name}>`;
    this.close = `</${name}>`;
  }
}

const KEY = new Tag("Key");
const SIZE = new Tag("Size");
const MODIFIED = new Tag("LastModified");
const ETAG = new Tag("ETag");
const OWN = [new Tag("IsTruncated"), new Tag("NextContinuationToken")] as const;

/**
 * The decoded text of the one `tag` element in xml[from, to), or undefined when there is
 * none; a second one, an unclosed one or one holding markup is not an answer.
 */
function field(xml: string, from: number, to: number, tag: Tag): string | undefined {
  const open = xml.indexOf(tag.open, from);
  if (open < 0 || open >= to) return undefined;
  const start = open + tag.open.length;
  const close = xml.indexOf("<", start);
  if (close < 0 || close >= to || !xml.startsWith(tag.close, close)) {
    throw new MalformedAnswer(`<${tag.name}> is not closed before its next tag`);
  }
  const again = xml.indexOf(tag.open, close);
  if (again >= 0 && again < to) throw new MalformedAnswer(`two <${tag.name}> in one element`);
  return unescapeXml(xml.slice(start, close));
}

function isWhole(s: string): boolean {
  if (s.length === 0 || s.length > 15) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The text of the first `<name>` element anywhere in `xml`, decoded (an error's Code). */
export function firstText(xml: string, name: string): string | undefined {
  const open = xml.indexOf(`<${name}>`);
  if (open < 0) return undefined;
  const start = open + name.length + 2;
  const close = xml.indexOf(`</${name}>`, start);
  if (close < 0) return undefined;
  try {
    return unescapeXml(xml.slice(start, close));
  } catch {
    return undefined;
  }
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML text with its five named entities and numeric references decoded; others throw. */
export function unescapeXml(s: string): string {
  let amp = s.indexOf("&");
  if (amp < 0) return s;
  let out = "";
  let from = 0;
  while (amp >= 0) {
    const semi = s.indexOf(";", amp);
    if (semi < 0) throw new MalformedAnswer(`a bare '&' in '${s.slice(0, 60)}'`);
    const ref = s.slice(amp + 1, semi);
    let ch: string | undefined;
    if (ref.charCodeAt(0) === 35) {
      const n = codePoint(ref);
      // Any character a UTF-8 key can hold but NUL: S3 escapes the control characters XML
      // 1.0 cannot carry (`&#x1;`) rather than leave them out, and a key holding one (a
      // stray object under the prefix) must not make the whole listing unreadable.
      const valid = n >= 1 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff);
      if (valid) ch = String.fromCodePoint(n);
    } else ch = NAMED[ref];
    if (ch === undefined) throw new MalformedAnswer(`a bad reference '&${ref.slice(0, 20)};'`);
    out += s.slice(from, amp) + ch;
    from = semi + 1;
    amp = s.indexOf("&", from);
  }
  return out + s.slice(from);
}

/** The number a `#nnn` or `#xhh` reference names, or -1 when it is not one. */
function codePoint(ref: string): number {
  const hex = ref.charCodeAt(1) === 120;
  const from = hex ? 2 : 1;
  if (ref.length === from || ref.length - from > 7) return -1;
  let n = 0;
  for (let i = from; i < ref.length; i++) {
    const c = ref.charCodeAt(i);
    const d = c >= 48 && c <= 57
      ? c - 48
      : hex && c >= 97 && c <= 102
      ? c - 87
      : hex && c >= 65 && c <= 70
      ? c - 55
      : -1;
    if (d < 0) return -1;
    n = n * (hex ? 16 : 10) + d;
  }
  return n;
}

function skipProlog(xml: string): number {
  let at = skipSpace(xml, xml.charCodeAt(0) === 0xfeff ? 1 : 0);
  if (xml.startsWith("<?xml", at)) {
    const end = xml.indexOf("?>", at);
    if (end < 0) throw new MalformedAnswer("an unclosed XML declaration");
    at = skipSpace(xml, end + 2);
  }
  return at;
}

function skipSpace(xml: string, at: number): number {
  for (;;) {
    const c = xml.charCodeAt(at);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return at;
    at++;
  }
}

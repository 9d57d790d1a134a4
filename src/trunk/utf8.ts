/**
 * The UTF-8 length of a string as TextEncoder writes it, without encoding it: sizes are
 * taken of tens of thousands of ref entries at a time (a listing's sizes to vouch for
 * cached copies, a snapshot's buffer), and each encoding is a throwaway buffer.
 */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c < 0xd800 || c >= 0xdc00 || (s.charCodeAt(i + 1) & 0xfc00) !== 0xdc00) {
      n += 2; // 3 bytes; a lone surrogate becomes U+FFFD, 3 bytes too
    } else {
      n += 2; // a surrogate pair: 2 code units, 4 bytes
      i++;
    }
  }
  return n;
}

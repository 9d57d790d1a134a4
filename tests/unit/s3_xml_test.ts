/**
 * The light S3 client's reading of a ListObjectsV2 page (s3_xml.ts): keys decode exactly,
 * the page's own fields are read wherever S3 puts them, and an answer that is not a page
 * fails naming why instead of listing less (what the store answers is untrusted).
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { MalformedAnswer, parseListPage } from "../../src/storage/s3_xml.ts";

const HEAD = `<?xml version="1.0" encoding="UTF-8"?>\n` +
  `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`;
const entry = (key: string, more = "") =>
  `<Contents><Key>${key}</Key><LastModified>2026-12-02T03:00:00.000Z</LastModified>` +
  `<ETag>&#34;e1&#34;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass>${more}</Contents>`;
const page = (body: string) =>
  `${HEAD}<Name>bk</Name><Prefix>p/</Prefix>${body}</ListBucketResult>`;

Deno.test("s3 listing: keys with escapes decode exactly; sizes, times, tags and the page's fields", () => {
  const got = parseListPage(page(
    `<KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>` +
      `<NextContinuationToken>t&amp;k+/=</NextContinuationToken>` +
      entry("p/a&amp;b&lt;c&gt;d&quot;e&apos;f") +
      entry("p/&#38;&#x26;&#xe9;&#233;&#x1F600;&#128512;&#x1;&#31;", "<Owner><ID>o</ID></Owner>") +
      `<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>` +
      `<Contents><Key>p/plain</Key></Contents>`,
  ));
  assertEquals(got.IsTruncated, true);
  assertEquals(got.NextContinuationToken, "t&k+/=");
  assertEquals(got.Contents.map((c) => c.Key), [
    `p/a&b<c>d"e'f`,
    // S3 escapes the control characters XML 1.0 cannot carry: still the key's own.
    "p/&&éé\u{1F600}\u{1F600}\u0001\u001f",
    "p/plain",
  ]);
  assertEquals(got.Contents[0].Size, 12);
  assertEquals(got.Contents[0].ETag, '"e1"');
  assertEquals(got.Contents[0].LastModified?.toISOString(), "2026-12-02T03:00:00.000Z");
  // Fields a server leaves out stay unset (the store reads them as 0 and the epoch).
  assertEquals(got.Contents[2], { Key: "p/plain" });
});

Deno.test("s3 listing: whitespace between elements, fields after the entries, an empty page", () => {
  const got = parseListPage(
    `\uFEFF${HEAD}\n  <Name>bk</Name>\n  ${entry("p/1")}\n  ${entry("p/2")}\n` +
      `  <IsTruncated>false</IsTruncated>\n</ListBucketResult>\n`,
  );
  assertEquals(got.Contents.map((c) => c.Key), ["p/1", "p/2"]);
  assertEquals(got.IsTruncated, false);
  assertEquals(got.NextContinuationToken, undefined);
  assertEquals(parseListPage("<ListBucketResult></ListBucketResult>"), {
    Contents: [],
    IsTruncated: false,
  });
});

Deno.test("s3 listing: an answer that is not a page fails naming why", () => {
  const whole = page(`<IsTruncated>false</IsTruncated>${entry("p/1")}${entry("p/2")}`);
  const cases: [string, string][] = [
    ["<html><body>Service Unavailable</body></html>", "no <ListBucketResult>"],
    ["", "no <ListBucketResult>"],
    [`${HEAD}<Name>bk</Name>`, "unclosed <ListBucketResult>"],
    // A body cut short (a proxy's, a server's) must not read as a shorter listing.
    [whole.slice(0, whole.indexOf("p/2") + 3), "unclosed <ListBucketResult>"],
    [
      whole.slice(0, whole.lastIndexOf("</Contents>")) + "</ListBucketResult>",
      "unclosed <Contents>",
    ],
    [`${whole}<Contents>`, "unclosed <ListBucketResult>"],
    [page(`<Contents><Size>1</Size></Contents>`), "without a <Key>"],
    [page(`<Contents><Key>p/1</Key><Key>p/2</Key></Contents>`), "two <Key>"],
    [page(`<Contents><Key>p/<b>1</b></Key></Contents>`), "<Key> is not closed"],
    [page(`<Contents><Key>p/1</Contents>`), "<Key> is not closed"],
    [page(entry("p/1").replace("<Size>12<", "<Size>12.5<")), "Size '12.5' of p/1 is not a whole"],
    [page(entry("p/1").replace("<Size>12<", "<Size>-1<")), "is not a whole number"],
    [page(entry("p/1").replace("<Size>12<", "<Size><")), "is not a whole number"],
    [page(entry("p/1").replace("2026-12-02T03:00:00.000Z", "soon")), "LastModified 'soon'"],
    [page(entry("p/a&nbsp;b")), "bad reference '&nbsp;'"],
    [page(entry("p/a&b")), "bare '&'"],
    [page(entry("p/a&#0;")), "bad reference"],
    [page(entry("p/a&#xD800;")), "bad reference"],
    [page(entry("p/a&#x110000;")), "bad reference"],
    [page(entry("p/a&#x;")), "bad reference"],
    [page(entry("p/a&#12a;")), "bad reference"],
    [page(`<IsTruncated>yes</IsTruncated>`), "IsTruncated 'yes'"],
    [
      page(`<IsTruncated>true</IsTruncated>${entry("p/1")}<IsTruncated>false</IsTruncated>`),
      "two <IsTruncated>",
    ],
    [page(entry("p/a&#X26;")), "bad reference"],
    [`${whole}<more/>`, "unclosed <ListBucketResult>"],
    [whole.replace("<ListBucketResult", "<ListBucketResults"), "no <ListBucketResult>"],
  ];
  for (const [xml, why] of cases) {
    let thrown: unknown;
    try {
      parseListPage(xml);
    } catch (e) {
      thrown = e;
    }
    assert(thrown instanceof MalformedAnswer, `not refused: ${xml}`);
    assertStringIncludes(thrown.message, why, xml);
  }
});
